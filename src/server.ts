// Entry point: read the configuration, start the service, take back what the last process of this instance left
// (recover), and on SIGTERM/SIGINT drain: no new calls, the live ones go on until they end or the deadline passes.
// With WORKERS above 1 this process only starts and watches the workers (src/cluster.ts), each of which runs this.
import closeWithGrace from 'close-with-grace';
import { buildService } from './app.js';
import { isPrimary, runPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';

/** Time for closing sockets and the store after the drain, before close-with-grace gives up and exits 1. */
const CLOSE_MS = 5000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`takeover cannot start.\n${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  if (config.lifecycle.workers > 1 && isPrimary()) process.exit(await runPrimary(config, CLOSE_MS));
  const service = await buildService(config);
  const { log } = service.app;
  const address = await service.app.listen({ port: config.port, host: config.host });
  log.info(
    { address, publicUrl: config.publicUrl, classifier: config.classifier.kind, twilioApi: config.twilio.apiBaseUrl, instanceId: config.lifecycle.instanceId },
    `takeover listening; Media Streams at ${config.mediaStreamUrl}`,
  );
  closeWithGrace({ delay: config.lifecycle.drainMs + CLOSE_MS, logger: { error: (m: string) => log.error(m) } }, async ({ signal, err }) => {
    if (err) {
      // A crash is no time to wait for calls: stop now (the next start ends or resumes them).
      log.error({ err }, 'stopping after an error');
    } else {
      log.info({ signal, drainSeconds: config.lifecycle.drainMs / 1000 }, 'draining: live calls go on until they end or the deadline, new ones are turned away');
      const started = Date.now();
      await service.drain();
      log.info({ ms: Date.now() - started, left: [...service.monitor.sessions.values()].filter((s) => !s.endedAt && s.state !== 'paused').length }, 'drained');
    }
    await service.close();
  });
  try {
    const recovered = await service.recover();
    if (recovered.ended + recovered.pausesTakenOver > 0) log.info(recovered, 'calls left by the last process of this instance');
  } catch (err) {
    log.error({ err }, 'could not look for calls the last process of this instance left');
  }
}

main().catch((err) => {
  console.error('takeover failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

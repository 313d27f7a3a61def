// Entry point: read the configuration, start the service, stop cleanly on SIGINT/SIGTERM.
import { buildService } from './app.js';
import { ConfigError, loadConfig } from './config.js';

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
  const service = await buildService(config);
  const address = await service.app.listen({ port: config.port, host: config.host });
  service.app.log.info(
    { address, publicUrl: config.publicUrl, classifier: config.classifier.kind, twilioApi: config.twilio.apiBaseUrl },
    `takeover listening; Media Streams at ${config.mediaStreamUrl}`,
  );
  const stop = async (signal: string) => {
    service.app.log.info({ signal }, 'shutting down');
    await service.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error('takeover failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

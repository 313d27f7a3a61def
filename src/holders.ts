// Several instances, one call: the instance that holds a call's stream decides for it. Twilio's requests about a
// call (a transcription callback, the action of a finished <Pay>) and supervisors' actions that land on another
// instance are checked there and handed over the bus to the holder; this module is both ends of that hand-over.
import type { FastifyBaseLogger } from 'fastify';
import type { CaptureDone, SecureCaptureOptions } from './actions/secure-capture-route.js';
import type { Bus } from './bus/types.js';
import type { CallMonitor } from './calls/monitor.js';
import type { CallbackAnswer, TwilioTranscriptionOptions } from './transcription/twilio-callbacks.js';

/**
 * How long a Twilio callback for a call no instance holds yet waits for the call's stream to start somewhere (then
 * it is handled where it landed). Twilio starts a call's transcription with its stream: the first callbacks can come
 * before the stream's start reaches any instance. The instance that takes the stream announces the call on the bus,
 * and the callback is asked about again then.
 */
const HOLDER_WAIT_MS = 2000;

export class HolderForwarding {
  #callback: ((fields: unknown) => CallbackAnswer) | undefined;
  #capture: ((done: CaptureDone) => string) | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly monitor: CallMonitor,
    private readonly log: FastifyBaseLogger,
  ) {
    // The holder's end: runs what other instances hand over, for the calls held here.
    bus.serve((command) => {
      if (!monitor.session(command.callSid)) return undefined;
      if (command.op === 'transcription-callback') {
        const answer = this.#callback?.(command.fields);
        return answer && Promise.resolve({ result: 'handled by its holder', detail: String(answer.status), ...answer });
      }
      if (command.op === 'secure-capture-done') {
        const { op: _, ...done } = command;
        const twiml = this.#capture?.(done);
        return twiml === undefined ? undefined : Promise.resolve({ result: 'handled by its holder', detail: 'twiml', twiml });
      }
      if (command.op === 'let-go') return monitor.letGo(command.callSid, command.to);
      return monitor.command(command);
    });
  }

  /**
   * Notices instances that stopped sending heartbeats (killed, or cut off) within `ttlMs`: this instance claims
   * each dead one (only one instance does), ends the calls it left open and takes over its pauses. Returns the stop.
   */
  watchInstances(ttlMs: number): () => void {
    const claim = this.bus.claimDeadInstances?.bind(this.bus);
    if (!claim) return () => {};
    let running = false;
    const timer = setInterval(async () => {
      if (running || this.monitor.draining) return;
      running = true;
      try {
        for (const dead of await claim(ttlMs)) {
          const taken = await this.monitor.takeOverCallsOf(dead);
          this.log.warn({ instance: dead, ...taken }, `instance ${dead} stopped sending heartbeats: its open calls ended on record, its pauses taken over here`);
        }
      } catch (err) {
        this.log.error({ err }, 'could not take care of the calls of an instance that stopped');
      } finally {
        running = false;
      }
    }, Math.min(2000, ttlMs / 3));
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Announcements of the call on the bus (any instance that takes its stream publishes its state), for up to `ms`:
   * `next()` resolves true at the next one (or one already heard since the last), false once the time is up.
   */
  #announced(callSid: string, ms: number): { next: () => Promise<boolean>; stop: () => void } {
    let heard = false;
    let wake: ((v: boolean) => void) | undefined;
    const unsubscribe = this.bus.subscribe((e) => {
      if (e.type !== 'call' || e.callSid !== callSid) return;
      heard = true;
      wake?.(true);
    });
    let over = false;
    const timer = setTimeout(() => {
      over = true;
      wake?.(false);
    }, ms);
    timer.unref();
    return {
      next: () => {
        if (heard || over) {
          const was = heard;
          heard = false;
          return Promise.resolve(was);
        }
        return new Promise<boolean>((resolve) => {
          wake = (v) => {
            wake = undefined;
            heard = false;
            resolve(v);
          };
        });
      },
      stop: () => {
        clearTimeout(timer);
        unsubscribe();
      },
    };
  }

  /** The transcription callback route's share: hand over, and take what others hand over. */
  readonly transcription: Pick<TwilioTranscriptionOptions, 'toHolder' | 'fromOthers'> = {
    toHolder: async (callSid, fields) => {
      if (!this.bus.acrossInstances) return undefined;
      // Listening before the first ask: a stream that starts while it is asked is not missed.
      const started = this.#announced(callSid, HOLDER_WAIT_MS);
      try {
        for (;;) {
          const answer = await this.bus.request({ op: 'transcription-callback', callSid, fields });
          if (answer.kind === 'reply' && answer.reply.status !== undefined) return { status: answer.reply.status, body: answer.reply.body };
          if (answer.kind === 'unreachable') {
            this.log.warn({ callSid, detail: answer.detail }, 'could not ask the other instances about a transcription callback: handled here');
            return undefined;
          }
          // Until one holds the call (here or elsewhere), the callback waits, briefly.
          if (answer.kind === 'reply' || this.monitor.session(callSid)) return undefined;
          if (!(await started.next()) || this.monitor.session(callSid)) return undefined;
        }
      } finally {
        started.stop();
      }
    },
    fromOthers: (accept) => {
      this.#callback = accept;
    },
  };

  /** The secure capture route's share. Only what decides the answer crosses the bus, never a payment field. */
  readonly secureCapture: Pick<SecureCaptureOptions, 'toHolder' | 'fromOthers'> = {
    toHolder: async (done) => {
      if (!this.bus.acrossInstances) return undefined;
      const answer = await this.bus.request({ op: 'secure-capture-done', ...done });
      if (answer.kind === 'reply') return answer.reply.twiml;
      if (answer.kind === 'unreachable') this.log.warn({ callSid: done.callSid, detail: answer.detail }, 'could not ask the other instances about a finished secure capture: handled here');
      return undefined;
    },
    fromOthers: (accept) => {
      this.#capture = accept;
    },
  };
}

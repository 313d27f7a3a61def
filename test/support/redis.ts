// The tests that need Redis: where it is, whether it answers, and in CI a failure when it does not.
import { RedisBus } from '../../src/bus/redis.js';

export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const redisReachable = await RedisBus.connect({ url: redisUrl, channel: 'takeover:probe' }).then(
  (b) => (void b.close(), true),
  () => false,
);
if (!redisReachable && process.env.CI) throw new Error(`Redis is required in CI and not reachable at ${redisUrl}`);

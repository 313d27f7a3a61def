// Who is calling the supervisor API and what they may do: Bearer tokens checked against their stored hash,
// roles viewer < supervisor < admin, a limit on failed attempts per address, and an audit entry for every change.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store, TokenRole } from '../store/types.js';
import { hashSecret, hasRole } from './tokens.js';

export interface Caller {
  tokenId: string;
  name: string;
  role: TokenRole;
  /** The SHA-256 of the token's secret, to check the token again later (a long-lived stream does). */
  tokenHash: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The lowest role that may use the route; a route without one needs admin (fail closed). */
    role?: TokenRole;
    /** False for a POST that changes nothing (the dry run): no audit entry. */
    audit?: boolean;
  }
  interface FastifyRequest {
    caller?: Caller;
    /** What the route did, added to its audit entry (e.g. `{ change: 'created rule "x"', version: 4 }`). */
    auditDetail?: Record<string, unknown>;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Writing last-used on every request would make each read a write. */
const TOUCH_EVERY_MS = 60_000;

/** Failed authentications per address per minute when none is given (AUTH_FAILURES_PER_MINUTE's default). */
export const AUTH_FAILURES_PER_MINUTE = 10;

export interface AuthOptions {
  store: Store;
  /** Failed authentications per client address per minute; beyond it, that address's failing attempts get 429. */
  failuresPerMinute?: number;
  /** Counts failed authentications by answer (rejected: 401, throttled: 429). */
  onFailure?: (outcome: 'rejected' | 'throttled') => void;
  now?: () => number;
}

/**
 * Adds authentication, role checks and the audit of changes to every route of `app` (an encapsulated context).
 * The token is checked first: a valid token is always served, whatever its address did. Only failing attempts
 * count against the address (@fastify/rate-limit, per address, IPv6 by /64), and once it has failed too often its
 * failing attempts get 429 with Retry-After: supervisors behind one office proxy are not locked out by a guesser.
 */
export async function guard(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  // Addresses are kept in the plugin's LRU (5,000): a spray of addresses cannot grow memory without bound.
  await app.register(rateLimit, { global: false });
  const countFailure = app.createRateLimit({ max: opts.failuresPerMinute ?? AUTH_FAILURES_PER_MINUTE, timeWindow: 60_000 });

  app.addHook('onRequest', async (req, reply) => {
    const at = now();
    const header = req.headers.authorization;
    if (!header) {
      return deny(reply, 401, 'missing Authorization header: send "Authorization: Bearer <token>" (an admin creates tokens with npm run token -- create)');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const hash = match ? hashSecret(match[1]!) : undefined;
    const token = hash ? await opts.store.findTokenByHash(hash) : undefined;
    if (!token || token.revokedAt !== undefined) {
      const failures = await countFailure(req);
      if (!failures.isAllowed && failures.isExceeded) {
        opts.onFailure?.('throttled');
        reply.header('retry-after', String(failures.ttlInSeconds));
        return deny(
          reply,
          429,
          `too many failed authentications from this address (more than ${failures.max} a minute): retry in ${failures.ttlInSeconds} s with a valid token (requests with a valid token are served meanwhile)`,
        );
      }
      opts.onFailure?.('rejected');
      req.log.warn({ ip: req.ip, known: Boolean(token) }, 'supervisor API: authentication failed');
      const why = !match ? 'the Authorization header is not "Bearer <token>"' : token ? 'this token was revoked' : 'unknown token';
      return deny(reply, 401, `${why}: ask an admin for a valid token`);
    }
    req.caller = { tokenId: token.id, name: token.name, role: token.role, tokenHash: hash! };
    if (token.lastUsedAt === undefined || at - token.lastUsedAt > TOUCH_EVERY_MS) {
      void opts.store.touchToken(token.id, at).catch((err) => req.log.error({ err }, 'could not mark the token used'));
    }
    // An unknown path has no route options: let it reach the 404 answer.
    if (req.routeOptions.url === undefined) return;
    const need = req.routeOptions.config?.role ?? 'admin';
    if (!hasRole(token.role, need)) {
      return deny(reply, 403, `${req.method} ${req.routeOptions.url} needs the ${need} role; token "${token.name}" has ${token.role}: ask an admin`);
    }
  });

  // onSend, not onResponse: the entry is written before the client hears the answer, so a change it saw is always audited.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.caller || !MUTATING.has(req.method) || req.routeOptions.config?.audit === false) return payload;
    const params = (req.params ?? {}) as Record<string, string>;
    try {
      await opts.store.appendAudit({
        at: now(),
        callSid: params.callSid ?? '',
        kind: 'supervisor',
        actor: `supervisor:${req.caller.name}`,
        data: {
          request: `${req.method} ${req.routeOptions.url ?? req.url}`,
          params,
          status: reply.statusCode,
          tokenId: req.caller.tokenId,
          ...req.auditDetail,
        },
      });
    } catch (err) {
      req.log.error({ err }, 'supervisor API: could not write the audit entry');
    }
    return payload;
  });
}

function deny(reply: FastifyReply, status: number, error: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).send({ error });
}

/**
 * Whether the caller's token is still good: it exists and is not revoked. Asks the store every time (nothing is
 * cached), so a revocation made by another instance or the CLI counts at once.
 */
export async function tokenStillValid(store: Store, caller: Caller): Promise<boolean> {
  const token = await store.findTokenByHash(caller.tokenHash);
  return token !== undefined && token.id === caller.tokenId && token.revokedAt === undefined;
}

export const actorOf = (req: FastifyRequest): string => `supervisor:${req.caller?.name ?? 'unknown'}`;

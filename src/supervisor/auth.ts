// Who is calling the supervisor API and what they may do: Bearer tokens checked against their stored hash,
// roles viewer < supervisor < admin, a limit on failed attempts per address, and an audit entry for every change.
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

/** Failed authentications per client address in a sliding window. */
export class FailureLimit {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfter(address: string, now: number): number {
    const recent = this.#recent(address, now);
    return recent.length >= this.max ? recent[0]! + this.windowMs - now : 0;
  }

  fail(address: string, now: number): void {
    const recent = this.#recent(address, now);
    recent.push(now);
    if (recent.length > this.max) recent.splice(0, recent.length - this.max);
    this.#failures.set(address, recent);
    // Bounded memory under a spray of addresses: forget the quiet ones now and then.
    if (this.#failures.size > 10_000) for (const a of this.#failures.keys()) if (this.#recent(a, now).length === 0) this.#failures.delete(a);
  }

  #recent(address: string, now: number): number[] {
    const list = (this.#failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#failures.delete(address);
    return list;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Writing last-used on every request would make each read a write. */
const TOUCH_EVERY_MS = 60_000;

export interface AuthOptions {
  store: Store;
  limit: FailureLimit;
  now?: () => number;
}

/** Adds authentication, role checks and the audit of changes to every route of `app` (an encapsulated context). */
export function guard(app: FastifyInstance, opts: AuthOptions): void {
  const now = opts.now ?? Date.now;

  app.addHook('onRequest', async (req, reply) => {
    const at = now();
    const wait = opts.limit.retryAfter(req.ip, at);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      reply.header('retry-after', String(seconds));
      return deny(reply, 429, `too many failed authentications from this address: retry in ${seconds} s with a valid token`);
    }
    const header = req.headers.authorization;
    if (!header) {
      return deny(reply, 401, 'missing Authorization header: send "Authorization: Bearer <token>" (an admin creates tokens with npm run token -- create)');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const hash = match ? hashSecret(match[1]!) : undefined;
    const token = hash ? await opts.store.findTokenByHash(hash) : undefined;
    if (!token || token.revokedAt !== undefined) {
      opts.limit.fail(req.ip, at);
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

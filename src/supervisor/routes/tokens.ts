// /api/tokens: admins list, create and revoke API tokens. A secret is shown once, in the create answer.
// /api/me: any token, its own name and role.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TOKEN_ROLES, type Store } from '../../store/types.js';
import type { LiveStreams } from '../live-streams.js';
import { issueToken } from '../tokens.js';
import { answers, ApiError } from '../http.js';

const tokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(TOKEN_ROLES),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});

export interface TokenRoutesOptions {
  store: Store;
  /** The open live-event streams: a revoked token's end at once. */
  streams?: LiveStreams;
}

export async function tokenRoutes(plain: FastifyInstance, opts: TokenRoutesOptions): Promise<void> {
  const app = plain.withTypeProvider<ZodTypeProvider>();
  const { store } = opts;

  // Who the token is: the dashboard shows it, and offers only what the role may do.
  app.get(
    '/me',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'The calling token: its name and role',
        tags: ['tokens'],
        response: answers({ 200: z.object({ id: z.string(), name: z.string(), role: z.enum(TOKEN_ROLES) }) }),
      },
    },
    async (req) => ({ id: req.caller!.tokenId, name: req.caller!.name, role: req.caller!.role }),
  );

  app.get(
    '/tokens',
    { config: { role: 'admin' }, schema: { summary: 'API tokens (never their secrets)', tags: ['tokens'], response: answers({ 200: z.object({ tokens: z.array(tokenInfo) }) }) } },
    async () => ({
      tokens: (await store.listTokens()).map((t) => ({ ...t, lastUsedAt: t.lastUsedAt ?? null, revokedAt: t.revokedAt ?? null })),
    }),
  );

  app.post(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Create a token; the answer is the only time its secret is shown',
        tags: ['tokens'],
        body: z
          .object({
            name: z.string().trim().regex(/^[\w.@ -]{1,64}$/, '1 to 64 letters, digits, spaces or . _ - @'),
            role: z.enum(TOKEN_ROLES),
          })
          .strict(),
        response: answers({ 201: z.object({ id: z.string(), name: z.string(), role: z.enum(TOKEN_ROLES), token: z.string() }) }),
      },
    },
    async (req, reply) => {
      const { id, name, role, token } = await issueToken(store, req.body);
      // The audit entry names the new token, never its secret.
      req.auditDetail = { change: `created token "${name}" (${role})`, id };
      return reply.code(201).send({ id, name, role, token });
    },
  );

  app.delete(
    '/tokens/:id',
    {
      config: { role: 'admin' },
      schema: { summary: 'Revoke a token', tags: ['tokens'], params: z.object({ id: z.string().min(1).max(64) }), response: answers({ 204: z.undefined().describe('revoked') }, [404]) },
    },
    async (req, reply) => {
      const { id } = req.params;
      if (!(await store.revokeToken(id, Date.now()))) throw new ApiError(404, `no token with id ${id}: list them with GET /api/tokens`);
      // The API refuses the token from now on; its live-event streams on this instance end now too (on the
      // other instances, at their next heartbeat).
      const closed = opts.streams?.revoke(id) ?? 0;
      if (closed > 0) req.log.info({ tokenId: id, streams: closed }, 'revoked token: its live-event streams were closed');
      req.auditDetail = { change: `revoked token ${id}` };
      return reply.code(204).send();
    },
  );
}

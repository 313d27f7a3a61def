// GET /api/audit: the audit trail across calls, newest first; `callSid=` (empty) lists the changes made
// through this API, which belong to no call.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditKind, Store } from '../../store/types.js';
import { answers, auditEntryBody } from '../http.js';

const KINDS = ['assessment', 'decision', 'attempt', 'outcome', 'gate', 'transcriber', 'call', 'supervisor'] as const satisfies readonly AuditKind[];

export async function auditRoutes(app: FastifyInstance, opts: { store: Store }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/audit',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Audit entries, newest first',
        tags: ['audit'],
        querystring: z.object({
          callSid: z.string().max(64).optional().describe('one call; empty: entries tied to no call'),
          kind: z.enum(KINDS).optional(),
          actor: z.string().max(200).optional().describe('e.g. supervisor:alice, rule:caller-frustrated'),
          since: z.coerce.number().int().min(0).optional(),
          before: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: answers({
          200: z.object({
            entries: z.array(
              auditEntryBody,
            ),
          }),
        }),
      },
    },
    async (req) => ({ entries: await opts.store.queryAudit(req.query) }),
  );
}

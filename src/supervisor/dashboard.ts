// The supervisors' dashboard: static HTML, CSS and JS modules from ./public, served at / and /assets/….
// No build step: the browser loads the modules as they are; all data comes from /api with the user's token.
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
// For `schema.hide`: the page is not part of the API that /docs/json describes.
import type {} from '@fastify/swagger';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export const DASHBOARD_DIR = fileURLToPath(new URL('./public/', import.meta.url));

// The page only ever talks to its own origin, and transcripts are caller speech: a strict policy keeps
// any text that slips into the DOM from running or phoning out.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Revalidate every time (ETag) so a deployed change reaches supervisors without a hard reload.
  'cache-control': 'no-cache',
};

function secure(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
}

export const dashboard: FastifyPluginAsync = async (app) => {
  await app.register(fastifyStatic, {
    root: `${DASHBOARD_DIR}assets`,
    prefix: '/assets/',
    // Cache-Control comes with SECURITY_HEADERS.
    cacheControl: false,
    dotfiles: 'deny',
    index: false,
    list: false,
    setHeaders: (reply) => secure(reply),
  });

  app.get('/', { schema: { hide: true } }, (_req, reply) => reply.sendFile('index.html', DASHBOARD_DIR, { cacheControl: false }));
};

export default dashboard;

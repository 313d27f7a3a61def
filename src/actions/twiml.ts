// Renders TwiML from the templates in twiml/. Every variable is XML-escaped, and a document that
// would break Twilio's 4,000-character limit for inline TwiML is refused before it is sent.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Mustache from 'mustache';

/** Inline TwiML (Calls update); TwiML a webhook answers with may be up to 64 kB (error 11750). */
const TWIML_MAX_CHARS = 4000;
export const TWIML_WEBHOOK_MAX_CHARS = 64_000;
const TEMPLATE_DIR = fileURLToPath(new URL('../../twiml/', import.meta.url));
const cache = new Map<string, string>();

export class TwimlTooLongError extends Error {
  constructor(
    readonly length: number,
    readonly max = TWIML_MAX_CHARS,
  ) {
    super(`rendered TwiML is ${length} characters; Twilio accepts at most ${max}${max === TWIML_MAX_CHARS ? ' inline (error 32018)' : ''}`);
    this.name = 'TwimlTooLongError';
  }
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
export const escapeXml = (s: string): string => s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

function template(name: string, dir: string): string {
  const key = dir + name;
  let t = cache.get(key);
  if (t === undefined) {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad TwiML template name "${name}"`);
    t = readFileSync(`${dir}${name}.xml`, 'utf8');
    cache.set(key, t);
  }
  return t;
}

/** Renders twiml/<name>.xml with `view`; strings are XML-escaped; whitespace between tags is dropped. */
export function renderTwiml(
  name: string,
  view: Record<string, unknown>,
  { maxChars = TWIML_MAX_CHARS, dir = TEMPLATE_DIR }: { maxChars?: number; dir?: string } = {},
): string {
  const xml = Mustache.render(template(name, dir), view, undefined, { escape: (v: unknown) => escapeXml(String(v)) })
    .replace(/>\s+</g, '><')
    .trim();
  if (xml.length > maxChars) throw new TwimlTooLongError(xml.length, maxChars);
  return xml;
}

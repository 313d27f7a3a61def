// The README is the operator's manual: every variable the service reads is in its table, and its commands exist.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('documents every environment variable in its table', () => {
    const rows = readme.split('\n').filter((l) => l.startsWith('| `'));
    const documented = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!)));
    expect(ENV_VARIABLES.filter((v) => !documented.has(v))).toEqual([]);
  });

  it('gives the two set-up commands, and every `npm run` it mentions exists', () => {
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm test');
    const mentioned = new Set([...readme.matchAll(/npm run ([a-z][a-z:-]*)/g)].map((m) => m[1]!));
    expect([...mentioned].filter((s) => !(s in pkg.scripts))).toEqual([]);
  });
});

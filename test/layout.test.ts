// The folders show the data flow: media → transcription → classification → rules → actions. A stage may use what an
// earlier stage defines, never a later one, nor src/calls (the session, the pipeline step, the registry) or the
// supervisor, which sit above all of them. Only src/actions builds TwiML and calls Twilio's REST API. A long file says
// why it is one.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;
const STAGES = ['media', 'transcription', 'classification', 'rules', 'actions'];
const ABOVE = ['calls', 'supervisor', 'simulator', 'cli', 'app.ts', 'server.ts'];

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== 'public') yield* sources(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

const files = [...sources(SRC)].map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));
/** The top folder (or file) under src/ that each relative import of a file reaches. */
const reaches = (file: { path: string; text: string }) =>
  [...file.text.matchAll(/^(?:import|export)[^;]*? from '(\.[^']+)'/gms)].map((m) => relative(SRC, join(SRC, file.path, '..', m[1]!)).split('/')[0]!);

describe('layout', () => {
  it('no stage imports a later stage, src/calls or the supervisor', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const stage = STAGES.indexOf(file.path.split('/')[0]!);
      if (stage === -1) continue;
      for (const target of reaches(file)) {
        const t = STAGES.indexOf(target);
        if (t > stage || ABOVE.includes(target)) wrong.push(`${file.path} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a file over 300 lines says in its opening comment why it is one file', () => {
    const opening = (text: string) => text.slice(0, text.search(/^(?!\/\/)/m));
    const unexplained = files.filter((f) => f.text.split('\n').length > 300 && !/one file/i.test(opening(f.text).replace(/\n\/\/ ?/g, ' ')));
    expect(unexplained.map((f) => f.path)).toEqual([]);
  });

  it('only src/actions builds TwiML or calls the Twilio REST API (the emulator plays Twilio)', () => {
    const outside = files.filter((f) => !/^(actions|simulator)\//.test(f.path));
    const twiml = outside.filter((f) => /<Response|renderTwiml|\.calls\(|\.streams\(|\.recordings\(|\.transcriptions\(/.test(f.text.replace(/\/\/.*$|^\s*\*.*$/gm, '')));
    expect(twiml.map((f) => f.path)).toEqual([]);
  });
});

// `npm run demo -- --watch` as a person runs it: it prints the dashboard's URL and an admin token, calls keep
// arriving (the API lists them live to that token), and Ctrl-C (SIGINT) stops it cleanly, open dashboards or not.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/twilio-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo -- --watch', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('keeps calls coming for the dashboard, with its URL and a working admin token, and stops on SIGINT', async () => {
    // What `npm run demo` runs: one Node process, so Ctrl-C's SIGINT reaches the demo itself (tsx's own CLI would relay
    // it, and on a busy machine give up on the child after 30 ms and kill it).
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts', '--watch', '--port', '0', '--speed', '8', '--calls', '2'], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'error' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.on('exit', (code, signal) => resolve({ code, signal })));

    const [, url, token] = await eventually(() => /Dashboard:\s+(\S+)\n[^]*Admin token:\s+(\S+)/.exec(stdout), 20_000, `the URL and token in the output (so far: ${stdout}${stderr})`);
    const api = (path: string, init: RequestInit = {}) => fetch(new URL(path, url), { ...init, headers: { authorization: `Bearer ${token}` } });

    expect(await (await api('/api/me')).json()).toMatchObject({ role: 'admin' });
    const page = await (await fetch(url!)).text();
    expect(page).toContain('/assets/app.js');

    // Calls arrive on their own, one after another: more than the two lines' first calls show up over time.
    const seen = new Set<string>();
    await eventually(
      async () => {
        const { calls } = (await (await api('/api/calls?state=live')).json()) as { calls: { callSid: string }[] };
        for (const c of calls) seen.add(c.callSid);
        return seen.size >= 3;
      },
      30_000,
      'a third call to be live',
    );

    // A dashboard watching the live feed must not hold the stop up.
    const feed = await api('/api/events');
    const reader = feed.body!.getReader();
    expect((await reader.read()).done).toBe(false);

    const stoppedAt = Date.now();
    child.kill('SIGINT');
    let bound: NodeJS.Timeout | undefined;
    const tooLate = new Promise<never>((_, reject) => {
      bound = setTimeout(() => reject(new Error(`no exit within 10 s of SIGINT:\n${stdout}\n${stderr}`)), 10_000);
    });
    const { code } = await Promise.race([exited, tooLate]).finally(() => clearTimeout(bound));
    expect(code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(stdout).toMatch(/SIGINT: stopping[^]*stopped\.\n$/);
    await reader.cancel().catch(() => {});
  }, 60_000);
});

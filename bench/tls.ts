// wss:// for benchmarks: a self-signed certificate for 127.0.0.1, made at run time with the openssl CLI. Processes
// started after trustSelfSigned() trust it through NODE_EXTRA_CA_CERTS (read by Node at start), as an operator would
// trust a private CA; nothing turns certificate checks off.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes key.pem and cert.pem in a fresh folder, and has every child process started from now on trust the certificate. */
export function trustSelfSigned(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'takeover-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
    { stdio: 'ignore' },
  );
  process.env.NODE_EXTRA_CA_CERTS = join(dir, 'cert.pem');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

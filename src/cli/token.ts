// `npm run token -- create --name alice --role admin` prints a new API token once; `list` shows tokens
// (never secrets); `revoke <id>` revokes one. Uses the service's store settings (DATABASE_URL / SQLITE_PATH).
import { parseArgs } from 'node:util';
import { ConfigError, loadStoreConfig } from '../config.js';
import { createStore } from '../store/index.js';
import { TOKEN_ROLES, type Store, type TokenRole } from '../store/types.js';
import { issueToken } from '../supervisor/tokens.js';

const USAGE = `usage:
  npm run token -- create --name <name> --role ${TOKEN_ROLES.join('|')}
  npm run token -- list
  npm run token -- revoke <id>
The store is the service's: DATABASE_URL (PostgreSQL) or SQLITE_PATH (default data/takeover.db).`;

async function run(argv: string[], out: (line: string) => void): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, role: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (!['create', 'list', 'revoke'].includes(command)) {
    out(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  if (command === 'create' && (!values.name || !TOKEN_ROLES.includes(values.role as TokenRole))) {
    out(`create needs --name and --role (one of ${TOKEN_ROLES.join(', ')})\n${USAGE}`);
    return 2;
  }
  if (command === 'revoke' && rest.length !== 1) {
    out(`revoke needs the token id (see: npm run token -- list)\n${USAGE}`);
    return 2;
  }

  const store = await createStore(loadStoreConfig());
  try {
    return await execute(store, command, values as { name: string; role: TokenRole }, rest[0], out);
  } finally {
    await store.close();
  }
}

async function execute(store: Store, command: string, v: { name: string; role: TokenRole }, id: string | undefined, out: (line: string) => void): Promise<number> {
  if (command === 'create') {
    const t = await issueToken(store, { name: v.name, role: v.role });
    await store.appendAudit({ at: Date.now(), callSid: '', kind: 'supervisor', actor: 'cli', data: { change: `created token "${t.name}" (${t.role})`, id: t.id } });
    out(`created ${t.role} token "${t.name}" (id ${t.id}). The secret is shown this once; keep it safe:\n${t.token}`);
    return 0;
  }
  if (command === 'list') {
    const tokens = await store.listTokens();
    if (tokens.length === 0) out('no tokens yet: npm run token -- create --name <name> --role admin');
    for (const t of tokens) {
      const state = t.revokedAt ? `revoked ${iso(t.revokedAt)}` : t.lastUsedAt ? `last used ${iso(t.lastUsedAt)}` : 'never used';
      out(`${t.id}\t${t.role.padEnd(10)}\t${t.name}\tcreated ${iso(t.createdAt)}\t${state}`);
    }
    return 0;
  }
  if (!(await store.revokeToken(id!, Date.now()))) {
    out(`no token with id ${id}: see npm run token -- list`);
    return 1;
  }
  await store.appendAudit({ at: Date.now(), callSid: '', kind: 'supervisor', actor: 'cli', data: { change: `revoked token ${id}` } });
  out(`revoked ${id}`);
  return 0;
}

const iso = (ms: number) => new Date(ms).toISOString();

run(process.argv.slice(2), (line) => console.log(line)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? `takeover token: ${err.message}` : `takeover token failed: ${(err as Error).message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);

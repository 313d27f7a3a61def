// Picks and opens the store from configuration: PostgreSQL when a DATABASE_URL is given, otherwise a
// SQLite file (created with its folder). Migrations run before the store is handed out. The service puts it
// behind a QueuedStore (queued-store.ts), which keeps call data the database cannot take now.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, sql, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider, type SqlDialect } from './migrations.js';
import { SqlStore, type Database } from './sql.js';
import type { Store } from './types.js';

export { MemoryStore } from './memory.js';
export { QueuedStore, type WriteQueueOptions } from './queued-store.js';
export { SqlStore } from './sql.js';
export * from './types.js';

export interface StoreOptions {
  /** postgres://… ; when absent, the SQLite file at `sqlitePath` is used. */
  databaseUrl?: string;
  /** A file path (its folder is created), or `:memory:` for a database that lives as long as the process. */
  sqlitePath: string;
  /** PostgreSQL schema to keep the tables in (created if missing); default: the server's search_path. */
  postgresSchema?: string;
  /** Errors of idle pooled PostgreSQL connections (the next query fails anyway; this is for the log). */
  onError?: (err: Error) => void;
}

export async function createStore(options: StoreOptions): Promise<SqlStore> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options) : openSqlite(options.sqlitePath);
}

async function openSqlite(path: string): Promise<SqlStore> {
  let database: SqliteDatabase.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    database = new SqliteDatabase(path);
    // WAL lets readers (the API) run while the call pipeline writes; NORMAL is durable enough with WAL.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new Error(`SQLITE_PATH=${path}: cannot open the database (${(err as Error).message}); point SQLITE_PATH at a writable file`);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrate(db, 'sqlite', `SQLITE_PATH=${path}`);
  return new SqlStore(db, 'sqlite');
}

async function openPostgres(url: string, options: StoreOptions): Promise<SqlStore> {
  const where = `DATABASE_URL=${withoutPassword(url)}`;
  const schema = options.postgresSchema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`${where}: schema "${schema}" must be lowercase letters, digits and _`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  pool.on('error', (err) => options.onError?.(err));
  // The pool listens for errors of idle connections only: one that drops while a query holds it would emit an
  // 'error' nobody handles, and crash the process. The query itself fails on its own (and its write is queued).
  pool.on('connect', (client) => client.on('error', (err) => options.onError?.(err)));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let current: string | null | undefined;
  try {
    if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
    current = (await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)).rows[0]?.schema;
  } catch (err) {
    await db.destroy();
    throw new Error(`${where}: cannot reach the database (${describe(err)}); check that the server runs and the URL is right`);
  }
  if (!current) {
    await db.destroy();
    throw new Error(`${where}: the connection has no schema to create tables in; fix the search_path of the database user`);
  }
  // Named explicitly: otherwise kysely finds another schema's migration table and believes it is ours.
  await migrate(db, 'postgres', where, current);
  return new SqlStore(db, 'postgres');
}

async function migrate(db: Kysely<Database>, dialect: SqlDialect, where: string, schema?: string): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect), ...(schema ? { migrationTableSchema: schema } : {}) });
  // Two processes starting on one SQLite file can race on the first migration; the loser retries and finds it done.
  let error: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    ({ error } = await migrator.migrateToLatest());
    if (!error) return;
    await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
  }
  await db.destroy();
  throw new Error(`${where}: migrating the database failed (${describe(error)}); check the database is writable and not from a newer takeover`);
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e?.code, e?.message].filter(Boolean).join(': ') || String(err);
}

/** The URL fit for an error message: no password. */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a valid URL)';
  }
}


/** The store's part of /readyz: ready while it takes writes; how many writes wait, and the last failure. */
export function storeReadiness(store: Store): { ready: boolean; waiting: number; lastError?: string } {
  const health = store.health?.();
  if (!health) return { ready: true, waiting: 0 };
  return { ready: health.up, waiting: health.waiting, ...(health.up || !health.lastError ? {} : { lastError: health.lastError }) };
}

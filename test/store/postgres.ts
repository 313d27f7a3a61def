// The PostgreSQL the store suites use: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
// Suites skip without one, except in CI. Each store gets a schema of its own, dropped at the end.
import pg from 'pg';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const IN_CI = Boolean(process.env.CI);

export async function postgresAnswers(url = PG_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const schemas: string[] = [];

/** A fresh schema name, dropped by dropSchemas(). */
export function newSchema(): string {
  const name = `takeover_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  schemas.push(name);
  return name;
}

/** Runs `sql` on the server directly (not through a proxy), in `schema`. */
export async function query<T extends pg.QueryResultRow>(schema: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`set search_path to "${schema}"`);
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchemas(): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas.splice(0)) await client.query(`drop schema if exists "${s}" cascade`);
  await client.end();
}

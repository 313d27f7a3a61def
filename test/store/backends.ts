// The stores a suite runs its cases on: memory, SQLite (a temp file) and PostgreSQL (a schema of its own, when one
// answers at TEST_DATABASE_URL; required when CI is set). Call cleanUp() after the suite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, MemoryStore, type Store } from '../../src/store/index.js';
import { dropSchemas, IN_CI, newSchema, PG_URL, postgresAnswers } from './postgres.js';

export interface Backend {
  name: 'memory' | 'sqlite' | 'postgres';
  /** True when PostgreSQL does not answer on a developer's machine (never in CI: there the cases fail instead). */
  skip: boolean;
  open(): Promise<Store>;
}

export async function storeBackends(prefix: string): Promise<{ backends: Backend[]; cleanUp(): Promise<void> }> {
  const pgReachable = await postgresAnswers();
  const dir = mkdtempSync(join(tmpdir(), `takeover-${prefix}-`));
  const backends: Backend[] = [
    { name: 'memory', skip: false, open: async () => new MemoryStore() },
    { name: 'sqlite', skip: false, open: () => createStore({ sqlitePath: join(dir, `${Math.random().toString(36).slice(2)}.db`) }) },
    {
      name: 'postgres',
      skip: !pgReachable && !IN_CI,
      open: () => createStore({ databaseUrl: PG_URL, sqlitePath: 'unused', postgresSchema: newSchema() }),
    },
  ];
  return {
    backends,
    async cleanUp() {
      rmSync(dir, { recursive: true, force: true });
      if (pgReachable) await dropSchemas();
    },
  };
}

// The SQL schema, as kysely migrations kept in code (no migration folder to ship). They run at start;
// a new migration is a new entry at the end, never an edit to one that has shipped.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type SqlDialect = 'sqlite' | 'postgres';

function migrations(dialect: SqlDialect): Record<string, Migration> {
  // Times are epoch milliseconds; JSON values are text so that both dialects read them the same way.
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('calls')
          .ifNotExists()
          .addColumn('call_sid', 'text', (c) => c.primaryKey())
          .addColumn('from_number', 'text')
          .addColumn('to_number', 'text')
          .addColumn('custom_parameters', 'text', (c) => c.notNull())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('ended_at', 'bigint')
          .addColumn('status', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('calls_started_at').ifNotExists().on('calls').column('started_at').execute();

        await idTable(db, dialect, 'transcript_lines')
          .addColumn('call_sid', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('track', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('transcript_lines_call').ifNotExists().on('transcript_lines').columns(['call_sid', 'at']).execute();
        await db.schema.createIndex('transcript_lines_at').ifNotExists().on('transcript_lines').column('at').execute();

        await idTable(db, dialect, 'audit_entries')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('call_sid', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('decision_id', 'text')
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_entries_call').ifNotExists().on('audit_entries').columns(['call_sid', 'at']).execute();
        await db.schema.createIndex('audit_entries_at').ifNotExists().on('audit_entries').column('at').execute();

        await db.schema
          .createTable('rule_set_versions')
          .ifNotExists()
          .addColumn('version', 'integer', (c) => c.primaryKey())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('change', 'text', (c) => c.notNull())
          .addColumn('rules', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('api_tokens')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .execute();
      },
    },
    '0002_store_fractional_times': {
      // The service's clock (src/clock.ts) has sub-millisecond resolution: PostgreSQL's bigint refused every
      // such value. double precision holds epoch ms to about a quarter of a microsecond. SQLite needs nothing:
      // a bigint column (INTEGER affinity) keeps a value with a fraction as REAL.
      async up(db: Kysely<unknown>) {
        if (dialect !== 'postgres') return;
        const columns: Record<string, string[]> = {
          calls: ['started_at', 'ended_at'],
          transcript_lines: ['at'],
          audit_entries: ['at'],
          rule_set_versions: ['at'],
          api_tokens: ['created_at', 'last_used_at', 'revoked_at'],
        };
        for (const [table, names] of Object.entries(columns)) {
          for (const name of names) await db.schema.alterTable(table).alterColumn(name, (c) => c.setDataType('double precision')).execute();
        }
      },
    },
    '0003_store_write_ids': {
      // An id given to each audit entry and transcript line when it is made: a write repeated after a lost
      // answer or a restart (the store's write queue) is stored once. Rows from before have none.
      async up(db: Kysely<unknown>) {
        for (const table of ['audit_entries', 'transcript_lines']) {
          await db.schema.alterTable(table).addColumn('entry_id', 'text').execute();
          await db.schema.createIndex(`${table}_entry_id`).unique().on(table).column('entry_id').execute();
        }
      },
    },
    // Restarts: which instance holds a call, and a paused call's due time and what its resume re-creates.
    '0004_call_holder_and_pause': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('calls').addColumn('instance_id', 'text').execute();
        await db.schema.alterTable('calls').addColumn('paused_until', 'double precision').execute();
        await db.schema.alterTable('calls').addColumn('resume_plan', 'text').execute();
        await db.schema.createIndex('calls_instance_open').ifNotExists().on('calls').columns(['instance_id', 'ended_at']).execute();
      },
    },
    // Supervisors' verdicts on decisions and on stretches of calls, and the reads rule health makes: decisions of a
    // period (by kind and time, not every assessment of it), verdicts of a period.
    '0005_verdicts': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('verdicts')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('call_sid', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('decision_id', 'text')
          .addColumn('rule_id', 'text')
          .addColumn('from_at', 'double precision', (c) => c.notNull())
          .addColumn('to_at', 'double precision', (c) => c.notNull())
          .addColumn('note', 'text')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('at', 'double precision', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('verdicts_call').ifNotExists().on('verdicts').columns(['call_sid', 'at']).execute();
        await db.schema.createIndex('verdicts_from').ifNotExists().on('verdicts').column('from_at').execute();
        await db.schema.createIndex('audit_entries_kind_at').ifNotExists().on('audit_entries').columns(['kind', 'at']).execute();
      },
    },
  };
}

/** A table with an auto-increment `id` primary key, which keeps insertion order for rows of the same millisecond. */
function idTable(db: Kysely<unknown>, dialect: SqlDialect, name: string) {
  const table = db.schema.createTable(name).ifNotExists();
  return dialect === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', sql`bigint generated always as identity`, (c) => c.primaryKey());
}

export function migrationProvider(dialect: SqlDialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}

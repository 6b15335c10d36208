import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { initial } from './migrations/001_initial.js';
import type { DB } from './schema.js';

// Event positions are bigserial: read int8 as a JS number (safe far beyond any realistic log).
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` for PostgreSQL; unset for SQLite in `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  /** SQLite file name inside dataDir (tests may use another). */
  sqliteFile?: string;
  poolSize?: number;
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const url = opts.databaseUrl;
  let store: Store;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // An idle client dropped by the server (restart, failover) is discarded by the pool; the next
    // query opens a new one. Without a listener the error would crash the process.
    pool.on('error', () => {});
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    store = { db, dialect: 'postgres', close: () => db.destroy() };
  } else if (url) {
    throw new Error(`TRIPLINE_DATABASE_URL must start with postgres:// (got "${url.split(':')[0]}:…")`);
  } else {
    mkdirSync(opts.dataDir, { recursive: true });
    const file = join(opts.dataDir, opts.sqliteFile ?? 'tripline.db');
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    // WAL + synchronous=FULL: a committed transaction survives kill -9 and power loss.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('busy_timeout = 10000');
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    store = { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  await migrate(store);
  return store;
}

/**
 * Kysely prepares every query anew; parsing a 300-parameter history INSERT costs about as much as
 * running it. Statements are cached by SQL text. Safe: Kysely's SQLite driver has one connection and
 * serialises queries (a stream holds it until done), so a cached statement is never in use twice.
 */
function withStatementCache(sqlite: SQLite.Database, max = 256) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql); // most recently used last
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
    close: () => sqlite.close(),
  };
}

export async function migrate(store: Store): Promise<void> {
  const migrations: Record<string, Migration> = { '001_initial': initial(store.dialect) };
  const migrator = new Migrator({
    db: store.db,
    provider: { getMigrations: async () => migrations },
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

/**
 * Serialises event appends on PostgreSQL so positions become visible in commit order:
 * a consumer reading "after position N" then never skips a row that commits late.
 * Held until the transaction ends. SQLite has a single writer already.
 */
export async function lockEventLog(trx: Kysely<DB>, dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(724001)`.execute(trx);
}

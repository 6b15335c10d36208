import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/db.js';
import { createTestDatabase, pgAvailable } from './pg.js';

export type TestDialect = 'sqlite' | 'postgres';

const pgOk = await pgAvailable();

/** The dialects this run tests: SQLite always, PostgreSQL when reachable (CI requires it). */
export const DIALECTS: Array<{ dialect: TestDialect; skip: boolean }> = [
  { dialect: 'sqlite', skip: false },
  { dialect: 'postgres', skip: !pgOk },
];
if (!pgOk) console.warn('[tripline tests] PostgreSQL absent: skipping the postgres variants of this file');

export interface TestStore extends Store {
  dataDir: string;
  databaseUrl?: string;
  destroy(): Promise<void>;
}

/** A store on its own SQLite file or its own PostgreSQL database, removed by destroy(). */
export async function openTestStore(dialect: TestDialect): Promise<TestStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tripline-test-'));
  if (dialect === 'sqlite') {
    const store = await openStore({ dataDir });
    return {
      ...store,
      dataDir,
      destroy: async () => {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const tdb = await createTestDatabase();
  const store = await openStore({ dataDir, databaseUrl: tdb.url });
  return {
    ...store,
    dataDir,
    databaseUrl: tdb.url,
    destroy: async () => {
      await store.close();
      await tdb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

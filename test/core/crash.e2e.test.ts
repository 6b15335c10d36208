import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';

/**
 * kill -9 in the middle of a burst of concurrent writes: after a restart every acknowledged write is
 * there with its event, and no event exists without its change (nor a change without its event).
 */

const TEAM = 'ml';
const PROJECT = 'crash';
const P = `/teams/${TEAM}/projects/${PROJECT}`;
const WORKERS = 6;
const ROWS_PER_BATCH = 20;
const COLLECTIONS = ['c0', 'c1', 'c2'];

/** Deterministic metric values, so what is read back can be compared with what was sent. */
const valuesAt = (run: string, step: number) => ({
  loss: ((step * 7919 + run.length) % 1000) / 1000,
  acc: step % 100,
});

type Ack =
  | { kind: 'run'; run: string }
  | { kind: 'history'; run: string; from: number; to: number }
  | { kind: 'version'; collection: string; version: string; alias: string }
  | { kind: 'best'; collection: string; version: string }
  | { kind: 'state'; run: string; state: string };

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plain read-only SQL against the server's database (SQLite file in WAL mode, or PostgreSQL). */
async function openReadOnly(server: ServerProcess) {
  if (server.databaseUrl) {
    const c = new pg.Client({ connectionString: server.databaseUrl });
    await c.connect();
    return { all: async (q: string) => (await c.query(q)).rows as any[], close: () => c.end() };
  }
  const db = new SQLite(join(server.dataDir, 'tripline.db'), { readonly: true, fileMustExist: true });
  return { all: async (q: string) => db.prepare(q).all() as any[], close: async () => db.close() };
}

async function waitHealthy(url: string) {
  const until = Date.now() + 30_000;
  while (true) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return;
    } catch {}
    if (Date.now() > until) throw new Error(`${url} did not come back after the restart`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`crash (kill -9) mid-burst on ${dialect}`, () => {
    let server: ServerProcess;
    const acks: Ack[] = [];
    const unexpected: string[] = [];
    let inFlightAtCrash = 0;
    let survivingC0 = -1;

    beforeAll(async () => {
      server = await startServerProcess({ dialect });
    });
    afterAll(async () => server?.stop());

    it('a burst of concurrent writes is interrupted by kill -9; the server restarts', async () => {
      const api = client(server.url, server.apiKey);
      expect((await api('POST', '/teams', { name: TEAM })).status).toBe(201);
      expect((await api('POST', `/teams/${TEAM}/projects`, { name: PROJECT })).status).toBe(201);

      let crashing = false;
      let inFlight = 0;
      /** One request; true when acknowledged (2xx). After the crash every failure ends the worker. */
      const send = async (method: string, path: string, body?: unknown) => {
        inFlight++;
        try {
          const r = await api(method, path, body);
          if (r.status >= 200 && r.status < 300) return r.body;
          if (!crashing) unexpected.push(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
          return undefined;
        } catch (err) {
          if (!crashing) unexpected.push(`${method} ${path} → ${(err as Error).message}`);
          return undefined;
        } finally {
          inFlight--;
        }
      };

      const worker = async (w: number) => {
        const rand = rng(w + 1);
        const running: Array<{ run: string; next: number }> = [];
        let k = 0;
        while (true) {
          const roll = rand();
          k++;
          let ok: unknown;
          if (running.length === 0 || roll < 0.12) {
            const run = `w${w}-r${k}`;
            ok = await send('POST', `${P}/runs`, { id: run, config: { w, k } });
            if (ok) {
              acks.push({ kind: 'run', run });
              running.push({ run, next: 0 });
            }
          } else if (roll < 0.62) {
            const r = running[Math.floor(rand() * running.length)];
            const from = r.next;
            // Steps advance whether or not the batch is acknowledged: batches never overlap.
            r.next += ROWS_PER_BATCH;
            const rows = Array.from({ length: ROWS_PER_BATCH }, (_, i) => ({
              _step: from + i,
              ...valuesAt(r.run, from + i),
            }));
            ok = await send('POST', `${P}/runs/${r.run}/history`, { rows });
            if (ok) acks.push({ kind: 'history', run: r.run, from, to: from + ROWS_PER_BATCH - 1 });
          } else if (roll < 0.84) {
            const collection = COLLECTIONS[Math.floor(rand() * COLLECTIONS.length)];
            const alias = `w${w}-a${k}`;
            const res = (await send('POST', `${P}/artifacts`, {
              collection,
              type: 'model',
              metadata: { w, k },
              aliases: [alias],
            })) as { version: string } | undefined;
            ok = res;
            if (res) {
              acks.push({ kind: 'version', collection, version: res.version, alias });
              if (rand() < 0.5) {
                // Move the shared alias `best` onto it (races with the other workers).
                const moved = await send('POST', `${P}/artifacts/${collection}/${res.version}/aliases`, {
                  alias: 'best',
                });
                if (moved) acks.push({ kind: 'best', collection, version: res.version });
                else ok = undefined;
              }
            }
          } else {
            const i = Math.floor(rand() * running.length);
            const [r] = running.splice(i, 1);
            const state = rand() < 0.5 ? 'FINISHED' : 'FAILED';
            ok = await send('PATCH', `${P}/runs/${r.run}`, { state });
            if (ok) acks.push({ kind: 'state', run: r.run, state });
          }
          if (!ok && crashing) return;
        }
      };

      const started = Date.now();
      const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
      while (acks.length < 400 && Date.now() - started < 4000 && unexpected.length === 0) {
        await new Promise((r) => setTimeout(r, 10));
      }
      crashing = true;
      inFlightAtCrash = inFlight;
      await server.crash();
      await Promise.all(workers);
      const byKind: Record<string, number> = {};
      for (const a of acks) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
      console.info(
        `[crash ${dialect}] acknowledged: ${JSON.stringify(byKind)}; in flight at kill -9: ${inFlightAtCrash}`,
      );
      expect(unexpected).toEqual([]);
      expect(acks.length).toBeGreaterThan(50);
      expect(inFlightAtCrash, 'requests in flight when the server was killed').toBeGreaterThan(0);
      for (const kind of ['run', 'history', 'version', 'best', 'state']) {
        expect(
          acks.some((a) => a.kind === kind),
          `some ${kind} writes acknowledged`,
        ).toBe(true);
      }
      await server.restart();
      // restart() may resolve on the first start's banner still in the output: wait until it answers.
      await waitHealthy(server.url);
    });

    it('every acknowledged write is present with its event; no event without its change', async () => {
      expect(acks.length).toBeGreaterThan(0);
      const api = client(server.url, server.apiKey);
      const events: any[] = [];
      let after = 0;
      while (true) {
        const page = await api('GET', `/teams/${TEAM}/events?after=${after}&limit=1000`);
        expect(page.status).toBe(200);
        events.push(...page.body.items);
        if (!page.body.nextCursor) break;
        after = Number(page.body.nextCursor);
      }
      const positions = events.map((e) => e.position);
      expect(new Set(positions).size).toBe(positions.length);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));

      const db = await openReadOnly(server);
      try {
        const runs = await db.all(
          `select r.id, r.name, r.state from runs r join projects p on p.id = r.project_id where p.name = '${PROJECT}'`,
        );
        const history = await db.all(
          `select r.name, h.step, h.data from run_history h join runs r on r.id = h.run_id join projects p on p.id = r.project_id where p.name = '${PROJECT}'`,
        );
        const versions = await db.all(
          `select c.name as collection, v.version_index from artifact_versions v join collections c on c.id = v.collection_id join projects p on p.id = c.project_id where p.name = '${PROJECT}'`,
        );
        const aliases = await db.all(
          `select c.name as collection, a.alias, v.version_index from aliases a join collections c on c.id = a.collection_id join artifact_versions v on v.id = a.version_id join projects p on p.id = c.project_id where p.name = '${PROJECT}'`,
        );

        const runState = new Map(runs.map((r) => [r.name as string, r.state as string]));
        const rowAt = new Map(history.map((h) => [`${h.name}#${Number(h.step)}`, JSON.parse(h.data)]));
        const versionSet = new Set(versions.map((v) => `${v.collection}:v${v.version_index}`));
        const aliasAt = new Map(
          aliases.map((a) => [`${a.collection}/${a.alias}`, `${a.collection}:v${a.version_index}`]),
        );

        const created = events.filter((e) => e.type === 'RUN_STATE' && e.details.oldState === null);
        const finals = events.filter((e) => e.type === 'RUN_STATE' && e.details.oldState !== null);
        const appended = events.filter((e) => e.type === 'RUN_METRICS_APPENDED');
        const createArtifact = events.filter((e) => e.type === 'CREATE_ARTIFACT');
        const aliasEvents = events.filter((e) => e.type === 'ADD_ARTIFACT_ALIAS');
        const vkey = (e: any) => `${e.details.collection}:${e.details.version}`;

        // 1. Every acknowledged write is there, with its event.
        for (const a of acks) {
          if (a.kind === 'run') {
            expect(runState.has(a.run), `run ${a.run}`).toBe(true);
            expect(
              created.filter((e) => e.details.runId === a.run),
              `RUN_STATE for ${a.run}`,
            ).toHaveLength(1);
          } else if (a.kind === 'history') {
            for (let s = a.from; s <= a.to; s++)
              expect(rowAt.get(`${a.run}#${s}`), `${a.run} step ${s}`).toEqual(valuesAt(a.run, s));
            const ev = appended.filter((e) => e.details.runId === a.run && e.details.fromStep === a.from);
            expect(ev, `RUN_METRICS_APPENDED for ${a.run} ${a.from}..${a.to}`).toHaveLength(1);
            expect(ev[0].details).toMatchObject({ toStep: a.to, count: ROWS_PER_BATCH, table: 'history' });
          } else if (a.kind === 'version') {
            const key = `${a.collection}:${a.version}`;
            expect(versionSet.has(key), key).toBe(true);
            expect(
              createArtifact.filter((e) => vkey(e) === key),
              `CREATE_ARTIFACT ${key}`,
            ).toHaveLength(1);
            expect(aliasAt.get(`${a.collection}/${a.alias}`), `alias ${a.alias}`).toBe(key);
            expect(aliasEvents.filter((e) => e.details.alias === a.alias && vkey(e) === key)).toHaveLength(1);
          } else if (a.kind === 'best') {
            const key = `${a.collection}:${a.version}`;
            expect(
              aliasEvents.some((e) => e.details.alias === 'best' && vkey(e) === key),
              `best → ${key}`,
            ).toBe(true);
          } else {
            expect(runState.get(a.run), `state of ${a.run}`).toBe(a.state);
            expect(
              finals.filter((e) => e.details.runId === a.run && e.details.newState === a.state),
            ).toHaveLength(1);
          }
        }

        // 2. No event without its change, and no change without its event.
        expect(created.map((e) => e.details.runId).sort()).toEqual([...runState.keys()].sort());
        for (const e of finals)
          expect(runState.get(e.details.runId), `${e.details.runId} state`).toBe(e.details.newState);
        const finalRuns = runs.filter((r) => r.state !== 'RUNNING').map((r) => r.name);
        expect(finals.map((e) => e.details.runId).sort()).toEqual(finalRuns.sort());

        const covered = new Set<string>();
        for (const e of appended) {
          expect(e.details.count).toBe(e.details.toStep - e.details.fromStep + 1);
          for (let s = e.details.fromStep; s <= e.details.toStep; s++) {
            const key = `${e.details.runId}#${s}`;
            expect(rowAt.get(key), `row ${key} of an appended event`).toEqual(valuesAt(e.details.runId, s));
            covered.add(key);
          }
        }
        expect(covered.size).toBe(rowAt.size);
        expect(appended.reduce((n, e) => n + e.details.count, 0)).toBe(history.length);

        expect(createArtifact.length).toBe(versions.length);
        survivingC0 = versions.filter((v) => v.collection === 'c0').length;
        expect(new Set(createArtifact.map(vkey))).toEqual(versionSet);
        for (const c of COLLECTIONS) {
          // Version numbers without gaps or duplicates: an interrupted create burns no number.
          const idx = versions.filter((v) => v.collection === c).map((v) => Number(v.version_index));
          expect(idx.sort((a, b) => a - b)).toEqual(idx.map((_, i) => i));
        }
        const ownAliases = aliases.filter((a) => a.alias !== 'latest' && a.alias !== 'best');
        const ownAliasEvents = aliasEvents.filter((e) => e.details.alias !== 'best');
        expect(ownAliasEvents.length).toBe(ownAliases.length);
        for (const e of ownAliasEvents)
          expect(aliasAt.get(`${e.details.collection}/${e.details.alias}`)).toBe(vkey(e));
        for (const c of COLLECTIONS) {
          // `best` sits where its last event put it.
          const last = aliasEvents
            .filter((e) => e.details.alias === 'best' && e.details.collection === c)
            .pop();
          expect(aliasAt.get(`${c}/best`), `${c}/best`).toBe(last ? vkey(last) : undefined);
        }
      } finally {
        await db.close();
      }
    });

    it('keeps working after the restart', async () => {
      const api = client(server.url, server.apiKey);
      expect((await api('POST', `${P}/runs`, { id: 'after-crash' })).status).toBe(201);
      const rows = Array.from({ length: 10 }, (_, i) => ({ _step: i, loss: i }));
      expect((await api('POST', `${P}/runs/after-crash/history`, { rows })).body).toEqual({
        count: 10,
        fromStep: 0,
        toStep: 9,
      });
      const v = await api('POST', `${P}/artifacts`, {
        collection: 'c0',
        type: 'model',
        aliases: ['post-crash'],
      });
      expect(v.status).toBe(201);
      // Numbering continues after the versions that survived the crash.
      expect(v.body.version).toBe(`v${survivingC0}`);
    });
  });
}

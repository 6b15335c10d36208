import { afterAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/server.js';
import { DIALECTS } from '../helpers/store.js';
import { apiOf, type Receiver, startReceiver, waitFor } from './lib.js';

/**
 * At-least-once across kill -9: 2,000 webhook deliveries (from 2,000 ADD_ARTIFACT_TAG events) go to
 * a receiver that takes 40 ms per request, so the worker always has its 16 sends in flight. The
 * server is killed midway and restarted. Every delivery must arrive at least once; a duplicate
 * carries the same webhook-id as the first copy; there are no more duplicates than sends in flight
 * at the kill (at most the worker's concurrency, 16). SQLite releases leases at start-up; on
 * PostgreSQL they expire (TRIPLINE_DELIVERY_LEASE_MS=2000 here instead of 30 s).
 */

const VERSIONS = 80;
const TAGS_PER_VERSION = 25; // 80 × 25 = 2,000 events, one delivery each
const TOTAL = VERSIONS * TAGS_PER_VERSION;
const CONCURRENCY = 16;
const KILL_AT = 700;

for (const { dialect, skip } of DIALECTS) {
  describe.skipIf(skip)(`delivery crash recovery on ${dialect}`, () => {
    let server: ServerProcess | undefined;
    let receiver: Receiver | undefined;
    afterAll(async () => {
      await server?.stop();
      await receiver?.close();
    });

    it(`kill -9 with ${TOTAL} deliveries under way: all arrive, duplicates share the webhook-id`, {
      timeout: 120_000,
    }, async () => {
      const rx = await startReceiver();
      receiver = rx;
      server = await startServerProcess({
        dialect,
        env: {
          TRIPLINE_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
          TRIPLINE_RETRY_SCALE: '0.001',
          TRIPLINE_DELIVERY_LEASE_MS: '2000',
        },
      });
      const { ok, api } = apiOf(server.url, server.apiKey);
      await ok('POST', '/teams', { name: 'ml' });
      await ok('POST', '/teams/ml/projects', { name: 'p' });
      const hook = await ok('POST', '/teams/ml/integrations', {
        kind: 'webhook',
        name: 'slow',
        url: `${rx.url}/slow/40/crash`,
      });
      await ok('POST', '/automations', {
        name: 'every-tag',
        scope: { type: 'PROJECT', team: 'ml', project: 'p' },
        event: { type: 'ADD_ARTIFACT_TAG' },
        rateLimitPerHour: 0,
        action: { type: 'GENERIC_WEBHOOK', integrationId: hook.id, payload: { tag: '${tag}' } },
      });
      const expected = new Set<string>();
      await Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let v = w; v < VERSIONS; v += 4) {
            const tags = Array.from({ length: TAGS_PER_VERSION }, (_, j) => `t-${v}-${j}`);
            for (const t of tags) expected.add(t);
            await ok('POST', '/teams/ml/projects/p/artifacts', {
              collection: `c${v % 4}`,
              type: 'model',
              tags,
            });
          }
        }),
      );
      expect(expected.size).toBe(TOTAL);

      await waitFor(`${KILL_AT} deliveries`, () => rx.hits.length >= KILL_AT, 60_000, 2);
      const atKill = { received: rx.hits.length, open: rx.open() };
      await server.crash();
      await server.restart();

      const tagOf = (body: string) => JSON.parse(body).tag as string;
      await waitFor(
        'every delivery',
        () => new Set(rx.hits.map((h) => tagOf(h.body))).size >= TOTAL,
        90_000,
        50,
      );
      // Let anything still in flight land before counting duplicates.
      await waitFor(
        'all executions FINISHED',
        async () => {
          const r = await api('GET', '/teams/ml/executions?project=p&limit=1000');
          const r2 = r.body.nextCursor
            ? await api(
                'GET',
                `/teams/ml/executions?project=p&limit=1000&cursor=${encodeURIComponent(r.body.nextCursor)}`,
              )
            : { body: { items: [] } };
          const all = [...r.body.items, ...r2.body.items];
          return all.length === TOTAL && all.every((e: any) => e.state === 'FINISHED');
        },
        60_000,
        200,
      );

      const byTag = new Map<string, string[]>();
      for (const h of rx.hits) {
        const ids = byTag.get(tagOf(h.body)) ?? [];
        ids.push(String(h.headers['webhook-id']));
        byTag.set(tagOf(h.body), ids);
      }
      expect([...byTag.keys()].sort()).toEqual([...expected].sort());
      const dupes = [...byTag.values()].filter((ids) => ids.length > 1);
      for (const ids of dupes) expect(new Set(ids).size).toBe(1);
      // Execution ids are unique per tag: one execution per event.
      expect(new Set([...byTag.values()].map((ids) => ids[0])).size).toBe(TOTAL);
      const extra = rx.hits.length - TOTAL;
      console.log(
        `[crash ${dialect}] killed after ${atKill.received} received (${atKill.open} open at the kill); ` +
          `total requests ${rx.hits.length}, duplicated deliveries ${dupes.length}, extra requests ${extra}`,
      );
      expect(dupes.every((ids) => ids.length === 2)).toBe(true);
      expect(extra).toBeLessThanOrEqual(CONCURRENCY);
      expect(extra).toBeGreaterThanOrEqual(0);
      // The kill happened midway, with sends in flight.
      expect(atKill.received).toBeLessThan(TOTAL);
    });
  });
}

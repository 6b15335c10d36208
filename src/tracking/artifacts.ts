import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../model/errors.js';
import type { EventDetails } from '../model/events.js';
import { checkAlias, checkName, checkTag } from '../model/names.js';
import type { Dialect } from '../store/db.js';
import type { DB } from '../store/schema.js';
import type { Actor, Ctx } from './context.js';
import { appendEvents, type NewEvent } from './events.js';
import { getProject, type ProjectRef } from './projects.js';
import { newId, now, parseJson } from './util.js';

const MAX_METADATA_BYTES = 64 * 1024;

/**
 * Gets (or creates) a collection and locks its row for the rest of the transaction, so version
 * numbers and alias moves in one collection are serialised: no gaps, no duplicates, no lost alias.
 */
async function lockCollection(
  trx: Kysely<DB>,
  dialect: Dialect,
  projectId: string,
  name: string,
  type: string | null,
): Promise<DB['collections'] | undefined> {
  if (type !== null) {
    await trx
      .insertInto('collections')
      .values({ id: newId(), project_id: projectId, name, type, next_version: 0, created_at: now() })
      .onConflict((oc) => oc.columns(['project_id', 'name']).doNothing())
      .execute();
  }
  let q = trx
    .selectFrom('collections')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('name', '=', name);
  if (dialect === 'postgres') q = q.forUpdate();
  return q.executeTakeFirst();
}

const versionString = (i: number) => `v${i}`;
function parseVersion(v: string): number {
  const m = /^v(\d{1,9})$/.exec(v);
  if (!m) throw new ValidationError(`version must look like v0, v1, … (got "${v}")`, 'version');
  return Number(m[1]);
}

function artifactDetails(
  p: ProjectRef,
  col: DB['collections'],
  version: DB['artifact_versions'],
  author: string,
): EventDetails {
  return {
    team: p.teamName,
    project: p.name,
    projectKind: p.kind,
    author,
    collection: col.name,
    artifactType: version.type,
    version: versionString(version.version_index),
    versionId: version.id,
    digest: version.digest,
    metadata: parseJson(version.metadata, {}),
  };
}

/** An artifact event of a project or registry collection, as the log records it. */
function artifactEvent(
  type: NewEvent['type'],
  p: ProjectRef,
  collection: string,
  actor: Actor,
  details: EventDetails,
): NewEvent {
  return { type, teamId: p.teamId, projectId: p.id, collection, actorId: actor.id, details };
}

/** Moves (or adds) an alias onto a version. Returns false when it already pointed there. */
async function putAlias(trx: Kysely<DB>, collectionId: string, alias: string, versionId: string) {
  const current = await trx
    .selectFrom('aliases')
    .select('version_id')
    .where('collection_id', '=', collectionId)
    .where('alias', '=', alias)
    .executeTakeFirst();
  if (current?.version_id === versionId) return false;
  if (current) {
    await trx
      .updateTable('aliases')
      .set({ version_id: versionId, created_at: now() })
      .where('collection_id', '=', collectionId)
      .where('alias', '=', alias)
      .execute();
  } else {
    await trx
      .insertInto('aliases')
      .values({ collection_id: collectionId, alias, version_id: versionId, created_at: now() })
      .execute();
  }
  return true;
}

function checkList(v: unknown, field: string, check: (x: unknown, f: string) => string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ValidationError(`${field} must be an array of strings`, field);
  return [...new Set(v.map((x, i) => check(x, `${field}[${i}]`)))];
}

export interface CreateVersionInput {
  collection?: unknown;
  type?: unknown;
  metadata?: unknown;
  digest?: unknown;
  aliases?: unknown;
  tags?: unknown;
}

export async function createArtifactVersion(
  ctx: Ctx,
  actor: Actor,
  p: ProjectRef,
  input: CreateVersionInput,
) {
  const collection = checkName(input.collection, 'collection');
  if (typeof input.type !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(input.type)) {
    throw new ValidationError(
      'type must be 1-64 letters, digits, "_" or "-" (e.g. "model", "dataset")',
      'type',
    );
  }
  const type = input.type;
  const metadata = input.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ValidationError('metadata must be a JSON object', 'metadata');
  }
  const metadataText = JSON.stringify(metadata);
  if (metadataText.length > MAX_METADATA_BYTES) {
    throw new ValidationError(`metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`, 'metadata');
  }
  if (input.digest !== undefined && (typeof input.digest !== 'string' || input.digest.length > 256)) {
    throw new ValidationError('digest must be a string of at most 256 characters', 'digest');
  }
  const aliases = checkList(input.aliases, 'aliases', checkAlias);
  const tags = checkList(input.tags, 'tags', checkTag);

  return ctx.db.transaction().execute(async (trx) => {
    const col = (await lockCollection(trx, ctx.dialect, p.id, collection, type))!;
    if (col.type !== type) {
      throw new ConflictError(`collection "${collection}" holds type "${col.type}", not "${type}"`, 'type');
    }
    const version: DB['artifact_versions'] = {
      id: newId(),
      collection_id: col.id,
      version_index: col.next_version,
      type,
      digest: (input.digest as string | undefined) ?? '',
      metadata: metadataText,
      created_by: actor.id,
      source_version_id: null,
      created_at: now(),
    };
    await trx.insertInto('artifact_versions').values(version).execute();
    await trx
      .updateTable('collections')
      .set({ next_version: col.next_version + 1 })
      .where('id', '=', col.id)
      .execute();
    // `latest` follows the newest version; it moves silently (no alias event for it).
    await putAlias(trx, col.id, 'latest', version.id);
    const base = artifactDetails(p, col, version, actor.username);
    const events: NewEvent[] = [artifactEvent('CREATE_ARTIFACT', p, collection, actor, base)];
    for (const alias of aliases) {
      await putAlias(trx, col.id, alias, version.id);
      events.push(artifactEvent('ADD_ARTIFACT_ALIAS', p, collection, actor, { ...base, alias }));
    }
    for (const tag of tags) {
      await trx.insertInto('tags').values({ version_id: version.id, tag, created_at: now() }).execute();
      events.push(artifactEvent('ADD_ARTIFACT_TAG', p, collection, actor, { ...base, tag }));
    }
    await appendEvents(trx, ctx.dialect, events);
    return {
      collection,
      version: versionString(version.version_index),
      aliases: ['latest', ...aliases],
      tags,
    };
  });
}

async function lockVersion(
  trx: Kysely<DB>,
  dialect: Dialect,
  p: ProjectRef,
  collection: string,
  version: string,
) {
  const index = parseVersion(version);
  const col = await lockCollection(trx, dialect, p.id, collection, null);
  if (!col) throw new NotFoundError(`collection "${collection}" not found in ${p.teamName}/${p.name}`);
  const v = await trx
    .selectFrom('artifact_versions')
    .selectAll()
    .where('collection_id', '=', col.id)
    .where('version_index', '=', index)
    .executeTakeFirst();
  if (!v) throw new NotFoundError(`version ${version} not found in collection "${collection}"`);
  return { col, v };
}

export type ArtifactChange =
  | { kind: 'alias'; alias: unknown }
  | { kind: 'tag'; tag: unknown }
  | { kind: 'untag'; tag: string };

/** Adds an alias (moving it from another version), adds a tag or removes one; emits its event. */
export async function changeArtifact(
  ctx: Ctx,
  actor: Actor,
  p: ProjectRef,
  collection: string,
  version: string,
  change: ArtifactChange,
) {
  const value =
    change.kind === 'alias'
      ? checkAlias(change.alias)
      : change.kind === 'tag'
        ? checkTag(change.tag)
        : checkTag(change.tag);
  return ctx.db.transaction().execute(async (trx) => {
    const { col, v } = await lockVersion(trx, ctx.dialect, p, collection, version);
    const base = artifactDetails(p, col, v, actor.username);
    let changed = false;
    let type: NewEvent['type'];
    if (change.kind === 'alias') {
      changed = await putAlias(trx, col.id, value, v.id);
      type = 'ADD_ARTIFACT_ALIAS';
    } else if (change.kind === 'tag') {
      const r = await trx
        .insertInto('tags')
        .values({ version_id: v.id, tag: value, created_at: now() })
        .onConflict((oc) => oc.columns(['version_id', 'tag']).doNothing())
        .executeTakeFirst();
      changed = Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
      type = 'ADD_ARTIFACT_TAG';
    } else {
      const r = await trx
        .deleteFrom('tags')
        .where('version_id', '=', v.id)
        .where('tag', '=', value)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new NotFoundError(`${version} has no tag "${value}"`);
      changed = true;
      type = 'REMOVE_ARTIFACT_TAG';
    }
    if (changed) {
      await appendEvents(trx, ctx.dialect, [
        artifactEvent(
          type,
          p,
          col.name,
          actor,
          change.kind === 'alias' ? { ...base, alias: value } : { ...base, tag: value },
        ),
      ]);
    }
    return versionView(trx, col, v);
  });
}

async function versionView(db: Kysely<DB>, col: DB['collections'], v: DB['artifact_versions']) {
  const [aliases, tags] = await Promise.all([
    db.selectFrom('aliases').select('alias').where('version_id', '=', v.id).orderBy('alias').execute(),
    db.selectFrom('tags').select('tag').where('version_id', '=', v.id).orderBy('tag').execute(),
  ]);
  return {
    collection: col.name,
    version: versionString(v.version_index),
    aliases: aliases.map((a) => a.alias),
    tags: tags.map((t) => t.tag),
  };
}

/** Collections of a project or registry with their versions, aliases and tags (newest version first). */
export async function listCollections(ctx: Ctx, p: ProjectRef, page: { cursor?: string; limit: number }) {
  let q = ctx.db
    .selectFrom('collections')
    .selectAll()
    .where('project_id', '=', p.id)
    .orderBy('name')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('name', '>', page.cursor);
  const cols = await q.execute();
  const more = cols.length > page.limit;
  const slice = cols.slice(0, page.limit);
  const items = [];
  for (const col of slice) {
    const versions = await ctx.db
      .selectFrom('artifact_versions')
      .selectAll()
      .where('collection_id', '=', col.id)
      .orderBy('version_index', 'desc')
      .limit(100)
      .execute();
    const ids = versions.map((v) => v.id);
    const aliases = ids.length
      ? await ctx.db
          .selectFrom('aliases')
          .select(['alias', 'version_id'])
          .where('version_id', 'in', ids)
          .execute()
      : [];
    const tags = ids.length
      ? await ctx.db.selectFrom('tags').select(['tag', 'version_id']).where('version_id', 'in', ids).execute()
      : [];
    const sources = await sourceStrings(
      ctx.db,
      versions.map((v) => v.source_version_id).filter((x): x is string => !!x),
    );
    items.push({
      collection: col.name,
      type: col.type,
      versions: versions.map((v) => ({
        version: versionString(v.version_index),
        aliases: aliases
          .filter((a) => a.version_id === v.id)
          .map((a) => a.alias)
          .sort(),
        tags: tags
          .filter((t) => t.version_id === v.id)
          .map((t) => t.tag)
          .sort(),
        digest: v.digest,
        metadata: parseJson(v.metadata, {}),
        source: v.source_version_id ? (sources.get(v.source_version_id) ?? null) : undefined,
        createdAt: v.created_at,
      })),
    });
  }
  return { items, nextCursor: more ? slice[slice.length - 1].name : null };
}

async function sourceStrings(db: Kysely<DB>, ids: string[]) {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('artifact_versions as v')
    .innerJoin('collections as c', 'c.id', 'v.collection_id')
    .innerJoin('projects as p', 'p.id', 'c.project_id')
    .innerJoin('teams as t', 't.id', 'p.team_id')
    .select(['v.id', 'v.version_index', 'c.name as collection', 'p.name as project', 't.name as team'])
    .where('v.id', 'in', ids)
    .execute();
  for (const r of rows) out.set(r.id, `${r.team}/${r.project}/${r.collection}:v${r.version_index}`);
  return out;
}

const SOURCE = /^([^/]+)\/([^/]+)\/([^/:]+):([A-Za-z0-9_.-]+)$/;

/** Links a project artifact version into a registry collection (a new version there). */
export async function linkArtifact(
  ctx: Ctx,
  actor: Actor,
  registry: ProjectRef,
  collectionName: string,
  input: { source?: unknown; aliases?: unknown },
) {
  const collection = checkName(collectionName, 'collection');
  if (typeof input.source !== 'string' || !SOURCE.test(input.source)) {
    throw new ValidationError('source must look like "team/project/collection:v3" (or :alias)', 'source');
  }
  const [, sTeam, sProject, sCollection, sRef] = SOURCE.exec(input.source)!;
  const aliases = checkList(input.aliases, 'aliases', checkAlias);
  const sp = await getProject(ctx, actor, sTeam, sProject, 'project');
  return ctx.db.transaction().execute(async (trx) => {
    const scol = await trx
      .selectFrom('collections')
      .selectAll()
      .where('project_id', '=', sp.id)
      .where('name', '=', sCollection)
      .executeTakeFirst();
    if (!scol) throw new NotFoundError(`source collection "${sCollection}" not found`);
    const sv = /^v\d+$/.test(sRef)
      ? await trx
          .selectFrom('artifact_versions')
          .selectAll()
          .where('collection_id', '=', scol.id)
          .where('version_index', '=', Number(sRef.slice(1)))
          .executeTakeFirst()
      : await trx
          .selectFrom('aliases')
          .innerJoin('artifact_versions', 'artifact_versions.id', 'aliases.version_id')
          .selectAll('artifact_versions')
          .where('aliases.collection_id', '=', scol.id)
          .where('aliases.alias', '=', sRef)
          .executeTakeFirst();
    if (!sv) throw new NotFoundError(`source version "${input.source}" not found`);
    const col = (await lockCollection(trx, ctx.dialect, registry.id, collection, sv.type))!;
    if (col.type !== sv.type) {
      throw new ConflictError(
        `registry collection "${collection}" holds type "${col.type}", not "${sv.type}"`,
        'source',
      );
    }
    const existing = await trx
      .selectFrom('artifact_versions')
      .select('version_index')
      .where('collection_id', '=', col.id)
      .where('source_version_id', '=', sv.id)
      .executeTakeFirst();
    if (existing) {
      throw new ConflictError(`${input.source} is already linked as v${existing.version_index}`, 'source');
    }
    const link: DB['artifact_versions'] = {
      ...sv,
      id: newId(),
      collection_id: col.id,
      version_index: col.next_version,
      created_by: actor.id,
      source_version_id: sv.id,
      created_at: now(),
    };
    await trx.insertInto('artifact_versions').values(link).execute();
    await trx
      .updateTable('collections')
      .set({ next_version: col.next_version + 1 })
      .where('id', '=', col.id)
      .execute();
    await putAlias(trx, col.id, 'latest', link.id);
    const base = { ...artifactDetails(registry, col, link, actor.username), source: input.source as string };
    const events: NewEvent[] = [artifactEvent('LINK_ARTIFACT', registry, collection, actor, base)];
    for (const alias of aliases) {
      await putAlias(trx, col.id, alias, link.id);
      events.push(artifactEvent('ADD_ARTIFACT_ALIAS', registry, collection, actor, { ...base, alias }));
    }
    await appendEvents(trx, ctx.dialect, events);
    return { ...(await versionView(trx, col, link)), source: input.source as string };
  });
}

export async function unlinkArtifact(
  ctx: Ctx,
  actor: Actor,
  registry: ProjectRef,
  collection: string,
  version: string,
) {
  return ctx.db.transaction().execute(async (trx) => {
    const { col, v } = await lockVersion(trx, ctx.dialect, registry, collection, version);
    const base = artifactDetails(registry, col, v, actor.username);
    const source = (await sourceStrings(trx, v.source_version_id ? [v.source_version_id] : [])).get(
      v.source_version_id ?? '',
    );
    await trx.deleteFrom('aliases').where('version_id', '=', v.id).execute();
    await trx.deleteFrom('tags').where('version_id', '=', v.id).execute();
    await trx.deleteFrom('artifact_versions').where('id', '=', v.id).execute();
    // `latest` follows the newest remaining link.
    const newest = await trx
      .selectFrom('artifact_versions')
      .select('id')
      .where('collection_id', '=', col.id)
      .orderBy('version_index', 'desc')
      .executeTakeFirst();
    if (newest) await putAlias(trx, col.id, 'latest', newest.id);
    await appendEvents(trx, ctx.dialect, [
      artifactEvent('UNLINK_ARTIFACT', registry, col.name, actor, { ...base, source }),
    ]);
    return { collection: col.name, version, unlinked: true };
  });
}

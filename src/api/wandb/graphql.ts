import { buildSchema, GraphQLError, graphql } from 'graphql';
import { AppError } from '../../model/errors.js';
import type { Actor, Ctx } from '../../tracking/context.js';
import { getProject } from '../../tracking/projects.js';
import { listTeamsOf } from '../../tracking/teams.js';
import {
  DEFAULT_PROJECT,
  findWandbRun,
  type UpsertBucketInput,
  upsertWandbRun,
  type WandbRun,
} from '../../tracking/wandb-runs.js';

/**
 * The part of W&B's GraphQL API that W&B's clients need to log runs: the operations `Viewer`,
 * `UpsertBucket` and `RunUploadUrls` of `@wandb/sdk` (see its internal/api.js) select exactly these
 * fields. W&B calls a project a "model" and a run a "bucket" on this API.
 */
export const WANDB_SDL = /* GraphQL */ `
  "A JSON document encoded as a string."
  scalar JSONString
  "An ISO-8601 date-time string."
  scalar DateTime

  type Query {
    viewer: User
    "A project (W&B's old name for it: model)."
    model(name: String, entityName: String): Project
    project(name: String, entityName: String): Project
  }

  type Mutation {
    "Creates or updates a run by name within entity/project; the project is created on first use."
    upsertBucket(input: UpsertBucketInput!): UpsertBucketPayload
  }

  type User {
    id: ID!
    name: String!
    username: String!
    "The default entity: the user's personal team."
    entity: String!
    flags: JSONString
    teams: EntityConnection!
  }

  type EntityConnection {
    edges: [EntityEdge!]!
  }
  type EntityEdge {
    node: Entity!
  }
  type Entity {
    id: ID!
    name: String!
  }

  type Project {
    id: ID!
    name: String!
    entityName: String!
    entity: Entity!
    "A run by name (W&B's old name for it: bucket)."
    bucket(name: String!, desc: String, missingOk: Boolean): Run
    run(name: String!): Run
  }

  type Run {
    id: ID!
    name: String!
    displayName: String
    description: String
    state: String!
    config: JSONString
    summaryMetrics: JSONString
    tags: [String!]!
    sweepName: String
    historyLineCount: Int!
    eventsLineCount: Int!
    project: Project!
    files(names: [String]): FileConnection!
  }

  type FileConnection {
    uploadHeaders: [String!]!
    edges: [FileEdge!]!
  }
  type FileEdge {
    node: File!
  }
  type File {
    id: ID!
    name: String!
    url(upload: Boolean): String
    updatedAt: DateTime
  }

  input UpsertBucketInput {
    id: String
    name: String
    groupName: String
    modelName: String
    entityName: String
    description: String
    displayName: String
    notes: String
    config: JSONString
    commit: String
    host: String
    debug: Boolean
    jobProgram: String
    jobRepo: String
    jobType: String
    state: String
    sweep: String
    tags: [String!]
    summaryMetrics: JSONString
  }

  type UpsertBucketPayload {
    bucket: Run
    inserted: Boolean!
  }
`;

const schema = buildSchema(WANDB_SDL);

export interface GraphQLContext {
  ctx: Ctx;
  actor: Actor;
  /** Signs upload URLs for a run's files (see index.ts). */
  uploadUrl(run: WandbRun, file: string): string;
}

function projectNode(
  entity: { id: string; name: string },
  project: { id: string; name: string },
  gctx: GraphQLContext,
) {
  return {
    id: project.id,
    name: project.name,
    entityName: entity.name,
    entity,
    bucket: async ({ name }: { name: string }) => {
      const run = await findWandbRun(gctx.ctx, gctx.actor, entity.name, project.name, name);
      return run ? runNode(run, gctx) : null;
    },
    run: async ({ name }: { name: string }) => {
      const run = await findWandbRun(gctx.ctx, gctx.actor, entity.name, project.name, name);
      return run ? runNode(run, gctx) : null;
    },
  };
}

function runNode(run: WandbRun, gctx: GraphQLContext) {
  const p = run.project;
  return {
    id: run.storageId,
    name: run.name,
    displayName: run.displayName,
    description: null,
    state: run.state.toLowerCase(),
    config: JSON.stringify(run.config),
    summaryMetrics: JSON.stringify(run.summary),
    tags: run.tags,
    sweepName: null,
    historyLineCount: run.streamOffsets['wandb-history.jsonl'] ?? 0,
    eventsLineCount: run.streamOffsets['wandb-events.jsonl'] ?? 0,
    project: projectNode({ id: p.teamId, name: p.teamName }, p, gctx),
    files: ({ names }: { names?: Array<string | null> | null }) => ({
      uploadHeaders: [],
      edges: (names ?? [])
        .filter((n): n is string => typeof n === 'string' && n.length > 0)
        .map((name) => ({
          node: {
            id: `${run.storageId}/${name}`,
            name,
            url: () => gctx.uploadUrl(run, name),
            updatedAt: null,
          },
        })),
    }),
  };
}

const rootValue = {
  viewer: async (_args: unknown, g: GraphQLContext) => {
    const teams = await listTeamsOf(g.ctx, g.actor);
    return {
      id: g.actor.id,
      name: g.actor.username,
      username: g.actor.username,
      entity: g.actor.username,
      flags: '{}',
      teams: { edges: teams.map((t) => ({ node: { id: t.name, name: t.name } })) },
    };
  },
  model: (args: { name?: string | null; entityName?: string | null }, g: GraphQLContext) =>
    findProject(args, g),
  project: (args: { name?: string | null; entityName?: string | null }, g: GraphQLContext) =>
    findProject(args, g),
  upsertBucket: async ({ input }: { input: Record<string, any> }, g: GraphQLContext) => {
    const upsert: UpsertBucketInput = {
      name: input.name,
      project: input.modelName,
      entity: input.entityName,
      displayName: input.displayName,
      config: input.config,
      tags: input.tags,
      summaryMetrics: input.summaryMetrics,
      state: input.state,
    };
    const { run, inserted } = await upsertWandbRun(g.ctx, g.actor, upsert);
    return { bucket: runNode(run, g), inserted };
  },
};

async function findProject(args: { name?: string | null; entityName?: string | null }, g: GraphQLContext) {
  const entity = args.entityName || g.actor.username;
  const name = args.name || DEFAULT_PROJECT;
  // The same access rules as the REST API: a team the caller is not in looks like no project.
  try {
    const p = await getProject(g.ctx, g.actor, entity, name, 'project');
    return projectNode({ id: p.teamId, name: p.teamName }, p, g);
  } catch (err) {
    if (err instanceof AppError && err.status === 404) return null;
    throw err;
  }
}

export interface GraphQLRequestBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/**
 * Executes one GraphQL request. Parse and validation errors (an unknown operation or field) and
 * resolver errors come back as `{errors: […]}`, as GraphQL servers answer: never a crash.
 */
export async function executeWandbGraphQL(body: GraphQLRequestBody, gctx: GraphQLContext) {
  if (typeof body.query !== 'string' || body.query.trim() === '') {
    return {
      status: 400 as const,
      result: { errors: [{ message: 'the body must carry a GraphQL "query" string' }] },
    };
  }
  if (body.variables != null && (typeof body.variables !== 'object' || Array.isArray(body.variables))) {
    return { status: 400 as const, result: { errors: [{ message: '"variables" must be an object' }] } };
  }
  const result = await graphql({
    schema,
    source: body.query,
    rootValue,
    contextValue: gctx,
    variableValues: (body.variables as Record<string, unknown> | null) ?? undefined,
    operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
  });
  // A resolver failure that is not a user-facing error is a bug: the route logs it and answers 500.
  const unexpected = result.errors?.find((e) => isInternal(e.originalError));
  if (unexpected) throw unexpected.originalError;
  if (!result.errors) return { status: 200 as const, result };
  return { status: httpStatus(result.errors), result: { ...result, errors: result.errors.map(formatError) } };
}

/**
 * W&B answers a failed operation with an HTTP error status as well as the GraphQL errors (users know
 * "returned error 404 Not Found: {"errors":[…],"data":{"upsertBucket":null}}"). W&B's clients rely on
 * it: @wandb/sdk ignores GraphQL errors in a 200 answer, and would log to a run that does not exist.
 * A request that does not parse or validate (an unknown operation or field) is a 400. Statuses above
 * 404 become 400: the JS client retries those for minutes, and retrying cannot fix the request.
 */
function httpStatus(errors: readonly GraphQLError[]): 400 | 401 | 403 | 404 {
  for (const e of errors) {
    const orig = e.originalError;
    if (orig instanceof AppError && (orig.status === 401 || orig.status === 403 || orig.status === 404)) {
      return orig.status;
    }
  }
  return 400;
}

const isInternal = (err: Error | undefined) =>
  !!err && !(err instanceof AppError) && !(err instanceof GraphQLError);

function formatError(e: GraphQLError) {
  const out: Record<string, unknown> = { message: e.message };
  if (e.locations) out.locations = e.locations;
  if (e.path) out.path = e.path;
  const orig = e.originalError;
  if (orig instanceof AppError)
    out.extensions = { code: orig.code, ...(orig.field ? { field: orig.field } : {}) };
  return out;
}

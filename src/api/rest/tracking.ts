import { Hono } from 'hono';
import { AppError, ValidationError } from '../../model/errors.js';
import {
  changeArtifact,
  createArtifactVersion,
  linkArtifact,
  listCollections,
  unlinkArtifact,
} from '../../tracking/artifacts.js';
import type { Ctx } from '../../tracking/context.js';
import { listTeamEvents } from '../../tracking/event-log.js';
import { createProject, getProject, getProjectForAppend, listProjects } from '../../tracking/projects.js';
import {
  appendMetrics,
  createRun,
  getRunView,
  listMetricNames,
  listRuns,
  parseHistoryRows,
  readHistory,
  setRunState,
} from '../../tracking/runs.js';
import { createTeam, getTeam, listTeamsOf, setMember } from '../../tracking/teams.js';
import { createUser, isInstanceAdmin } from '../../tracking/users.js';
import { actorOf, type Env, page, readJson } from '../http.js';

/** Users, teams, projects, registries, runs, metric history and artifacts. */
export function trackingRoutes(ctx: Ctx) {
  const r = new Hono<Env>();

  r.get('/viewer', async (c) => {
    const actor = actorOf(c);
    return c.json({ username: actor.username, teams: await listTeamsOf(ctx, actor) });
  });

  r.post('/users', async (c) => {
    if (!isInstanceAdmin(actorOf(c)))
      throw new AppError(403, 'forbidden', 'only the instance admin creates users');
    const body = await readJson(c);
    const { user, apiKey } = await createUser(ctx, body.username);
    return c.json({ username: user.username, apiKey }, 201);
  });

  r.post('/teams', async (c) => {
    const body = await readJson(c);
    return c.json(await createTeam(ctx, actorOf(c), body.name), 201);
  });
  r.get('/teams/:team', async (c) => c.json(await getTeam(ctx, actorOf(c), c.req.param('team'))));
  r.put('/teams/:team/members/:username', async (c) => {
    const body = await readJson(c);
    return c.json(await setMember(ctx, actorOf(c), c.req.param('team'), c.req.param('username'), body.role));
  });

  r.get('/teams/:team/events', async (c) => {
    const { limit, cursor } = page(c);
    return c.json(
      await listTeamEvents(ctx, actorOf(c), c.req.param('team'), c.req.query('after') ?? cursor, limit),
    );
  });

  for (const [path, kind] of [
    ['projects', 'project'],
    ['registries', 'registry'],
  ] as const) {
    r.post(`/teams/:team/${path}`, async (c) => {
      const body = await readJson(c);
      return c.json(await createProject(ctx, actorOf(c), c.req.param('team'), body.name, kind), 201);
    });
    r.get(`/teams/:team/${path}`, async (c) =>
      c.json(await listProjects(ctx, actorOf(c), c.req.param('team'), kind, page(c))),
    );
    r.get(`/teams/:team/${path}/:name`, async (c) => {
      const p = await getProject(ctx, actorOf(c), c.req.param('team'), c.req.param('name'), kind);
      return c.json({ name: p.name, team: p.teamName, kind: p.kind });
    });
  }

  const project = (c: { req: { param(k: string): string } }, actor: ReturnType<typeof actorOf>) =>
    getProject(ctx, actor, c.req.param('team'), c.req.param('project'), 'project');

  r.post('/teams/:team/projects/:project/runs', async (c) => {
    const actor = actorOf(c);
    const p = await project(c, actor);
    const body = await readJson(c);
    return c.json(await createRun(ctx, actor, p, body), 201);
  });
  r.get('/teams/:team/projects/:project/runs', async (c) =>
    c.json(await listRuns(ctx, actorOf(c), c.req.param('team'), c.req.param('project'), page(c))),
  );
  r.get('/teams/:team/projects/:project/metrics', async (c) =>
    c.json({ names: await listMetricNames(ctx, actorOf(c), c.req.param('team'), c.req.param('project')) }),
  );
  r.get('/teams/:team/projects/:project/runs/:run', async (c) =>
    c.json(
      await getRunView(ctx, actorOf(c), c.req.param('team'), c.req.param('project'), c.req.param('run')),
    ),
  );
  r.patch('/teams/:team/projects/:project/runs/:run', async (c) => {
    const body = await readJson(c);
    if (body.state === undefined) throw new ValidationError('state is required', 'state');
    const { team, project: proj, run } = c.req.param();
    return c.json(await setRunState(ctx, actorOf(c), team, proj, run, body.state));
  });
  for (const [path, table] of [
    ['history', 'history'],
    ['system', 'system'],
  ] as const) {
    r.post(`/teams/:team/projects/:project/runs/:run/${path}`, async (c) => {
      const actor = actorOf(c);
      // The hot ingest path: the (user, team, project) lookup is reused for a few seconds.
      const p = await getProjectForAppend(ctx, actor, c.req.param('team'), c.req.param('project'));
      const body = await readJson(c);
      const rows = parseHistoryRows(body.rows);
      return c.json(await appendMetrics(ctx, actor, p, c.req.param('run'), rows, table));
    });
    r.get(`/teams/:team/projects/:project/runs/:run/${path}`, async (c) => {
      const keys = c.req.query('keys')?.split(',').filter(Boolean);
      const { team, project: proj, run } = c.req.param();
      return c.json({ rows: await readHistory(ctx, actorOf(c), team, proj, run, { keys, table }) });
    });
  }

  r.post('/teams/:team/projects/:project/artifacts', async (c) => {
    const actor = actorOf(c);
    const p = await project(c, actor);
    return c.json(await createArtifactVersion(ctx, actor, p, await readJson(c)), 201);
  });
  r.get('/teams/:team/projects/:project/artifacts', async (c) => {
    const p = await project(c, actorOf(c));
    return c.json(await listCollections(ctx, p, page(c)));
  });
  r.post('/teams/:team/projects/:project/artifacts/:collection/:version/aliases', async (c) => {
    const actor = actorOf(c);
    const p = await project(c, actor);
    const body = await readJson(c);
    const { collection, version } = c.req.param();
    return c.json(
      await changeArtifact(ctx, actor, p, collection, version, { kind: 'alias', alias: body.alias }),
    );
  });
  r.post('/teams/:team/projects/:project/artifacts/:collection/:version/tags', async (c) => {
    const actor = actorOf(c);
    const p = await project(c, actor);
    const body = await readJson(c);
    const { collection, version } = c.req.param();
    return c.json(await changeArtifact(ctx, actor, p, collection, version, { kind: 'tag', tag: body.tag }));
  });
  r.delete('/teams/:team/projects/:project/artifacts/:collection/:version/tags/:tag', async (c) => {
    const actor = actorOf(c);
    const p = await project(c, actor);
    const { collection, version, tag } = c.req.param();
    return c.json(await changeArtifact(ctx, actor, p, collection, version, { kind: 'untag', tag }));
  });

  const registry = (c: { req: { param(k: string): string } }, actor: ReturnType<typeof actorOf>) =>
    getProject(ctx, actor, c.req.param('team'), c.req.param('registry'), 'registry');
  r.get('/teams/:team/registries/:registry/collections', async (c) => {
    const reg = await registry(c, actorOf(c));
    return c.json(await listCollections(ctx, reg, page(c)));
  });
  r.post('/teams/:team/registries/:registry/collections/:collection/:version/aliases', async (c) => {
    const actor = actorOf(c);
    const reg = await registry(c, actor);
    const body = await readJson(c);
    const { collection, version } = c.req.param();
    return c.json(
      await changeArtifact(ctx, actor, reg, collection, version, { kind: 'alias', alias: body.alias }),
    );
  });
  r.post('/teams/:team/registries/:registry/collections/:collection/:version/tags', async (c) => {
    const actor = actorOf(c);
    const reg = await registry(c, actor);
    const body = await readJson(c);
    const { collection, version } = c.req.param();
    return c.json(await changeArtifact(ctx, actor, reg, collection, version, { kind: 'tag', tag: body.tag }));
  });
  r.delete('/teams/:team/registries/:registry/collections/:collection/:version/tags/:tag', async (c) => {
    const actor = actorOf(c);
    const reg = await registry(c, actor);
    const { collection, version, tag } = c.req.param();
    return c.json(await changeArtifact(ctx, actor, reg, collection, version, { kind: 'untag', tag }));
  });
  r.post('/teams/:team/registries/:registry/collections/:collection/links', async (c) => {
    const actor = actorOf(c);
    const reg = await registry(c, actor);
    return c.json(await linkArtifact(ctx, actor, reg, c.req.param('collection'), await readJson(c)), 201);
  });
  r.delete('/teams/:team/registries/:registry/collections/:collection/links/:version', async (c) => {
    const actor = actorOf(c);
    const reg = await registry(c, actor);
    return c.json(await unlinkArtifact(ctx, actor, reg, c.req.param('collection'), c.req.param('version')));
  });

  return r;
}

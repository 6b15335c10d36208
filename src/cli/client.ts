import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';
import { Command } from 'commander';
import pc from 'picocolors';

interface GlobalOpts {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server URL (TRIPLINE_URL, default http://127.0.0.1:8240)')
    .option('--api-key <key>', 'API key (TRIPLINE_API_KEY, else ./.tripline/admin-api-key)')
    .option('--json', 'print the raw JSON response');
}

function connection(opts: GlobalOpts) {
  const url = (opts.url ?? process.env.TRIPLINE_URL ?? 'http://127.0.0.1:8240').replace(/\/$/, '');
  let key = opts.apiKey ?? process.env.TRIPLINE_API_KEY;
  const keyFile = join(process.env.TRIPLINE_DATA_DIR ?? '.tripline', 'admin-api-key');
  if (!key && existsSync(keyFile)) key = readFileSync(keyFile, 'utf8').trim();
  if (!key) throw new Error('no API key: pass --api-key or set TRIPLINE_API_KEY');
  return { url, key };
}

async function call(opts: GlobalOpts, method: string, path: string, body?: unknown): Promise<any> {
  const { url, key } = connection(opts);
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(
      `cannot reach ${url}: ${(err as Error).cause ?? (err as Error).message}. Is the server running?`,
    );
  }
  const text = await res.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new Error(
      `${res.status} ${res.statusText}: the answer from ${url} is not JSON. Is it a Tripline server?`,
    );
  }
  if (!res.ok) {
    const e = data.error ?? {};
    throw new Error(`${res.status} ${e.message ?? res.statusText}${e.field ? ` (field: ${e.field})` : ''}`);
  }
  return data;
}

function print(opts: GlobalOpts, data: unknown, human: string) {
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

function splitPath(path: string, parts: number, shape: string): string[] {
  const p = path.split('/');
  if (p.length !== parts || p.some((x) => !x)) throw new Error(`expected ${shape}, got "${path}"`);
  return p.map(encodeURIComponent);
}

function parseOption(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${name} is not JSON: ${(err as Error).message}`);
  }
}

function readRows(file: string | undefined, inline: string[] | undefined): unknown[] {
  const text = inline?.length ? inline.join('\n') : readFileSync(file && file !== '-' ? file : 0, 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`line ${i + 1} is not JSON: ${l.slice(0, 60)}`);
      }
    });
}

/** Commands that drive a running server through the REST API, for shell scripts. */
export function clientCommands(): Command[] {
  const user = new Command('user').description('manage users (instance admin)');
  withConnection(
    user.command('create <username>').description('create a user; prints its API key once'),
  ).action(async (username, opts) => {
    const r = await call(opts, 'POST', '/users', { username });
    print(opts, r, `created user ${pc.bold(r.username)}\nAPI key (shown once): ${pc.green(r.apiKey)}`);
  });

  const team = new Command('team').description('manage teams');
  withConnection(team.command('create <name>').description('create a team; you become its admin')).action(
    async (name, opts) =>
      print(opts, await call(opts, 'POST', '/teams', { name }), `created team ${pc.bold(name)}`),
  );
  withConnection(
    team
      .command('member <team> <username>')
      .description('add a member or change a role')
      .option('--role <role>', 'admin or member', 'member'),
  ).action(async (t, u, opts) =>
    print(
      opts,
      await call(opts, 'PUT', `/teams/${t}/members/${u}`, { role: opts.role }),
      `${u} is ${opts.role} of ${t}`,
    ),
  );

  const project = new Command('project').description('manage projects');
  withConnection(project.command('create <team/project>').description('create a project')).action(
    async (path, opts) => {
      const [t, p] = splitPath(path, 2, 'team/project');
      print(
        opts,
        await call(opts, 'POST', `/teams/${t}/projects`, { name: decodeURIComponent(p) }),
        `created ${path}`,
      );
    },
  );
  const registry = new Command('registry').description('manage registries');
  withConnection(registry.command('create <team/registry>').description('create a registry')).action(
    async (path, opts) => {
      const [t, r] = splitPath(path, 2, 'team/registry');
      print(
        opts,
        await call(opts, 'POST', `/teams/${t}/registries`, { name: decodeURIComponent(r) }),
        `created ${path}`,
      );
    },
  );

  const run = new Command('run').description('log runs');
  withConnection(
    run
      .command('create <team/project>')
      .description('start a run (state RUNNING); prints its id')
      .option('--id <id>', 'run id (default: generated)')
      .option('--name <displayName>', 'display name'),
  ).action(async (path, opts) => {
    const [t, p] = splitPath(path, 2, 'team/project');
    const r = await call(opts, 'POST', `/teams/${t}/projects/${p}/runs`, {
      id: opts.id,
      displayName: opts.name,
    });
    print(opts, r, r.id);
  });
  withConnection(
    run
      .command('log <team/project/run>')
      .description('append metric history rows (JSON lines from --file, stdin or --row)')
      .option('-f, --file <file>', 'JSON-lines file ("-" for stdin)')
      .option('-r, --row <json...>', 'inline rows, e.g. \'{"_step":0,"loss":0.9}\'')
      .option('--batch <n>', 'rows per request', '1000'),
  ).action(async (path, opts) => {
    const [t, p, r] = splitPath(path, 3, 'team/project/run');
    const rows = readRows(opts.file, opts.row);
    const batch = Math.max(1, Number(opts.batch));
    for (let i = 0; i < rows.length; i += batch) {
      await call(opts, 'POST', `/teams/${t}/projects/${p}/runs/${r}/history`, {
        rows: rows.slice(i, i + batch),
      });
      if (!opts.json && rows.length > batch)
        process.stderr.write(`\r${Math.min(i + batch, rows.length)}/${rows.length} rows`);
    }
    if (rows.length > batch) process.stderr.write('\n');
    print(opts, { count: rows.length }, `logged ${rows.length} rows to ${path}`);
  });
  withConnection(
    run
      .command('finish <team/project/run>')
      .description('set the final state')
      .option('--state <state>', 'FINISHED, FAILED, CRASHED or KILLED', 'FINISHED'),
  ).action(async (path, opts) => {
    const [t, p, r] = splitPath(path, 3, 'team/project/run');
    const res = await call(opts, 'PATCH', `/teams/${t}/projects/${p}/runs/${r}`, { state: opts.state });
    print(opts, res, `${path} is ${res.state}`);
  });
  withConnection(run.command('list <team/project>').description('list runs')).action(async (path, opts) => {
    const [t, p] = splitPath(path, 2, 'team/project');
    const res = await call(opts, 'GET', `/teams/${t}/projects/${p}/runs`);
    const table = new Table({ head: ['id', 'name', 'state', 'author', 'started'] });
    for (const r of res.items) table.push([r.id, r.displayName, r.state, r.author, r.createdAt]);
    print(opts, res, res.items.length ? table.toString() : 'no runs yet');
  });

  const artifact = new Command('artifact').description('log artifact versions, aliases, tags and links');
  withConnection(
    artifact
      .command('create <team/project>')
      .description('add a version to a collection')
      .requiredOption('--collection <name>', 'collection name')
      .requiredOption('--type <type>', 'artifact type, e.g. model')
      .option('--alias <alias...>', 'aliases')
      .option('--tag <tag...>', 'tags')
      .option('--metadata <json>', 'metadata JSON object'),
  ).action(async (path, opts) => {
    const [t, p] = splitPath(path, 2, 'team/project');
    const res = await call(opts, 'POST', `/teams/${t}/projects/${p}/artifacts`, {
      collection: opts.collection,
      type: opts.type,
      aliases: opts.alias,
      tags: opts.tag,
      metadata: opts.metadata ? parseOption(opts.metadata, '--metadata') : undefined,
    });
    print(opts, res, `${opts.collection}:${res.version} [${res.aliases.join(', ')}]`);
  });
  withConnection(
    artifact.command('alias <team/project/collection:vN> <alias>').description('add or move an alias'),
  ).action(async (ref, alias, opts) => {
    const [path, version] = ref.split(':');
    const [t, p, c] = splitPath(path, 3, 'team/project/collection:vN');
    const res = await call(opts, 'POST', `/teams/${t}/projects/${p}/artifacts/${c}/${version}/aliases`, {
      alias,
    });
    print(opts, res, `${ref} aliases: ${res.aliases.join(', ')}`);
  });
  withConnection(
    artifact
      .command('link <team/project/collection:vN> <team/registry/collection>')
      .description('link a version into a registry')
      .option('--alias <alias...>', 'aliases in the registry'),
  ).action(async (source, target, opts) => {
    const [t, r, c] = splitPath(target, 3, 'team/registry/collection');
    const res = await call(opts, 'POST', `/teams/${t}/registries/${r}/collections/${c}/links`, {
      source,
      aliases: opts.alias,
    });
    print(opts, res, `linked ${source} as ${target}:${res.version}`);
  });

  const automation = new Command('automation').description('list automations and their history');
  const stateColor = (st: string) =>
    st === 'FINISHED' ? pc.green(st) : st === 'FAILED' ? pc.red(st) : pc.yellow(st);
  withConnection(
    automation
      .command('list <team>')
      .description("list a team's automations")
      .option('--project <project>', 'only this project')
      .option('--registry <registry>', 'only this registry'),
  ).action(async (t, opts) => {
    const q = new URLSearchParams({ team: t });
    if (opts.project) q.set('project', opts.project);
    if (opts.registry) q.set('registry', opts.registry);
    const res = await call(opts, 'GET', `/automations?${q}`);
    const table = new Table({
      head: ['id', 'name', 'event', 'action', 'enabled', 'last fired', 'suppressed'],
    });
    for (const a of res.items) {
      table.push([
        a.id.slice(0, 8),
        a.name,
        a.event.type,
        a.action.type,
        a.enabled ? pc.green('yes') : pc.dim('no'),
        a.lastExecutionAt ?? pc.dim('never'),
        a.suppressedCount,
      ]);
    }
    print(
      opts,
      res,
      res.items.length
        ? table.toString()
        : 'no automations yet: create one in the web UI or with POST /api/v1/automations',
    );
  });
  withConnection(
    automation
      .command('history <team>')
      .description('executions, newest first')
      .option('--automation <id>', 'only this automation (full id)')
      .option('--project <project>', 'only this project')
      .option('--limit <n>', 'how many', '20'),
  ).action(async (t, opts) => {
    const limit = encodeURIComponent(opts.limit);
    const res = opts.automation
      ? await call(
          opts,
          'GET',
          `/automations/${encodeURIComponent(opts.automation)}/executions?limit=${limit}`,
        )
      : await call(
          opts,
          'GET',
          `/teams/${encodeURIComponent(t)}/executions?limit=${limit}${opts.project ? `&project=${encodeURIComponent(opts.project)}` : ''}`,
        );
    const table = new Table({ head: ['time', 'automation', 'event', 'action', 'state', 'result'] });
    for (const e of res.items) {
      const result = e.result.error ?? (e.result.status ? `HTTP ${e.result.status}` : '');
      table.push([
        e.triggeredAt,
        e.automationName,
        e.event.type,
        e.action.target ?? e.action.type,
        stateColor(e.state),
        result,
      ]);
    }
    print(opts, res, res.items.length ? table.toString() : 'no executions yet');
  });

  return [user, team, project, registry, run, artifact, automation];
}

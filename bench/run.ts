/**
 * Runs the benchmarks in bench/: every `bench/*.ts` except this runner and `lib.ts`, one after
 * another, each as its own child process (`tsx bench/<name>.ts`), or only the named ones.
 *
 *   npm run bench                       # all of them
 *   npm run bench -- ingest             # bench/ingest.ts
 *   npm run bench -- ingest engine      # several, in that order
 *   npm run bench -- ingest --rows 50000   # options after the names go to each benchmark
 *
 * Exits non-zero when a benchmark fails (crashes or exits non-zero); the others still run.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fmt, machine, now } from './lib.js';

const DIR = import.meta.dirname;
const NOT_BENCHMARKS = new Set(['run', 'lib']);

const available = readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => basename(f, '.ts'))
  .filter((name) => !NOT_BENCHMARKS.has(name))
  .sort();

const argv = process.argv.slice(2);
const firstOption = argv.findIndex((a) => a.startsWith('-'));
const names = (firstOption < 0 ? argv : argv.slice(0, firstOption)).map((n) => basename(n, '.ts'));
const passThrough = firstOption < 0 ? [] : argv.slice(firstOption);

if (names.includes('help') || (passThrough.includes('--help') && names.length === 0)) {
  console.log(
    `usage: npm run bench -- [name …] [options for the benchmarks]\nbenchmarks: ${available.join(', ')}`,
  );
  process.exit(0);
}
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`no benchmark named ${unknown.join(', ')}; there are: ${available.join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? names : available;

function runOne(name: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(DIR, `${name}.ts`), ...passThrough], {
      stdio: 'inherit',
      cwd: join(DIR, '..'),
    });
    // Ctrl-C reaches the child through the terminal; do not leave it behind if the runner is killed.
    const stop = () => child.kill('SIGTERM');
    process.once('SIGTERM', stop);
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', stop);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

console.log(`running ${selected.join(', ')} — ${machine()}`);
const results: Array<{ name: string; code: number; seconds: number }> = [];
for (const name of selected) {
  console.log(`\n━━ bench/${name}.ts ${'━'.repeat(Math.max(0, 60 - name.length))}`);
  const t0 = now();
  const code = await runOne(name);
  results.push({ name, code, seconds: (now() - t0) / 1000 });
}
console.log('\n━━ summary');
for (const r of results)
  console.log(
    `  ${r.name.padEnd(12)} ${r.code === 0 ? 'ok    ' : `FAILED (exit ${r.code})`} ${fmt(r.seconds, 1)} s`,
  );
if (results.some((r) => r.code !== 0)) process.exitCode = 1;

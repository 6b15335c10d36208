import { Command } from 'commander';
import pc from 'picocolors';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';

export function serveCommand() {
  return new Command('serve')
    .description('run the server (API, web UI, engine and delivery worker)')
    .option('-p, --port <port>', 'port to listen on (TRIPLINE_PORT, default 8240)')
    .option('--host <host>', 'address to bind (TRIPLINE_HOST, default 127.0.0.1)')
    .option('-d, --data-dir <dir>', 'data directory (TRIPLINE_DATA_DIR, default ./.tripline)')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL (TRIPLINE_DATABASE_URL); default SQLite')
    .option('--role <role>', 'all | api | engine | worker (TRIPLINE_ROLE, default all)')
    .action(async (opts) => {
      const config = loadConfig(process.env, {
        port: opts.port === undefined ? undefined : Number(opts.port),
        host: opts.host,
        dataDir: opts.dataDir,
        databaseUrl: opts.databaseUrl,
        role: opts.role,
      });
      const server = await startServer(config);
      const db = server.store.dialect === 'sqlite' ? `SQLite in ${config.dataDir}` : 'PostgreSQL';
      const out = process.stdout;
      out.write(`\n  ${pc.bold('Tripline')} is running (${config.role}) on ${db}\n`);
      if (server.url) out.write(`  ${pc.cyan(server.url)}\n`);
      if (server.bootstrap.generatedKey) {
        out.write(`\n  First start: created user ${pc.bold('admin')}. Its API key (shown once):\n`);
        out.write(`    ${pc.green(server.bootstrap.generatedKey)}\n`);
        out.write(`  It is also in ${server.bootstrap.keyFile} (mode 0600).\n`);
      } else if (server.bootstrap.created) {
        out.write('\n  First start: created user admin with the key in TRIPLINE_ADMIN_API_KEY.\n');
      } else {
        out.write(`\n  Admin API key: TRIPLINE_ADMIN_API_KEY or ${config.dataDir}/admin-api-key\n`);
      }
      out.write('\n');
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await server.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}

#!/usr/bin/env node
import { Command } from 'commander';
import pc from 'picocolors';
import { clientCommands } from './client.js';
import { serveCommand } from './serve.js';

const program = new Command()
  .name('tripline')
  .description('Tripline: self-hosted automations for ML experiment tracking.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

program.addCommand(serveCommand());
for (const cmd of clientCommands()) program.addCommand(cmd);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`${pc.red('error:')} ${err.message}\n`);
  process.exit(1);
});

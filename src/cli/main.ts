#!/usr/bin/env node
/** The overlayctl executable. */
import { endWhenOutputCloses } from './closed-output.js';
import { runCli } from './program.js';

endWhenOutputCloses(process, (code) => process.exit(code));

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});

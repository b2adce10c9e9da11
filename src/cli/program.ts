/** overlayctl's command line: the commander program, and running it to an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { errorCode } from '../diagnostics/error-code.js';
import { defaultEndpoint } from '../transport/endpoint.js';
import { parseAttempts, parseMs, parseRefusal, parseU16 } from './args.js';
import { parseRequestJson } from './commands/call.js';
import { OP_COMMANDS } from './commands/ops.js';
import { sendRequest } from './commands/request.js';
import { type ServeFlags, serveCommand } from './commands/serve.js';
import { watchCommand } from './commands/watch.js';
import type { GlobalOptions, Io } from './connect.js';
import { EXIT_CODES_HELP, type ExitCode, exitCodeFor } from './exit-codes.js';
import { DEFAULT_INSPECT_PORT } from './inspect.js';

const globalsOf = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;

export function buildProgram(io: Io): Command {
  const program = new Command('overlayctl')
    .description("Drive overlayd over its IPC socket, or run the simulated overlayd ('serve').")
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .option('--socket <path>', "overlayd's socket", defaultEndpoint(io.env))
    .option('--json', 'print the response (or watch lines) as JSON on stdout')
    .option('--timeout <ms>', 'request deadline in ms (default 30000)', parseMs)
    .option(
      '--attempts <n>',
      'connect attempts (default: 1; watch: 20, with backoff)',
      parseAttempts,
    )
    .option('--inspect', 'send state changes to the Stately inspector (needs internet)')
    .addOption(
      new Option('--inspect-port <port>', 'port of the local inspector relay')
        .argParser(parseU16)
        .default(DEFAULT_INSPECT_PORT),
    );

  program
    .command('serve')
    .description(
      'run the simulated overlayd in the foreground (logs on stderr; stops on Ctrl-C or shutdown)',
    )
    .option(
      '--request-log <file>',
      'append every request received to <file> (one JSON frame a line)',
    )
    .option(
      '--refuse <op:count>',
      'answer the next <count> requests of <op> with err, for recovery tests (repeatable)',
      (value: string, previous: string[] = []) => [...previous, parseRefusal(value)],
    )
    .action((opts: ServeFlags, cmd: Command) => serveCommand(globalsOf(cmd), io, opts));

  for (const op of OP_COMMANDS) {
    const cmd = program.command(op.name).description(op.summary);
    op.configure?.(cmd);
    cmd.action(async (...params: unknown[]) => {
      const self = params.at(-1) as Command;
      const request = op.build(self.processedArgs, self.opts(), self);
      await sendRequest(request, globalsOf(self), io);
    });
  }

  program
    .command('call')
    .description('send any request, written as its JSON (e.g. \'{"op":"status"}\')')
    .argument('<request>', 'the request object, as in the protocol')
    .action(async (text: string, _opts, cmd: Command) => {
      await sendRequest(parseRequestJson(text), globalsOf(cmd), io);
    });

  program
    .command('watch')
    .description("stream overlayd's events and the connection's state changes until Ctrl-C")
    .option('--ui', "also show the connection live in the project's offline visualizer")
    .action((opts: { ui?: boolean }, cmd: Command) =>
      watchCommand(globalsOf(cmd), io, { ui: opts.ui === true }),
    );

  for (const cmd of [program, ...program.commands])
    cmd.addHelpText('after', `\n${EXIT_CODES_HELP}`);
  return program;
}

const messageOf = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const code = errorCode(error);
  return code === undefined ? error.message : `${error.message} [${code}]`;
};

/** Parse and run; never throws. Errors are one line on stderr. */
export async function runCli(argv: readonly string[], io: Io): Promise<ExitCode> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // commander has printed its own message already.
    if (!(error instanceof CommanderError)) io.stderr.write(`overlayctl: ${messageOf(error)}\n`);
    return exitCodeFor(error);
  }
}

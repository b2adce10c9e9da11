/**
 * Running an overlayctl command plain and with --json, for the CLI tests (the
 * child-process ones and the in-process ones share these).
 */
import { expect } from 'vitest';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliPairs {
  /** The command plain, then with --json: both exit 0 with nothing on stderr. */
  both(...args: string[]): Promise<{ human: string; json: Record<string, unknown> }>;
  /** A command plain, and its twin (different arguments) with --json. */
  pair(
    humanArgs: string[],
    jsonArgs: string[],
  ): Promise<{ human: string; json: Record<string, unknown> }>;
}

/** `concurrent` runs the two at once (child processes); in-process runs go one after the other. */
export function cliPairs(
  run: (args: string[]) => Promise<CliRun>,
  { concurrent = false } = {},
): CliPairs {
  const check = (r: CliRun) => expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
  const pair = async (humanArgs: string[], jsonArgs: string[]) => {
    const [human, json] = concurrent
      ? await Promise.all([run(humanArgs), run(['--json', ...jsonArgs])])
      : [await run(humanArgs), await run(['--json', ...jsonArgs])];
    check(human);
    check(json);
    return { human: human.stdout, json: JSON.parse(json.stdout) as Record<string, unknown> };
  };
  return { both: (...args) => pair(args, args), pair };
}

// What the demos (scripts/demo.ts, scripts/demo-pool.ts) share: each step runs the real CLI (or
// the fake xe) and is checked against what its comment promises (exit code, output, then the
// simulated host or database afterwards); the first step that does not stops the demo with exit 1.
// deno-lint-ignore-file no-console
import { shellWord } from "../src/domain/shell-word.ts";
import { cliCommand } from "../tests/helpers.ts";
import { FAKE_XE_PATH } from "../tests/fake-xe/state.ts";

/** What a step's comment promises: checked after it runs; the demo stops at the first broken one. */
export interface Expect {
  /** The exit code (default 0). */
  code?: number;
  /** Text the output (stdout and stderr together) must show; the output is then captured. */
  shows?: RegExp[];
  /** Text the output must NOT show (the output is then captured). */
  hides?: RegExp[];
  /** A check of the host or the database afterwards: a sentence saying what is wrong, or null. */
  then?: () => string | null;
}

// NO_COLOR (https://no-color.org) is honoured by the demo's own headings too.
const plainText = (Deno.env.get("NO_COLOR") ?? "") !== "";

/** `text` in SGR `codes`, unless NO_COLOR is set. */
export const sgr = (codes: string, text: string): string =>
  plainText ? text : `\x1b[${codes}m${text}\x1b[0m`;

/** The demo's NO_COLOR, passed on to the commands it runs. */
export const noColor = (): string => Deno.env.get("NO_COLOR") ?? "";

let steps = 0;

/** How many steps ran so far. */
export const stepCount = (): number => steps;

export function fail(what: string, why: string): never {
  console.error(sgr("1;31", `\n✗ demo step failed: ${what}\n  ${why}`));
  console.error("The demo stops here: this step did not do what its comment says.");
  Deno.exit(1);
}

export function section(title: string): void {
  console.log(`\n${sgr("1;36", `=== ${title} ===`)}`);
}

/** Where a step runs: the program and its environment, and the prompt its line is shown after. */
interface Target {
  /** The program and the arguments before the step's own. */
  argv: string[];
  /** The name shown on the step's line (`vgpu-admin`, `xe`). */
  name: string;
  env: Record<string, string>;
  /** Shown before `$` (e.g. the host's name); "" for none. */
  host?: string;
}

async function step(t: Target, args: string[], note: string, expect: Expect): Promise<void> {
  const line = `${t.name} ${args.map(shellWord).join(" ")}`;
  const prompt = t.host ? `${t.host} $ ` : "$ ";
  console.log(`\n${sgr("1", `${prompt}${line}`)}${note ? `   # ${note}` : ""}`);
  steps++;
  const [cmd, ...pre] = t.argv;
  let code: number;
  let output = "";
  if (expect.shows === undefined && expect.hides === undefined) {
    const r = await new Deno.Command(cmd, {
      args: [...pre, ...args],
      env: t.env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    code = r.code;
  } else {
    // stdout and stderr in one pipe, in the order the command wrote them (argv, never a string)
    const r = await new Deno.Command("sh", {
      args: ["-c", 'exec "$0" "$@" 2>&1', cmd, ...pre, ...args],
      env: t.env,
      stdin: "null",
      stdout: "piped",
    }).output();
    code = r.code;
    output = new TextDecoder().decode(r.stdout);
    await Deno.stdout.write(r.stdout);
  }
  if (code !== 0) console.log(`(exit code ${code})`);
  const want = expect.code ?? 0;
  if (code !== want) fail(line, `expected exit code ${want}, got ${code}`);
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  for (const re of expect.shows ?? []) {
    if (!re.test(plain)) fail(line, `expected the output to show ${re}`);
  }
  for (const re of expect.hides ?? []) {
    if (re.test(plain)) fail(line, `expected the output not to show ${re}`);
  }
  const wrong = expect.then?.();
  if (wrong) fail(line, wrong);
}

/** One `vgpu-admin` step with `env` (shown after `host $ ` when `host` is given). */
export function vgpuStep(
  env: Record<string, string>,
  args: string[],
  note = "",
  expect: Expect = {},
  host = "",
): Promise<void> {
  return step({ argv: cliCommand(), name: "vgpu-admin", env, host }, args, note, expect);
}

/** One `xe` step: the fake xe of the tests, with `env` (its FAKE_XE_STATE and FAKE_XE_HOST). */
export function xeStep(
  env: Record<string, string>,
  args: string[],
  note = "",
  expect: Expect = {},
  host = "",
): Promise<void> {
  return step({ argv: [FAKE_XE_PATH], name: "xe", env, host }, args, note, expect);
}

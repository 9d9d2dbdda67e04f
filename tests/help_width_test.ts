// Help is wrapped to the width of the terminal it is written to (commander's rule, kept by
// src/cli/help.ts): `vgpu-admin --help` to stdout's, `vgpu-admin` alone (help on stderr, exit 2)
// to stderr's, and 80 columns when that stream is not a terminal. Run on a real pseudo-terminal
// of 60 columns with util-linux `script`, the other stream sent to a file.
import assert from "node:assert/strict";
import { cliCommand, tempDir } from "./helpers.ts";
import { helpText } from "../src/cli/help.ts";

const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Runs the CLI on a 60-column terminal with `redirect` applied; returns what the terminal got. */
async function on60Columns(args: string[], redirect: string): Promise<string> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = `stty cols 60 rows 50; exec ${
    [...cliCommand(), ...args].map(q).join(" ")
  } ${redirect}`;
  const r = await new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: tempDir(), TERM: "xterm" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout).replaceAll("\r\n", "\n");
}

Deno.test({
  name: "help on stderr (no command) is wrapped to stderr's terminal, not stdout's",
  ignore: !hasScript,
  async fn() {
    const wide = helpText(null, 80);
    const narrow = helpText(null, 60);
    assert.notEqual(wide, narrow, "the program's help must wrap differently at 60 columns");
    const dir = tempDir();
    // stderr on the terminal, stdout to a file: wrapped to the terminal's 60 columns
    assert.equal(await on60Columns([], `>${dir}/out`), narrow);
    assert.equal(Deno.readTextFileSync(`${dir}/out`), "");
    // stdout on the terminal, stderr to a file: stderr is no terminal, 80 columns
    assert.equal(await on60Columns([], `2>${dir}/err`), "");
    assert.equal(Deno.readTextFileSync(`${dir}/err`), wide);
    // --help goes to stdout: its terminal's width, whatever stderr is
    assert.equal(await on60Columns(["--help"], `2>${dir}/err2`), narrow);
  },
});
// deno-lint-ignore no-console
if (!hasScript) console.error("help_width_test: util-linux 'script' not found; test ignored");

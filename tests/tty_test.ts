// Colour appears only on a terminal and never with NO_COLOR: run the CLI under a real
// pseudo-terminal with util-linux `script`, and through a pipe.
import assert from "node:assert/strict";
import { cliCommand, tempDir } from "./helpers.ts";

const ESC = "\x1b[";
const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = [...cliCommand(), ...args].map(q).join(" ");
  const r = await new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    env: { ...env, TERM: "xterm" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout);
}

Deno.test({
  name: "colour on a terminal, none with NO_COLOR, none through a pipe",
  ignore: !hasScript,
  async fn() {
    const db = `${tempDir()}/c.db`;
    const tty = await onTerminal(["list-pools"], { VGPU_DB: db });
    assert.ok(tty.includes(`${ESC}1m=== Pools (2) ===`), JSON.stringify(tty));
    const noColor = await onTerminal(["list-pools"], { VGPU_DB: db, NO_COLOR: "1" });
    assert.ok(noColor.includes("=== Pools (2) ==="));
    assert.ok(!noColor.includes(ESC), JSON.stringify(noColor));
    const [cmd, ...pre] = cliCommand();
    const piped = await new Deno.Command(cmd, {
      args: [...pre, "list-pools"],
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", VGPU_DB: db, TERM: "xterm" },
      stdout: "piped",
    }).output();
    const out = new TextDecoder().decode(piped.stdout);
    assert.equal(piped.code, 0);
    assert.ok(out.includes("=== Pools (2) ===") && !out.includes(ESC), JSON.stringify(out));
  },
});
// deno-lint-ignore no-console
if (!hasScript) console.error("tty_test: util-linux 'script' not found; colour test ignored");

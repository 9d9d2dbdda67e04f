// Colour appears only on a terminal and never with NO_COLOR: run the CLI under a real
// pseudo-terminal with util-linux `script`, and through a pipe.
import assert from "node:assert/strict";
import { cliCommand, fakeHost, runCli, tempDir, UUID1 } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

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

// ---- yes/no questions on a real terminal (issue 11 point 3, issue 9: Ctrl-C/Ctrl-D = no) ------

const QUESTION = "Do you want to apply these settings? (yes/no): ";

/**
 * Runs the CLI on a pseudo-terminal (`script`), and each time the output holds `waitFor` one more
 * time, types the next of `keys`. Returns everything the terminal showed and the exit code.
 */
async function converse(
  args: string[],
  env: Record<string, string>,
  waitFor: string,
  keys: string[],
): Promise<{ code: number; screen: string }> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = "exec " + [...cliCommand(), ...args].map(q).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      SHELL: "/bin/sh",
      TERM: "xterm",
      NO_COLOR: "1",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const dec = new TextDecoder();
  let screen = "";
  let sent = 0;
  const count = (s: string) => s.split(waitFor).length - 1;
  for await (const chunk of child.stdout) {
    screen += dec.decode(chunk, { stream: true });
    while (sent < keys.length && count(screen) > sent) {
      await writer.write(new TextEncoder().encode(keys[sent++]));
    }
  }
  const { code } = await child.status;
  await writer.close().catch(() => {});
  return { code, screen: screen.replaceAll("\r\n", "\n") };
}

async function haltedVm(): Promise<Record<string, string>> {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web" })]);
  const r = await runCli(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  return h.env;
}

async function priorityOf(env: Record<string, string>): Promise<string> {
  const r = await runCli(["show-vm", `--vm-uuid=${UUID1}`, "--format=json"], { env });
  return JSON.parse(r.stdout).vm.registered.priority;
}

Deno.test({
  name: "tty: the registry's exact question; 'maybe' is asked again, then 'yes' applies",
  ignore: !hasScript,
  async fn() {
    const env = await haltedVm();
    const r = await converse(
      ["set-priority", `--vm-uuid=${UUID1}`, "--priority=high"],
      env,
      QUESTION,
      ["maybe\n", "yes\n"],
    );
    assert.equal(r.code, 0, r.screen);
    assert.ok(
      r.screen.includes(`${QUESTION}maybe\nPlease answer yes or no.\n${QUESTION}yes\n`),
      JSON.stringify(r.screen),
    );
    assert.ok(!r.screen.includes("? Do you"), "no prompt-library prefix");
    assert.equal(await priorityOf(env), "high");
  },
});

for (const [what, key] of [["Ctrl-C", "\x03"], ["Ctrl-D", "\x04"]] as const) {
  Deno.test({
    name: `tty: ${what} at the question means no: Cancelled, exit 1, nothing changed`,
    ignore: !hasScript,
    async fn() {
      const env = await haltedVm();
      const r = await converse(
        ["set-priority", `--vm-uuid=${UUID1}`, "--priority=high"],
        env,
        QUESTION,
        [key],
      );
      assert.equal(r.code, 1, r.screen);
      assert.match(r.screen, /\nCancelled; nothing changed\.\n$/);
      assert.ok(!r.screen.includes("bug:"), r.screen);
      assert.equal(await priorityOf(env), "medium");
    },
  });
}

Deno.test({
  name: "tty: remove-vm asks in the same style, Ctrl-C keeps the VM",
  ignore: !hasScript,
  async fn() {
    const env = await haltedVm();
    const question = `from vgpu-admin? (yes/no): `;
    const r = await converse(["remove-vm", `--vm-uuid=${UUID1}`], env, question, ["nah\n", "\x03"]);
    assert.equal(r.code, 1, r.screen);
    assert.ok(r.screen.includes(`${question}nah\nPlease answer yes or no.\n`), r.screen);
    assert.match(r.screen, /Cancelled; nothing changed\.\n$/);
    assert.equal(await priorityOf(env), "medium", "still registered");
  },
});

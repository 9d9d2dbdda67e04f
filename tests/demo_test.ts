// The demo is the README's first screen: it runs the real CLI against the fake xe and checks that
// every step does what its comment says (exit code, output, host and database afterwards); a step
// that does not stops it with exit 1 (issue 18 A2). Its command lines paste back into a shell
// (issue 13): a value with spaces is quoted (`--description="render farm"`).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { shellWord } from "../src/domain/shell-word.ts";

/** `deno task -q <task>` with NO_COLOR, as a newcomer runs it. */
async function runTask(task: string) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", task],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

/**
 * Every step's line (`$ vgpu-admin …`, `host2 $ xe …`, its `   # note` aside) pastes into sh as
 * the words it shows: sh splits it into words that, quoted again, give the line back.
 */
async function assertLinesPaste(out: string): Promise<number> {
  const lines = out.split("\n").flatMap((l) => {
    const m = /^(?:host\d+ )?\$ ((?:vgpu-admin|xe) .*?)(?: {3}# .*)?$/.exec(l);
    return m === null ? [] : [m[1]];
  });
  for (const line of lines) {
    const sh = await new Deno.Command("sh", {
      args: ["-c", `printf '%s\\n' ${line}`],
      stdout: "piped",
    }).output();
    const words = new TextDecoder().decode(sh.stdout).split("\n").slice(0, -1);
    assert.equal(words.map(shellWord).join(" "), line);
  }
  return lines.length;
}

Deno.test("the demo runs to its end, every step as its comment says, and its lines paste into sh", async () => {
  const r = await runTask("demo");
  const { out, err } = r;
  const dir = /database (\S+)\/vgpu_config\.db/.exec(out)?.[1];
  if (dir !== undefined) await Deno.remove(dir, { recursive: true });
  assert.ok(!(out + err).includes("\x1b["), "NO_COLOR: no escape sequences");
  assert.equal(r.code, 0, err);
  assert.match(out, /\nDemo done: \d+ commands, each did what its comment says\./);
  // The clone's conflict names the next free vm_id, and the command it suggests works.
  assert.match(out, /VM ID 1 already in use .*; pass --vm-id=10 \(the next free vm_id\)/);
  assert.match(out, /\$ vgpu-admin register-vm --vm-uuid=\S+ --vm-id=10 .*\nRegistered VM /);
  const line = out.split("\n").find((l) => l.startsWith("$ vgpu-admin set-pool-name "));
  assert.equal(
    line,
    '$ vgpu-admin set-pool-name --pool-id=B --name=Batch --description="render farm"',
  );
  const sh = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\n' ${line!.slice("$ vgpu-admin ".length)}`],
    stdout: "piped",
  }).output();
  assert.deepEqual(new TextDecoder().decode(sh.stdout).split("\n").slice(0, -1), [
    "set-pool-name",
    "--pool-id=B",
    "--name=Batch",
    "--description=render farm",
  ]);
  assert.ok(await assertLinesPaste(out) >= 30, "every step's line");
});

// deno task demo:pool: pool mode on a simulated pool of three hosts, each step checked the same way.
Deno.test("the pool demo runs to its end, every step as its comment says, and its lines paste into sh", async () => {
  const { code, out, err } = await runTask("demo:pool");
  assert.ok(!(out + err).includes("\x1b["), "NO_COLOR: no escape sequences");
  assert.equal(code, 0, err + out.slice(-2000));
  assert.match(out, /\nPool demo done: \d+ commands, each did what its comment says\./);
  const dir = /files in (\S+) \(removed at the end\)/.exec(out)?.[1];
  assert.ok(dir !== undefined && !existsSync(dir), `the temporary pool ${dir} is left behind`);
  // each part of the story is there: on hosts 1 and 2, the fake xe's answers, the hooks' log
  for (
    const re of [
      /^host2 \$ vgpu-admin pool enable --yes/m,
      /^host1 \$ xe pool-param-get uuid=\S+ param-name=other-config/m,
      /result=warning VM \S+ runs on host2 with vm_id 1/,
      /^warning: the pool master host1 cannot be reached/m,
      /^host2 \$ vgpu-admin pool reconcile --yes/m,
    ]
  ) assert.match(out, re);
  assert.ok(await assertLinesPaste(out) >= 20);
});

// The demo is the README's first screen: it runs the real CLI against the fake xe and checks that
// every step does what its comment says (exit code, output, host and database afterwards); a step
// that does not stops it with exit 1 (issue 18 A2). Its command lines paste back into a shell
// (issue 13): a value with spaces is quoted (`--description="render farm"`).
import assert from "node:assert/strict";

Deno.test("the demo runs to its end, every step as its comment says, and its lines paste into sh", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "demo"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  const err = new TextDecoder().decode(r.stderr);
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
});

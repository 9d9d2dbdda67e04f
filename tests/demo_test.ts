// The demo prints each command line so that it can be pasted into a shell (issue 13): a value
// with spaces is quoted (`--description="render farm"`), and the shell reads back the arguments.
import assert from "node:assert/strict";

Deno.test("the demo's command lines paste back into sh as the arguments it ran", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "demo"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex
  const out = new TextDecoder().decode(r.stdout).replace(/\x1b\[[0-9;]*m/g, "");
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const dir = /Files are in (\S+) \(remove/.exec(out)?.[1];
  if (dir !== undefined) await Deno.remove(dir, { recursive: true });
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

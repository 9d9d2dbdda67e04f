// Deps.at (src/cli/deps.ts): a command that works on another database (install-hook's --db and
// --root) gets it through the same seam, never by building Deps of its own (issue 20 item 2):
// the injected clock and xe runner reach it too.
import assert from "node:assert/strict";
import { createDeps } from "../src/cli/deps.ts";
import type { IO } from "../src/cli/io.ts";
import { fakeClock, fakeRunner, webVm } from "./fake-runner.ts";
import { tempDir } from "./helpers.ts";

const sink = { write: () => {} };

Deno.test("deps.at: another database, the same injected clock and xe runner", async () => {
  const dir = tempDir("vgpu-deps-at-");
  const clock = fakeClock();
  const runner = fakeRunner([webVm()], clock);
  const io = {
    out: sink,
    err: sink,
    color: false,
    interactive: false,
    readLine: () => Promise.resolve(null),
  } as unknown as IO;
  const env = {
    get: (n: string) => (n === "VGPU_DB" ? `${dir}/first.db` : undefined),
    all: () => ({}),
  };
  const deps = createDeps({
    io,
    env,
    prompt: { ask: () => Promise.resolve(null) },
    command: "install-hook",
    clock,
    xeRunner: runner,
  });
  const other = deps.at(`${dir}/other.db`);
  try {
    assert.equal(other.dbPath, `${dir}/other.db`);
    assert.equal(other.command, "install-hook");
    clock.advance(90_000);
    assert.equal(other.now().getTime(), clock.now().getTime(), "the same clock");
    await other.store({ create: true });
    const xe = await other.xe();
    const vms = await xe.vmList();
    assert.equal(vms.length, 1);
    assert.ok(runner.calls.some((c) => c.startsWith("vm-list")), runner.calls.join("\n"));
    assert.ok(Deno.statSync(`${dir}/other.db`).isFile);
  } finally {
    other.close();
    deps.close();
  }
});

/**
 * dispatch.ts's safety nets, reached on purpose. The start hook must never exit 2 for a usage
 * error (2 aborts the VM start, design.md §4): startup-hook turns its own bad input into a plain
 * failure, so the net in dispatch.ts is reached only when a usage error comes from elsewhere; a
 * stand-in command throws one here. Other commands keep exit 2.
 */
import assert from "node:assert/strict";
import { defineCommand, erase, type Loader } from "../src/cli/command.ts";
import { main } from "../src/cli/dispatch.ts";
import { bufferIo } from "../src/cli/io.ts";
import { UsageError } from "../src/domain/errors.ts";
import { tempDir, UUID1 } from "./helpers.ts";

const throwsUsage: Loader = () =>
  Promise.resolve(erase(defineCommand({
    parseOptions: () => ({}),
    run: () => Promise.reject(new UsageError("invalid value for the test")),
  })));

async function run(argv: string[]) {
  const io = bufferIo({});
  const env: Record<string, string> = { VGPU_DB: `${tempDir("vgpu-dispatch-")}/db` };
  const code = await main({
    argv,
    io,
    env: { get: (n) => env[n], all: () => env },
    prompt: { ask: () => Promise.resolve("no") },
    loaders: { "startup-hook": throwsUsage, "list-pools": throwsUsage },
  });
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

Deno.test("a usage error inside startup-hook exits 1, never 2", async () => {
  const r = await run(["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none"]);
  assert.deepEqual(r, { code: 1, stdout: "", stderr: "error: invalid value for the test\n" });
});

Deno.test("the same usage error in any other command exits 2", async () => {
  const r = await run(["list-pools"]);
  assert.deepEqual(r, { code: 2, stdout: "", stderr: "error: invalid value for the test\n" });
});

Deno.test("a usage error of commander's own on startup-hook exits 1, never 2", async () => {
  const r = await run(["startup-hook", `--vm-uuid=${UUID1}`, "--no-such-option"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error: unknown option .*--no-such-option/);
});

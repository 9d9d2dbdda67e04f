// The fast argv parser (main.ts fastParse) must select exactly what commander selects for every
// command line it accepts, and defer to commander for everything else.
import assert from "node:assert/strict";
import { bufferIo } from "../src/cli/io.ts";
import { COMMANDS } from "../src/cli/command-table.ts";
import { fastParse } from "../src/cli/fast-parse.ts";
import { buildProgram } from "../src/cli/program.ts";

const U = "7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff";

async function viaCommander(argv: string[]) {
  let picked: { name: string; raw: Record<string, unknown>; db: string | undefined } | null = null;
  const program = await buildProgram(
    (s) => (picked = { name: s.name, raw: s.raw, db: s.db }),
    bufferIo(),
  );
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch {
    return "error";
  }
  return picked;
}

function strip(s: ReturnType<typeof fastParse>) {
  return s === null ? null : { name: s.name, raw: s.raw, db: s.db };
}

// Command lines the fast path must accept, each as commander reads them.
const ACCEPTED: string[][] = [
  ["list-pools"],
  ["list-pools", "--format=json"],
  ["list-pools", "--format", "json", "--db", "/tmp/x.db"],
  ["list-vms", "--db=/tmp/x.db"],
  ["list-vms", "--pool=a", "--priority", "HIGH", "--db=/tmp/y.db"],
  ["show-pool", "--pool-id=B"],
  ["set-pool-name", "--pool-id=A", "--name=Prod; $(x)", "--description="],
  ["enable-pool", "--pool-id=b"],
  ["disable-pool", "--pool-id", "A"],
  ["register-vm", `--vm-uuid=${U}`, "--vm-name", "web, db", "--pool=B", "--vm-id=8", "--offline"],
  ["show-vm", `--vm-uuid=${U}`, "--offline", "--format=json"],
  ["remove-vm", `--vm-uuid=${U}`, "--yes"],
  ["recover", `--vm-uuid=${U}`, "--yes"],
  ["status", "--offline"],
  ["scan-vms", "--deep", "--format=json"],
  ["set-pool", `--vm-uuid=${U}`, "--pool=B", "--yes", "--shutdown-timeout=5", "--force-shutdown"],
  ["set-priority", `--vm-uuid=${U}`, "--priority", "low"],
  ["set-vm-id", `--vm-uuid=${U}`, "--vm-id=20"],
  ["update-vm", `--vm-uuid=${U}`, "--pool=A", "--priority=2", "--vm-id=3"],
  ["sync", "--check"],
  ["sync", "--dry-run"],
  ["adopt", "--yes", `--vm-uuid=${U}`],
  ["startup-hook", `--vm-uuid=${U}`, "--reason=none"],
  ["startup-hook", "--vm-uuid", U, "--reason", "none", "--db", "/tmp/z.db"],
  ["history", "--limit=5", `--vm-uuid=${U}`],
  ["export", "--output=/tmp/e.json"],
  ["import", "/tmp/e.json", "--dry-run", "--replace", "--yes", "--offline"],
  ["import", "-"],
  ["install-hook", "--binary=/usr/local/bin/vgpu-admin", "--root=/tmp/r"],
  ["uninstall-hook"],
  ["doctor", "--root", "/tmp/r"],
  ["completions", "bash"],
  ["settings"],
  ["settings", "hook-strict"],
  ["settings", "hook-strict", "on"],
  ["settings", "xe-timeout", "--unset"],
  ["schema"],
];

// Command lines the fast path must leave to commander (help, errors, unusual forms).
const DEFERRED: string[][] = [
  [],
  ["--help"],
  ["--version"],
  ["-V"],
  ["list-vms", "--help"],
  ["list-vms", "-h"],
  ["lst-vms"],
  ["list-vms", "--bogus"],
  ["list-vms", "--pool"],
  ["list-vms", "--pool", "--format=json"],
  ["list-vms", "--pool=A", "--pool=B"],
  ["list-vms", "--offline"],
  ["show-vm"],
  ["register-vm", "--offline=yes", `--vm-uuid=${U}`],
  ["list-pools", "extra"],
  ["import"],
  ["settings", "a", "b", "c"],
  ["list-pools", "--", "x"],
  ["list-pools", "--db=/a", "--db=/b"],
];

for (const argv of ACCEPTED) {
  Deno.test(`fast path accepts: ${argv.join(" ")}`, async () => {
    const fast = fastParse(argv);
    assert.notEqual(fast, null, "the fast path should take this command line");
    assert.deepEqual(strip(fast), await viaCommander(argv));
  });
}

for (const argv of DEFERRED) {
  Deno.test(`fast path defers: ${argv.join(" ") || "(nothing)"}`, () => {
    assert.equal(fastParse(argv), null);
  });
}

Deno.test("every command of the tree is reachable through the fast path", () => {
  const covered = new Set(ACCEPTED.map((a) => a[0]));
  assert.deepEqual(COMMANDS.map((c) => c.name).filter((n) => !covered.has(n)), []);
});

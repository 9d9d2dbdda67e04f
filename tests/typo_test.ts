// Option errors in the documented `--name=value` form (issue 13): an unknown option in either
// form names the closest option of that command, before any "required option" complaint; an
// option given twice is a usage error naming it. argv → exact stderr and exit code.
import assert from "node:assert/strict";
import { closestOption } from "../src/cli/argv.ts";
import { runInProcess, tempDir } from "./helpers.ts";

const U = "7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff";
const help = (c: string) => `see 'vgpu-admin ${c} --help'`;

const CASES: readonly (readonly [string[], string, number])[] = [
  [
    ["list-vms", "--priorty=high"],
    "unknown option --priorty for list-vms: did you mean --priority?",
    2,
  ],
  [
    ["list-vms", "--priorty", "high"],
    "unknown option --priorty for list-vms: did you mean --priority?",
    2,
  ],
  [["list-vms", "--pool-id=A"], "unknown option --pool-id for list-vms: did you mean --pool?", 2],
  [["show-pool", "--pool=A"], "unknown option --pool for show-pool: did you mean --pool-id?", 2],
  [["show-pool", "--pool", "A"], "unknown option --pool for show-pool: did you mean --pool-id?", 2],
  [
    ["register-vm", `--uuid=${U}`],
    "unknown option --uuid for register-vm: did you mean --vm-uuid?",
    2,
  ],
  [
    ["register-vm", `--vm-uuid=${U}`, "--name=web"],
    "unknown option --name for register-vm: did you mean --vm-name?",
    2,
  ],
  [
    ["set-pool", `--vm-uuid=${U}`, "--priority=high"],
    `unknown option --priority for set-pool: ${help("set-pool")}`,
    2,
  ],
  [
    ["set-pool-name", "--pool-id=A", "--pool-name=x"],
    "unknown option --pool-name for set-pool-name: did you mean --name?",
    2,
  ],
  [
    ["history", "--limt=3"],
    "unknown option --limt for history: did you mean --limit?",
    2,
  ],
  [
    ["list-vms", "--frobnicate"],
    `unknown option --frobnicate for list-vms: ${help("list-vms")}`,
    2,
  ],
  [["list-vms", "--pool=A", "--pool=B"], "option --pool given twice: give it once", 2],
  [["list-vms", "--pool=A", "--pool", "A"], "option --pool given twice: give it once", 2],
  [["remove-vm", `--vm-uuid=${U}`, "--yes", "--yes"], "option --yes given twice: give it once", 2],
  [["--db=/tmp/a.db", "list-vms", "--db=/tmp/b.db"], "option --db given twice: give it once", 2],
  [["list-vms", "--offline=yes"], `unknown option --offline for list-vms: ${help("list-vms")}`, 2],
  [["remove-vm", `--vm-uuid=${U}`, "--yes=no"], "option --yes takes no value: give --yes alone", 2],
  [
    ["register-vm", `--vm-uuid=${U}`, "--vm-name"],
    "option --vm-name needs a value: --vm-name=<name>",
    2,
  ],
  [
    ["set-pool", `--vm-uuid=${U}`],
    `required option --pool=<A|B> not specified: ${help("set-pool")}`,
    2,
  ],
  [["--dv=/tmp/x.db", "list-vms"], "unknown option --dv: did you mean --db?", 2],
  [["--db"], "option --db needs a value: --db=<path>", 2],
  // The start hook never exits 2 for a usage error (2 is a strict refusal to xapi).
  [
    ["startup-hook", `--vmuuid=${U}`],
    "unknown option --vmuuid for startup-hook: did you mean --vm-uuid?",
    1,
  ],
  [
    ["startup-hook", `--vm-uuid=${U}`, `--vm-uuid=${U}`],
    "option --vm-uuid given twice: give it once",
    1,
  ],
];

for (const [argv, message, code] of CASES) {
  Deno.test(`typo: ${argv.join(" ")}`, async () => {
    const db = `${tempDir("vgpu-typo-")}/vgpu_config.db`;
    const r = await runInProcess(argv, { env: { VGPU_DB: db } });
    assert.equal(r.stderr, `error: ${message}\n`);
    assert.equal(r.code, code);
    assert.equal(r.stdout, "");
  });
}

Deno.test("closestOption: a fuller name first, then the nearest spelling, else nothing", () => {
  const known = ["--vm-uuid", "--pool", "--priority", "--format", "--db"];
  assert.equal(closestOption("--uuid", known), "--vm-uuid");
  assert.equal(closestOption("--prioirty", known), "--priority");
  assert.equal(closestOption("--fromat", known), "--format");
  assert.equal(closestOption("--db-path", known), "--db");
  assert.equal(closestOption("--bogus", known), null);
  assert.equal(closestOption("--", known), null);
});

// --help of every command (issue 13): the seed synopsis, required options marked, options in
// the `--name=<value>` form, and the global --db.
Deno.test("register-vm --help: synopsis, required mark, --name=<value> form, --db", async () => {
  const r = await runInProcess(["register-vm", "--help"]);
  assert.equal(r.code, 0);
  const lines = r.stdout.split("\n");
  assert.equal(
    lines[0],
    "Usage: vgpu-admin register-vm --vm-uuid=<uuid> [--vm=<name|uuid>] [--vm-name=<name>] [--pool=<A|B>] " +
      "[--priority=<low|medium|high>] [--vm-id=<n>] [--offline]",
  );
  assert.ok(
    lines.includes(
      "  --vm-uuid=<uuid>              (required unless --vm is given) the VM's xapi",
    ),
    r.stdout,
  );
  assert.ok(lines.some((l) => l.startsWith("  --pool=<A|B>  ")), r.stdout);
  assert.ok(!r.stdout.includes("--pool <"), "no `--name <value>` form");
  assert.ok(lines.includes("Global Options:"), r.stdout);
  assert.ok(lines.some((l) => l.startsWith("  --db=<path>  ")), r.stdout);
});

Deno.test("every command's --help shows its synopsis, marks required options, shows --db", async () => {
  const { COMMANDS, optionForm, synopsis } = await import("../src/cli/command-table.ts");
  for (const spec of COMMANDS) {
    const r = await runInProcess([spec.name, "--help"]);
    assert.equal(r.code, 0, spec.name);
    assert.ok(r.stdout.startsWith(`Usage: ${synopsis(spec)}\n`), r.stdout);
    for (const o of spec.options) {
      const line = r.stdout.split("\n").find((l) => l.startsWith(`  ${optionForm(o)} `));
      assert.ok(line !== undefined, `${spec.name}: ${optionForm(o)} listed`);
      assert.equal(line.includes("(required"), o.required === true, line);
    }
    assert.match(r.stdout, /\n {2}--db=<path> /, spec.name);
    assert.ok(!/\n {2}--[a-z-]+ </.test(r.stdout), `${spec.name}: no --name <value> form`);
  }
});

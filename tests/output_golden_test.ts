// Golden output (design.md §3): the exact stdout of list-pools, show-pool, status --offline and
// list-vms, as text (no TTY) and as JSON, for an empty and for a populated database. Every
// timestamp comes from the clock injected into main(), so the files are stable.
// Expected files live in tests/golden/output/<database>/<command>.<txt|json>; a missing one is
// written only with UPDATE_GOLDEN=1 (tests/golden.ts).
import assert from "node:assert/strict";
import { assertGolden } from "./golden.ts";
import { runInProcess, tempDir } from "./helpers.ts";
import { openDatabase } from "../src/store/open.ts";

const GOLDEN = decodeURIComponent(new URL("./golden/output/", import.meta.url).pathname);

const T0 = Date.parse("2026-01-11T10:00:00.000Z");
const at = (minutes: number) => () => new Date(T0 + minutes * 60_000);

/** uuid n of the populated host, e.g. 0a000000-0000-4000-8000-00000000000a for (A, 10). */
const uuid = (pool: "A" | "B", n: number) =>
  `${pool === "A" ? "0a" : "0b"}000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** [uuid, name or null, pool, priority, vm_id], registered in this order (not by vm_id). */
const VMS: readonly (readonly [string, string | null, "A" | "B", string, number])[] = [
  [uuid("A", 3), "web-1", "A", "high", 3],
  [uuid("A", 1), "web-2", "A", "high", 1],
  [uuid("A", 7), 'batch, "nightly"', "A", "low", 7],
  [uuid("A", 2), null, "A", "medium", 2],
  [uuid("B", 10), "dev-1", "B", "high", 10],
  [uuid("B", 11), "dev-2", "B", "high", 11],
  [uuid("B", 12), "dev-3", "B", "high", 12],
  [uuid("B", 13), "dev-4", "B", "high", 13],
  [uuid("B", 14), "dev-5", "B", "high", 14],
  [uuid("B", 15), "dev-6", "B", "high", 15],
  [uuid("B", 4), "café-ü", "B", "medium", 4],
  [uuid("B", 20), "ci runner", "B", "low", 20],
];

async function ok(argv: string[], path: string, now: () => Date): Promise<string> {
  // USER fixed: history records it, else the uid's name (which differs between machines).
  const r = await runInProcess(argv, { env: { VGPU_DB: path, USER: "root" }, now });
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr, "", argv.join(" "));
  return r.stdout;
}

async function emptyDb(): Promise<string> {
  const path = `${tempDir("vgpu-golden-")}/vgpu_config.db`;
  // Created and initialised at T0 (read commands never create a database).
  (await openDatabase(path, { now: at(0), create: true })).db.close();
  return path;
}

async function populatedDb(): Promise<string> {
  const path = await emptyDb();
  let minute = 1;
  for (const [u, name, pool, priority, id] of VMS) {
    const argv = ["register-vm", `--vm-uuid=${u}`, `--pool=${pool}`, `--priority=${priority}`];
    argv.push(`--vm-id=${id}`, "--offline");
    if (name !== null) argv.push(`--vm-name=${name}`);
    await ok(argv, path, at(minute++));
  }
  await ok(
    [
      "set-pool-name",
      "--pool-id=A",
      "--name=Production",
      "--description=latency-sensitive inference",
    ],
    path,
    at(60),
  );
  return path;
}

const COMMANDS: readonly (readonly [string, string[]])[] = [
  ["list-pools", ["list-pools"]],
  ["show-pool-A", ["show-pool", "--pool-id=A"]],
  ["show-pool-B", ["show-pool", "--pool-id=B"]],
  ["status", ["status", "--offline"]],
  ["list-vms", ["list-vms"]],
  ["list-vms-B-high", ["list-vms", "--pool=B", "--priority=high"]],
  ["history", ["history"]],
];

const DATABASES: readonly (readonly [string, () => Promise<string>])[] = [
  ["empty", emptyDb],
  ["populated", populatedDb],
];

// Human times are local (issue 13): the expected files are written in UTC (`deno task test`
// sets TZ=UTC).
Deno.test("golden output runs in UTC", () => {
  assert.equal(new Date(T0).getTimezoneOffset(), 0, "run the golden tests with TZ=UTC");
});

for (const [dbName, make] of DATABASES) {
  Deno.test(`golden output: ${dbName} database`, async (t) => {
    const path = await make();
    for (const [name, argv] of COMMANDS) {
      await t.step(`${name} (table)`, async () => {
        const out = await ok(argv, path, at(999));
        assert.ok(!out.includes("\x1b"), "no colour without a TTY");
        assert.ok(out.endsWith("\n"));
        assertGolden(`${GOLDEN}${dbName}/${name}.txt`, out);
      });
      await t.step(`${name} --format=json`, async () => {
        const out = await ok([...argv, "--format=json"], path, at(999));
        const doc = JSON.parse(out);
        assert.equal(Object.keys(doc)[0], "schema_version");
        assert.equal(doc.schema_version, 1);
        assert.equal(out, JSON.stringify(doc, null, 2) + "\n", "one document, two-space indent");
        assertGolden(`${GOLDEN}${dbName}/${name}.json`, out);
      });
    }
  });
}

// Properties the golden files must have whatever they say (so a regenerated file that breaks
// the seeds' layouts is caught here too).
Deno.test("golden output follows the seeds' layouts and design.md §3", async () => {
  const path = await populatedDb();
  const listPools = await ok(["list-pools"], path, at(999));
  assert.equal(
    listPools,
    [
      "=== Pools (2) ===",
      'Pool A: "Production" | Enabled | VMs: 4 (2 high, 1 medium, 1 low)',
      'Pool B: "Pool B" | Enabled | VMs: 8 (6 high, 1 medium, 1 low)',
      "",
    ].join("\n"),
  );
  const showA = (await ok(["show-pool", "--pool-id=A"], path, at(999))).split("\n");
  assert.equal(showA[0], "=== Pool A: Production ===");
  assert.deepEqual(showA.slice(1, 4), [
    "Status: Enabled",
    "Description: latency-sensitive inference",
    "Created: 2026-01-11 10:00:00 +0000",
  ]);
  // Inside a pool, VMs are sorted by vm_id, with full uuids.
  const vmLines = showA.filter((l) => l.includes("(UUID: "));
  assert.deepEqual(vmLines.map((l) => Number(/VM ID: (\d+)$/.exec(l)![1])), [1, 2, 3, 7]);
  assert.equal(vmLines[0], `  web-2 (UUID: ${uuid("A", 1)}) | Priority: high | VM ID: 1`);
  const status = (await ok(["status", "--offline"], path, at(999))).split("\n");
  assert.deepEqual(status.slice(0, 3), [
    "=".repeat(80),
    "                    GPU Virtualization Control Panel",
    "=".repeat(80),
  ]);
  assert.ok(status.includes('Pool B: "Pool B"'));
  assert.ok(status.includes("-".repeat(45)));
  assert.ok(status.includes("Total VMs Registered: 12"));
  const listVms = await ok(["list-vms"], path, at(999));
  const ids = listVms.split("\n").filter((l) => /^│ \d/.test(l)).map((l) =>
    Number(l.split("│")[1])
  );
  assert.deepEqual(ids, [1, 2, 3, 7, 4, 10, 11, 12, 13, 14, 15, 20], "by pool, then vm_id");
  assert.ok(listVms.endsWith("\n12 VMs\n"));
  // The VM without a name, and the history rows, carry the injected clock.
  const json = JSON.parse(await ok(["list-vms", "--format=json"], path, at(999)));
  const noName = json.vms.find((v: { vm_uuid: string }) => v.vm_uuid === uuid("A", 2));
  assert.equal(noName.vm_name, null);
  assert.equal(noName.created_at, "2026-01-11 10:04:00");
  const history = JSON.parse(await ok(["history", "--format=json", "--limit=1"], path, at(999)));
  assert.equal(history.history[0].at, "2026-01-11T11:00:00.000Z");
});

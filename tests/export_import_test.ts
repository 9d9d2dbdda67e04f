/**
 * export and import (issue 4): the file's shape and order, --output (0600, atomic, overwrite),
 * the round trip into an empty database, every problem of a bad file with its JSON path,
 * merge conflicts, --replace with its backup, --dry-run, the confirmation, stdin, the args
 * written to the fake host afterwards (running VMs, VMs not on the host, one xe failure), a
 * database that changed while the import waited, and a 10,000-VM offline import.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportFile,
  parseConfigFile,
} from "../src/domain/config-file.ts";
import { ConflictError } from "../src/domain/errors.ts";
import { applyImport, currentConfiguration, planImport } from "../src/ops/transfer.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../src/store/migrations.ts";
import { openDatabase } from "../src/store/open.ts";
import { Store } from "../src/store/store.ts";
import {
  fakeHost,
  type FakeHostEnv,
  fileHash,
  platformOf,
  runCli,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
  UUID4,
} from "./helpers.ts";
import { type FakeVm, makeVm, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const UUID5 = "55555555-5555-4555-8555-555555555555";
const T0 = new Date("2026-01-11T10:00:00.000Z");
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

type Run = Awaited<ReturnType<typeof runInProcess>>;
type RunOptions = NonNullable<Parameters<typeof runInProcess>[1]>;

interface Db {
  dir: string;
  path: string;
  env: Record<string, string>;
  run(argv: string[], o?: RunOptions): Promise<Run>;
  /** Runs and asserts exit 0. */
  ok(argv: string[], o?: RunOptions): Promise<Run>;
}

function withEnv(env: Record<string, string>, path: string, dir: string): Db {
  const run = (argv: string[], o: RunOptions = {}) =>
    runInProcess(argv, { now: () => T0, ...o, env: { ...env, ...o.env } });
  return {
    dir,
    path,
    env,
    run,
    async ok(argv, o) {
      const r = await run(argv, o);
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
      return r;
    },
  };
}

/** A fresh database in a temporary directory (no host: commands run --offline). */
function newDb(): Db {
  const dir = tempDir("vgpu-transfer-");
  const path = `${dir}/vgpu_config.db`;
  return withEnv({ VGPU_DB: path, USER: "tester" }, path, dir);
}

function onHost(vms: FakeVm[]): Db & FakeHostEnv {
  const h = fakeHost(vms);
  return { ...h, ...withEnv({ ...h.env, USER: "tester" }, h.dbPath, h.dir) };
}

/** Database file and WAL: what "changed nothing" compares. */
async function dbHash(path: string): Promise<string> {
  return `${await fileHash(path)} ${await fileHash(`${path}-wal`)}`;
}

async function exportOf(d: Db): Promise<ExportFile> {
  return JSON.parse((await d.ok(["export"])).stdout);
}

/** The database rows, read directly. */
function query(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(sql).all().map((r) => ({ ...r }));
  } finally {
    db.close();
  }
}

function writeFile(d: { dir: string }, doc: unknown, name = "import.json"): string {
  const path = `${d.dir}/${name}`;
  Deno.writeTextFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc, null, 2));
  return path;
}

function exportDoc(
  vms: unknown[],
  o: { pools?: unknown[]; settings?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    format: EXPORT_FORMAT,
    format_version: EXPORT_FORMAT_VERSION,
    schema_version: SCHEMA_VERSION,
    exported_at: "2026-01-10T09:00:00.000Z",
    pools: o.pools ?? [],
    vms,
    settings: o.settings ?? {},
  };
}

function vmEntry(uuid: string, vmId: number, o: Record<string, unknown> = {}) {
  return {
    vm_uuid: uuid,
    vm_name: `vm-${vmId}`,
    pool_id: "A",
    priority: "medium",
    vm_id: vmId,
    ...o,
  };
}

/** A database with two renamed pools, VMs in both pools (odd names) and two settings. */
async function populated(d: Db): Promise<void> {
  await d.ok([
    "set-pool-name",
    "--pool-id=A",
    "--name=Production",
    '--description=latency, "quoted"',
  ]);
  await d.ok(["set-pool-name", "--pool-id=B", "--name=Batch ✓"]);
  const reg = (uuid: string, ...flags: string[]) =>
    d.ok(["register-vm", `--vm-uuid=${uuid}`, "--offline", ...flags]);
  await reg(UUID3, "--pool=B", "--priority=low", "--vm-id=30", '--vm-name=render, "03"');
  await reg(UUID1, "--pool=A", "--priority=high", "--vm-id=7", "--vm-name=Ωmega");
  await reg(UUID2, "--pool=A", "--priority=medium", "--vm-id=12");
  await reg(UUID4, "--pool=B", "--priority=high", "--vm-id=1", "--vm-name=batch-1");
  await d.ok(["settings", "xe-timeout", "60"]);
  await d.ok(["settings", "hook-strict", "on"]);
}

// ---- export ------------------------------------------------------------------------------------

Deno.test("export: format marker, versions, pools by id, VMs by vm_id, only explicit settings", async () => {
  const d = newDb();
  await populated(d);
  const r = await d.ok(["export"]);
  assert.equal(r.stderr, "");
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(doc), [
    "format",
    "format_version",
    "schema_version",
    "exported_at",
    "pools",
    "vms",
    "settings",
  ]);
  assert.equal(doc.format, "vgpu-admin-export");
  assert.equal(doc.format_version, 1);
  assert.equal(doc.schema_version, SCHEMA_VERSION);
  assert.equal(doc.exported_at, "2026-01-11T10:00:00.000Z");
  assert.deepEqual(doc.pools, [
    { pool_id: "A", name: "Production", description: 'latency, "quoted"', enabled: true },
    { pool_id: "B", name: "Batch ✓", description: null, enabled: true },
  ]);
  assert.deepEqual(doc.vms.map((v: { vm_id: number }) => v.vm_id), [1, 7, 12, 30]);
  assert.deepEqual(doc.vms[1], {
    vm_uuid: UUID1,
    vm_name: "Ωmega",
    pool_id: "A",
    priority: "high",
    vm_id: 7,
    created_at: "2026-01-11 10:00:00",
    updated_at: "2026-01-11 10:00:00",
  });
  assert.equal(doc.vms[2].vm_name, null);
  assert.equal(doc.vms[3].priority, "low");
  // shutdown-timeout and platform-key are at their defaults: not exported.
  assert.deepEqual(doc.settings, { "hook-strict": "on", "xe-timeout": "60" });
  assert.ok(r.stdout.endsWith("}\n"));
});

Deno.test("export of an empty database", async () => {
  const d = newDb();
  (await openDatabase(d.path, { now: () => T0, create: true })).db.close();
  const doc = await exportOf(d);
  assert.deepEqual(doc.vms, []);
  assert.deepEqual(doc.settings, {});
  assert.deepEqual(doc.pools.map((p) => p.name), ["Pool A", "Pool B"]);
});

Deno.test("export --output: 0600, atomic, overwrites the admin's earlier export, says where", async () => {
  const d = newDb();
  await populated(d);
  const out = `${d.dir}/exports/config.json`;
  Deno.mkdirSync(`${d.dir}/exports`);
  Deno.writeTextFileSync(out, "an older export", { mode: 0o644 });
  Deno.chmodSync(out, 0o644);
  const r = await d.ok(["export", `--output=${out}`]);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    `Exported 4 VMs, 2 vGPU pools and 2 settings to ${out} (mode 0600)\n`,
  );
  assert.equal(Deno.statSync(out).mode! & 0o777, 0o600);
  const written = JSON.parse(Deno.readTextFileSync(out));
  assert.deepEqual(written, await exportOf(d));
  // Only the file itself: no temporary file left behind.
  assert.deepEqual([...Deno.readDirSync(`${d.dir}/exports`)].map((e) => e.name), ["config.json"]);
});

Deno.test("export --output to a directory or a missing directory: exit 1, nothing written", async () => {
  const d = newDb();
  (await openDatabase(d.path, { now: () => T0, create: true })).db.close();
  const r = await d.run(["export", `--output=${d.dir}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /^error: cannot write .*: it is a directory; give a file name; nothing was written\n$/,
  );
  const m = await d.run(["export", `--output=${d.dir}/no/such/dir/x.json`]);
  assert.equal(m.code, 1);
  assert.match(
    m.stderr,
    /^error: cannot write .*x\.json: no such file or directory; nothing was written\n$/,
  );
  const empty = await d.run(["export", "--output="]);
  assert.equal(empty.code, 2);
  const before = await dbHash(d.path);
  const itself = await d.run(["export", `--output=${d.path}`]);
  assert.equal(itself.code, 2);
  assert.equal(
    itself.stderr,
    `error: --output ${d.path} is the database itself; give another file\n`,
  );
  assert.equal(await dbHash(d.path), before);
});

Deno.test("export on a database from an older vgpu-admin: migrated after a backup, says where", async () => {
  const d = newDb();
  const db = new DatabaseSync(d.path);
  db.exec(MIGRATIONS[0].sql);
  db.exec("PRAGMA user_version = 1");
  db.prepare(
    `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority) VALUES (5, ?, 'old', 'B', 0)`,
  ).run(UUID1);
  db.close();
  const r = await d.ok(["export"]);
  const backup = `${d.path}.bak-v1-20260111T100000Z`;
  assert.equal(
    r.stderr,
    `Migrated the database schema; a copy of the previous database is at ${backup}\n`,
  );
  // stdout stays the export, nothing else.
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.schema_version, SCHEMA_VERSION);
  assert.deepEqual(doc.vms.map((v: { vm_uuid: string }) => v.vm_uuid), [UUID1]);
  assert.deepEqual(query(backup, "PRAGMA user_version"), [{ user_version: 1 }]);
  assert.deepEqual(query(backup, "SELECT vm_uuid FROM vms"), [{ vm_uuid: UUID1 }]);
});

// ---- round trip --------------------------------------------------------------------------------

Deno.test("round trip: export A, import into an empty B, export B: identical but for exported_at", async () => {
  const a = newDb();
  await populated(a);
  const file = `${a.dir}/a.json`;
  await a.ok(["export", `--output=${file}`]);

  const b = newDb();
  const later = new Date("2026-03-01T12:00:00.000Z");
  const r = await b.ok(["import", file, "--yes", "--offline"], { now: () => later });
  assert.match(r.stdout, /VMs: 4 to add, 0 to change, 0 unchanged\n/);
  assert.match(
    r.stdout,
    /Imported .*: 4 added, 0 changed, 0 removed; 2 vGPU pools and 2 settings changed\.\n/,
  );

  const docA = JSON.parse(Deno.readTextFileSync(file));
  const docB: ExportFile = JSON.parse((await b.ok(["export"], { now: () => later })).stdout);
  assert.equal(docB.exported_at, "2026-03-01T12:00:00.000Z");
  assert.deepEqual({ ...docB, exported_at: null }, { ...docA, exported_at: null });

  for (const argv of [["list-vms"], ["list-vms", "--format=json"], ["list-pools"]]) {
    assert.equal((await b.ok(argv)).stdout, (await a.ok(argv)).stdout, argv.join(" "));
  }
  // list-pools JSON: the same but for the pools' own timestamps (not part of the export).
  const pools = async (d: Db) =>
    JSON.parse((await d.ok(["list-pools", "--format=json"])).stdout).pools.map(
      (p: Record<string, unknown>) => ({ ...p, created_at: null, updated_at: null }),
    );
  assert.deepEqual(await pools(b), await pools(a));
  const settings = async (d: Db) => (await d.ok(["settings", "--format=json"])).stdout;
  assert.equal(await settings(b), await settings(a));

  // Importing the same file again changes nothing and asks nothing.
  const again = await b.run(["import", file]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, `Nothing to import: the database already matches ${file} (4 VMs).\n`);
  assert.deepEqual(again.questions, []);
});

// ---- validation: every problem with its path ----------------------------------------------------

Deno.test("a file with many problems: each one listed with its JSON path, exit 1, database unchanged", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID5}`, "--vm-id=9", "--offline"]);
  const doc = {
    ...exportDoc([
      vmEntry(UUID1, 1),
      { vm_uuid: "not-a-uuid", vm_name: "a", pool_id: "A", priority: "high", vm_id: 2 },
      vmEntry(UUID2, 3, { pool_id: "C" }),
      vmEntry(UUID3, 0, { priority: "urgent" }),
      vmEntry(UUID1.toUpperCase(), 1),
      vmEntry(UUID4, 5, { vm_name: "line\nbreak" }),
      { vm_uuid: 42, vm_name: null, pool_id: ["A"], priority: true, vm_id: "6" },
      { vm_uuid: "66666666-6666-4666-8666-666666666666", vm_name: null },
      "a string",
      vmEntry("77777777-7777-4777-8777-777777777777", 9),
      vmEntry(UUID5, 9, { priority: "low" }),
    ], {
      pools: [{ pool_id: "A", name: "", description: null, enabled: "yes" }],
      settings: { "no-such-setting": "1", "xe-timeout": 60, "hook-strict": "maybe" },
    }),
    comment: "hand-edited",
  };
  const file = writeFile(d, doc);
  const before = await dbHash(d.path);
  const r = await d.run(["import", file, "--yes"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  const expected = [
    "comment: unknown field; expected format, format_version, pools, vms, settings, schema_version, exported_at",
    "pools[0].name: invalid value: it must not be empty",
    'pools[0].enabled: expected true or false, got string "yes"',
    'vms[1].vm_uuid: invalid value "not-a-uuid": expected a VM uuid like 7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff (see: xe vm-list)',
    'vms[2].pool_id: invalid value "C": a vGPU pool is A or B',
    'vms[3].priority: invalid value "urgent": use low, medium, high (or 0, 1, 2)',
    'vms[3].vm_id: invalid value "0": a vm_id is a whole number from 1 to 2147483647',
    `vms[4].vm_uuid: VM ${UUID1} is also at vms[0]`,
    "vms[4].vm_id: VM ID 1 is also used at vms[0]",
    'vms[5].vm_name: invalid value "line\\nbreak": newlines and control characters are not allowed',
    "vms[6].vm_uuid: expected a string, got number 42",
    "vms[6].pool_id: expected a string, got an array",
    "vms[6].priority: expected low, medium or high (or 0, 1, 2), got boolean true",
    'vms[6].vm_id: expected a whole number, got string "6"',
    "vms[7].pool_id: missing",
    "vms[7].priority: missing",
    "vms[7].vm_id: missing",
    'vms[8]: expected an object, got string "a string"',
    "vms[10].vm_id: VM ID 9 is also used at vms[9]",
    'settings["no-such-setting"]: unknown setting "no-such-setting"; known settings: ',
    'settings["xe-timeout"]: expected a string, got number 60',
    'settings["hook-strict"]: invalid value "maybe" for hook-strict: use on or off',
    // Against the database: vm_id 9 is held by a VM the file does not name.
    `vms[9].vm_id: VM ID 9 already in use by VM ${UUID5} (<no name>); give VM 77777777-7777-4777-8777-777777777777 another vm_id in the file, or import with --replace`,
  ];
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, expected.length + 1, r.stderr);
  expected.forEach((e, i) =>
    assert.ok(lines[i].startsWith(e), `line ${i}: ${lines[i]}\nwanted ${e}`)
  );
  assert.equal(
    lines.at(-1),
    `error: cannot import ${file}: ${expected.length} problems (listed above); nothing was changed`,
  );
  assert.equal(await dbHash(d.path), before);
  assert.deepEqual(r.questions, []);
});

Deno.test("not JSON, another kind of file, a newer format_version, a missing file: exit 1, one line each", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--offline"]);
  const before = await dbHash(d.path);
  const cases: [string, string | null, RegExp][] = [
    [
      "not-json",
      "vm_uuid,pool\n1111,A\n",
      /^\(top level\): not valid JSON \(.+\); give a file written by 'vgpu-admin export'\n/,
    ],
    ["empty", "", /^\(top level\): not valid JSON/],
    [
      "array",
      "[1, 2]",
      /^\(top level\): expected a JSON object as written by 'vgpu-admin export', got an array\n/,
    ],
    [
      "other-format",
      '{"format": "something-else", "vms": []}',
      /^format: expected "vgpu-admin-export", got string "something-else": this is not a file written by 'vgpu-admin export'\n/,
    ],
    [
      "no-format",
      '{"vms": []}',
      /^format: missing: this is not a file written by 'vgpu-admin export'\n/,
    ],
    [
      "newer",
      JSON.stringify({ ...exportDoc([]), format_version: 2, vms: "whatever a newer format holds" }),
      /^format_version: 2 is newer than this vgpu-admin reads \(1\); import it with a newer vgpu-admin\n/,
    ],
    [
      "bad-version",
      JSON.stringify({ ...exportDoc([]), format_version: "1" }),
      /^format_version: expected a whole number from 1, got string "1"\n/,
    ],
    ["missing", null, /^error: cannot read import file .*missing\.json: no such file\n$/],
  ];
  for (const [name, text, re] of cases) {
    const file = text === null ? `${d.dir}/missing.json` : writeFile(d, text, `${name}.json`);
    const r = await d.run(["import", file, "--yes"]);
    assert.equal(r.code, 1, name);
    assert.equal(r.stdout, "", name);
    assert.match(r.stderr, re, name);
    if (text !== null) {
      assert.match(
        r.stderr,
        /\nerror: cannot import .*: 1 problem \(listed above\); nothing was changed\n$/,
        name,
      );
    }
  }
  // Not UTF-8 at all.
  const bin = `${d.dir}/binary.json`;
  Deno.writeFileSync(bin, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
  const r = await d.run(["import", bin, "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: import file .*binary\.json is not UTF-8 text/);
  assert.equal(await dbHash(d.path), before);
});

Deno.test("file rules: upper-case uuids, numeric priorities, optional timestamps and schema_version", () => {
  const { config, problems } = parseConfigFile(JSON.stringify({
    format: EXPORT_FORMAT,
    format_version: 1,
    pools: [{ pool_id: "b", name: " Batch ", description: "", enabled: false }],
    vms: [
      {
        vm_uuid: ` ${UUID1.toUpperCase()} `,
        vm_name: " web ",
        pool_id: "b",
        priority: 2,
        vm_id: 4,
      },
      {
        vm_uuid: UUID2,
        vm_name: null,
        pool_id: "A",
        priority: "LOW",
        vm_id: 2147483647,
        created_at: null,
      },
    ],
    settings: { "hook-strict": "TRUE" },
  }));
  assert.deepEqual(problems, []);
  assert.ok(config);
  assert.equal(config.schemaVersion, null);
  assert.equal(config.exportedAt, null);
  assert.deepEqual(config.pools, [
    { path: "pools[0]", poolId: "B", name: "Batch", description: null, enabled: false },
  ]);
  assert.deepEqual(config.vms, [
    {
      path: "vms[0]",
      vmUuid: UUID1,
      vmName: "web",
      pool: "B",
      priority: 2,
      vmId: 4,
      createdAt: null,
      updatedAt: null,
    },
    {
      path: "vms[1]",
      vmUuid: UUID2,
      vmName: null,
      pool: "A",
      priority: 0,
      vmId: 2147483647,
      createdAt: null,
      updatedAt: null,
    },
  ]);
  assert.deepEqual(config.settings, [{
    path: 'settings["hook-strict"]',
    key: "hook-strict",
    value: "on",
  }]);
  // A byte-order mark is ignored; 2147483648 and 1.5 are no vm_ids.
  const bad = parseConfigFile(
    "\uFEFF" + JSON.stringify(exportDoc([vmEntry(UUID1, 2147483648), vmEntry(UUID2, 1.5)])),
  );
  assert.deepEqual(bad.problems.map((p) => p.path), ["vms[0].vm_id", "vms[1].vm_id"]);
});

// ---- merge and replace ----------------------------------------------------------------------

Deno.test("merge: adds new VMs, renames, updates pools and settings, keeps VMs not in the file", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--vm-name=one", "--offline"]);
  await d.ok(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=2", "--vm-name=two", "--offline"]);
  await d.ok(["settings", "shutdown-timeout", "300"]);
  const file = writeFile(
    d,
    exportDoc([
      vmEntry(UUID1, 1, { vm_name: "one" }), // identical
      vmEntry(UUID2, 2, { vm_name: "two (renamed)" }), // only the name differs
      vmEntry(UUID3, 3, { pool_id: "B", priority: "high" }), // new
    ], {
      pools: [
        { pool_id: "A", name: "Pool A", description: null, enabled: true },
        { pool_id: "B", name: "Batch", description: "nightly", enabled: true },
      ],
      settings: { "xe-timeout": "45" },
    }),
  );
  const r = await d.ok(["import", file, "--yes", "--offline"]);
  assert.equal(
    r.stdout,
    [
      `Import from ${file} (exported 2026-01-10 09:00:00 +0000), merging:`,
      "  VMs: 1 to add, 1 to change, 1 unchanged",
      "  vGPU pools: 1 to change, 1 unchanged",
      "  settings: 1 to change, 0 unchanged",
      `  + VM ${UUID3} (vm-3): vGPU pool B, priority high, VM ID 3`,
      `  ~ VM ${UUID2} (two): name "two" -> "two (renamed)"`,
      '  ~ vGPU pool B: name "Pool B" -> "Batch", description (none) -> "nightly"',
      "  ~ setting xe-timeout: (default) -> 45",
      `Imported ${file}: 1 added, 1 changed, 0 removed; 1 vGPU pool and 1 setting changed.`,
      "Not written to the VMs (--offline): run 'vgpu-admin sync' on the host to apply them.",
      "",
    ].join("\n"),
  );
  const doc = await exportOf(d);
  assert.deepEqual(doc.vms.map((v) => [v.vm_uuid, v.vm_name, v.pool_id, v.priority, v.vm_id]), [
    [UUID1, "one", "A", "medium", 1],
    [UUID2, "two (renamed)", "A", "medium", 2],
    [UUID3, "vm-3", "B", "high", 3],
  ]);
  // The VM registered before keeps its created_at; the new one takes the import's time.
  assert.equal(doc.vms[1].created_at, "2026-01-11 10:00:00");
  assert.deepEqual(doc.settings, { "shutdown-timeout": "300", "xe-timeout": "45" });
  assert.equal(doc.pools[1].name, "Batch");
});

Deno.test("merge conflicts: a vm_id held by another VM, a registered VM configured otherwise: refused, nothing changed", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--vm-name=web", "--offline"]);
  await d.ok(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=2", "--pool=B", "--offline"]);
  const before = await dbHash(d.path);
  const file = writeFile(
    d,
    exportDoc([
      vmEntry(UUID3, 1), // vm_id 1 belongs to UUID1
      vmEntry(UUID2, 2, { vm_name: null, pool_id: "A" }), // registered in pool B
      vmEntry(UUID4, 4), // fine on its own
    ], { settings: { "xe-timeout": "45" } }),
  );
  const r = await d.run(["import", file, "--yes", "--offline"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    [
      `vms[0].vm_id: VM ID 1 already in use by VM ${UUID1} (web); give VM ${UUID3} another vm_id in the file, or import with --replace`,
      `vms[1]: VM ${UUID2} is registered with vGPU pool B, priority medium, VM ID 2, the file has vGPU pool A, priority medium, VM ID 2; import with --replace to take the file's, or change the file`,
      `error: cannot import ${file}: 2 problems (listed above); nothing was changed`,
      "",
    ].join("\n"),
  );
  assert.equal(await dbHash(d.path), before);
  // --dry-run reports the same conflicts.
  const dry = await d.run(["import", file, "--dry-run"]);
  assert.equal(dry.code, 1);
  assert.equal(dry.stderr, r.stderr);
});

Deno.test("--replace: backup first (valid SQLite, old rows, 0600), then the database equals the file", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--vm-name=one", "--offline"]);
  await d.ok(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=2", "--vm-name=two", "--offline"]);
  await d.ok(["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=3", "--vm-name=three", "--offline"]);
  await d.ok(["settings", "xe-timeout", "60"]);
  await d.ok(["set-pool-name", "--pool-id=A", "--name=Prod"]);
  const historyBefore = query(d.path, "SELECT COUNT(*) AS n FROM history")[0].n as number;
  // vm_ids 1 and 2 change hands; UUID3 goes; UUID4 comes; xe-timeout back to its default.
  const file = writeFile(
    d,
    exportDoc([
      vmEntry(UUID1, 2, { vm_name: "one" }),
      vmEntry(UUID2, 1, { vm_name: "two", priority: "high" }),
      vmEntry(UUID4, 3, { vm_name: "four", pool_id: "B" }),
    ], {
      pools: [{ pool_id: "A", name: "Prod", description: null, enabled: true }],
      settings: { "hook-strict": "on" },
    }),
  );
  const now = new Date("2026-02-02T08:09:10.123Z");
  const r = await d.ok(["import", file, "--replace", "--yes", "--offline"], { now: () => now });
  const backup = `${d.path}.bak-import-20260202T080910Z`;
  assert.match(r.stdout, /VMs: 1 to add, 2 to change, 0 unchanged, 1 to remove\n/);
  assert.match(
    r.stdout,
    new RegExp(`  ~ VM ${UUID2} \\(two\\): priority medium -> high, VM ID 2 -> 1\\n`),
  );
  assert.match(
    r.stdout,
    new RegExp(`  - VM ${UUID3} \\(three\\): vGPU pool A, priority medium, VM ID 3\\n`),
  );
  assert.ok(
    r.stdout.includes(
      "  ~ setting hook-strict: (default) -> on\n  ~ setting xe-timeout: 60 -> (default)\n",
    ),
    r.stdout,
  );
  assert.match(
    r.stdout,
    /: 1 added, 2 changed, 1 removed; 0 vGPU pools and 2 settings changed\.\n/,
  );
  assert.equal(
    r.stderr,
    `Apply this import to ${d.path}? (yes/no): yes (--yes)\nBacked up the database to ${backup} before replacing it\n`,
  );

  // The backup: a valid SQLite database holding the rows as they were, readable by root only.
  assert.equal(Deno.statSync(backup).mode! & 0o777, 0o600);
  assert.deepEqual(query(backup, "PRAGMA integrity_check"), [{ integrity_check: "ok" }]);
  assert.deepEqual(query(backup, "SELECT vm_uuid, vm_id, vm_name FROM vms ORDER BY vm_id"), [
    { vm_uuid: UUID1, vm_id: 1, vm_name: "one" },
    { vm_uuid: UUID2, vm_id: 2, vm_name: "two" },
    { vm_uuid: UUID3, vm_id: 3, vm_name: "three" },
  ]);
  assert.deepEqual(query(backup, "SELECT key, value FROM settings"), [{
    key: "xe-timeout",
    value: "60",
  }]);

  const doc = await exportOf(d);
  assert.deepEqual(doc.vms.map((v) => [v.vm_uuid, v.vm_id, v.priority, v.pool_id]), [
    [UUID2, 1, "high", "A"],
    [UUID1, 2, "medium", "A"],
    [UUID4, 3, "medium", "B"],
  ]);
  assert.equal(doc.vms[0].created_at, "2026-01-11 10:00:00", "a changed VM keeps created_at");
  assert.equal(doc.vms[0].updated_at, "2026-02-02 08:09:10");
  assert.deepEqual(doc.settings, { "hook-strict": "on" });
  assert.equal(doc.pools[0].name, "Prod");
  // One history row per change, all "import", in the same transaction.
  const rows = query(
    d.path,
    `SELECT command, vm_uuid, pool_id, before_json, after_json FROM history WHERE id > ${historyBefore} ORDER BY id`,
  );
  assert.equal(rows.length, 6);
  assert.ok(rows.every((h) => h.command === "import"));
  assert.deepEqual(rows.map((h) => h.vm_uuid), [UUID3, UUID1, UUID2, UUID4, null, null]);
  assert.equal(rows[0].after_json, null);
  assert.deepEqual(JSON.parse(rows[2].after_json as string), {
    vm_uuid: UUID2,
    vm_name: "two",
    pool_id: "A",
    priority: 2,
    vm_id: 1,
  });
  // A second replace within the same second gets its own backup name.
  const second = writeFile(d, exportDoc([]), "empty.json");
  const r2 = await d.ok(["import", second, "--replace", "--yes", "--offline"], { now: () => now });
  assert.match(
    r2.stderr,
    new RegExp(`Backed up the database to ${backup}-2 before replacing it\\n`),
  );
  assert.deepEqual((await exportOf(d)).vms, []);
});

Deno.test("--dry-run: shows the changes, exit 0, the database file unchanged, no backup", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--offline"]);
  const before = await dbHash(d.path);
  const file = writeFile(d, exportDoc([vmEntry(UUID2, 2)], { settings: { "xe-timeout": "45" } }));
  for (const extra of [[], ["--replace"], ["--replace", "--yes"]]) {
    const r = await d.run(["import", file, "--dry-run", ...extra]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`  \\+ VM ${UUID2} \\(vm-2\\): vGPU pool A, priority medium, VM ID 2\\n`),
    );
    assert.ok(r.stdout.endsWith("Nothing was changed (--dry-run).\n"));
    assert.deepEqual(r.questions, []);
    assert.equal(r.stderr, "");
  }
  assert.equal(await dbHash(d.path), before);
  assert.deepEqual([...Deno.readDirSync(d.dir)].filter((e) => e.name.includes(".bak-")), []);
});

Deno.test("confirmation: no, end of input, or a terminal 'no': Cancelled, exit 1, nothing changed", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--offline"]);
  const before = await dbHash(d.path);
  const file = writeFile(d, exportDoc([vmEntry(UUID2, 2)]));
  for (
    const o of [{ input: ["no"] }, { input: [] }, { interactive: true, answers: ["maybe", "no"] }]
  ) {
    const r = await d.run(["import", file, "--replace"], o);
    assert.equal(r.code, 1, JSON.stringify(o));
    assert.match(r.stdout, /1 to remove/);
    assert.ok(r.stderr.endsWith("Cancelled; nothing changed.\n"), r.stderr);
    assert.doesNotMatch(r.stderr, /Backed up/);
  }
  assert.equal(await dbHash(d.path), before);
  assert.deepEqual([...Deno.readDirSync(d.dir)].filter((e) => e.name.includes(".bak-")), []);
  // yes on stdin applies it.
  const y = await d.run(["import", file, "--offline"], { input: ["yes"] });
  assert.equal(y.code, 0, y.stderr);
  assert.equal((await exportOf(d)).vms.length, 2);
});

Deno.test("stdin: 'import -' reads the file from stdin; without --yes or --dry-run it is a usage error", async () => {
  const d = newDb();
  const text = JSON.stringify(exportDoc([vmEntry(UUID1, 1), vmEntry(UUID2, 2)]), null, 2);
  const refused = await d.run(["import", "-"], { input: text.split("\n") });
  assert.equal(refused.code, 2);
  assert.match(
    refused.stderr,
    /^error: import - reads the file from stdin, so the confirmation cannot be answered there: add --yes \(or --dry-run\)\n$/,
  );
  const dry = await d.ok(["import", "-", "--dry-run"], { input: text.split("\n") });
  assert.match(
    dry.stdout,
    /^Import from stdin \(exported 2026-01-10 09:00:00 \+0000\), merging:\n/,
  );
  const r = await d.ok(["import", "-", "--yes", "--offline"], { input: text.split("\n") });
  assert.match(r.stdout, /Imported stdin: 2 added/);
  assert.equal((await exportOf(d)).vms.length, 2);
});

Deno.test("stdin, as a subprocess: export | import - --yes round trip", async () => {
  const a = newDb();
  await populated(a);
  const exported = await runCli(["export"], { env: a.env });
  assert.equal(exported.code, 0, exported.stderr);
  const b = newDb();
  const r = await runCli(["import", "-", "--yes", "--offline"], {
    env: b.env,
    stdin: exported.stdout,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Imported stdin: 4 added/);
  const docB = await exportOf(b);
  assert.deepEqual({ ...docB, exported_at: null }, {
    ...JSON.parse(exported.stdout),
    exported_at: null,
  });
});

Deno.test("a database changed while the import waited for confirmation: nothing written", async () => {
  const d = newDb();
  await d.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--offline"]);
  const opened = await openDatabase(d.path, { now: () => T0, create: true });
  const store = new Store(opened.db, d.path, { actor: "t", command: "import" }, () => T0);
  try {
    const { config } = parseConfigFile(JSON.stringify(exportDoc([vmEntry(UUID2, 2)])));
    const plan = planImport(currentConfiguration(store), config!, "replace");
    assert.equal(plan.removed.length, 1);
    // Meanwhile another admin registers a VM.
    await d.ok(["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=3", "--offline"]);
    const before = await dbHash(d.path);
    assert.throws(
      () => applyImport(store, config!, plan),
      (e) =>
        e instanceof ConflictError &&
        e.message ===
          "the database changed while the import waited for confirmation; nothing was changed: run the import again",
    );
    assert.equal(await dbHash(d.path), before);
    assert.equal(store.listVms().length, 2);
  } finally {
    store.close();
  }
});

// ---- the host ------------------------------------------------------------------------------------

function hostVm(uuid: string, name: string, args: string | undefined, o: Partial<FakeVm> = {}) {
  const platform: Record<string, string> = { viridian: "true" };
  if (args !== undefined) platform[KEY] = args;
  return makeVm({ uuid, nameLabel: name, platform, ...o });
}

Deno.test("host: args written after the commit; running VM noted and marked stale; VM not on the host reported", async () => {
  const h = onHost([
    hostVm(UUID1, "web", "-global kvm-pit.lost_tick_policy=discard"),
    hostVm(UUID2, "db", undefined, { powerState: "running" }),
    hostVm(UUID4, "same", dev("A", "medium", 4)),
  ]);
  const file = writeFile(
    h,
    exportDoc([
      vmEntry(UUID1, 1, { vm_name: "web", priority: "high" }),
      vmEntry(UUID2, 2, { vm_name: "db", pool_id: "B" }),
      vmEntry(UUID3, 3, { vm_name: "elsewhere" }),
      vmEntry(UUID4, 4, { vm_name: "same" }),
    ]),
  );
  Deno.writeTextFileSync(readStateSync(h.statePath).callLog!, "");
  const r = await h.run(["import", file, "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    r.stdout.endsWith([
      `Imported ${file}: 4 added, 0 changed, 0 removed; 0 vGPU pools and 0 settings changed.`,
      `✓ VM ${UUID1} (web): wrote -global kvm-pit.lost_tick_policy=discard ${dev("A", "high", 1)}`,
      `✓ VM ${UUID2} (db): wrote ${
        dev("B", "medium", 2)
      } (the VM is running: it gets these args at its next start; restart it to apply)`,
      `⚠ VM ${UUID3} (elsewhere): not on this host; 'vgpu-admin sync' applies its args when it is`,
      `✓ VM ${UUID4} (same): already carries its vgpu-stub args`,
      "",
    ].join("\n")),
    r.stdout,
  );
  assert.equal(
    platformOf(h, UUID1)[KEY],
    `-global kvm-pit.lost_tick_policy=discard ${dev("A", "high", 1)}`,
  );
  assert.equal(platformOf(h, UUID1).viridian, "true");
  assert.equal(platformOf(h, UUID2)[KEY], dev("B", "medium", 2));
  // One vm-list for all VMs, one vm-param-set per VM whose args differ.
  const verbs = readCallLog(readStateSync(h.statePath)).map((c) => c.argv[0]);
  assert.deepEqual(verbs, ["vm-list", "vm-param-set", "vm-param-set"]);
  assert.deepEqual(query(h.dbPath, "SELECT vm_uuid, reason FROM stale_runs"), [
    { vm_uuid: UUID2, reason: "args rewritten by import" },
  ]);
});

Deno.test("host: an xe failure for one VM is reported for that VM, exit 1, the database keeps the import", async () => {
  const h = onHost([
    hostVm(UUID1, "web", undefined),
    hostVm(UUID2, "broken", undefined),
    hostVm(UUID3, "db", undefined),
  ]);
  await updateState(h.statePath, (s) => {
    s.faults = {
      "vm-param-set": {
        mode: "fail",
        stderr: "Error: something broke\n",
        match: [`uuid=${UUID2}`],
      },
    };
  });
  const file = writeFile(h, exportDoc([vmEntry(UUID1, 1), vmEntry(UUID2, 2), vmEntry(UUID3, 3)]));
  const r = await h.run(["import", file, "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`✓ VM ${UUID1} \\(vm-1\\): wrote ${dev("A", "medium", 1)}\\n`));
  assert.match(
    r.stdout,
    new RegExp(`✗ VM ${UUID2} \\(vm-2\\): could not write its args: .*something broke.*\\n`),
  );
  assert.match(r.stdout, new RegExp(`✓ VM ${UUID3} \\(vm-3\\): wrote ${dev("A", "medium", 3)}\\n`));
  assert.ok(
    r.stderr.endsWith(
      "error: 1 VM of 3 could not be written (listed above); the database keeps the import: run 'vgpu-admin sync' to write them\n",
    ),
    r.stderr,
  );
  assert.equal(platformOf(h, UUID1)[KEY], dev("A", "medium", 1));
  assert.equal(platformOf(h, UUID2)[KEY], undefined);
  assert.equal(platformOf(h, UUID3)[KEY], dev("A", "medium", 3));
  assert.deepEqual((await exportOf(h)).vms.map((v) => v.vm_uuid), [UUID1, UUID2, UUID3]);
  // sync then writes what is missing.
  await updateState(h.statePath, (s) => void (s.faults = {}));
  const sync = await h.run(["sync"]);
  assert.equal(sync.code, 0, sync.stderr);
  assert.equal(platformOf(h, UUID2)[KEY], dev("A", "medium", 2));
});

Deno.test("host: xe cannot be read at all: exit 1, the database keeps the import, sync advised", async () => {
  const h = onHost([hostVm(UUID1, "web", undefined)]);
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-list": { mode: "fail", stderr: "Error: Connection refused\n" } };
  });
  const file = writeFile(h, exportDoc([vmEntry(UUID1, 1)]));
  const r = await h.run(["import", file, "--yes"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /error: the host could not be read, so no VM's args were written: .*Connection refused.*; the database keeps the import: run 'vgpu-admin sync' once xe works\n$/,
  );
  assert.equal((await exportOf(h)).vms.length, 1);
});

Deno.test("host: --replace removes only our device from removed VMs' args (running: until next start)", async () => {
  const h = onHost([
    hostVm(UUID1, "keep", undefined),
    hostVm(UUID2, "gone", `-global x=y ${dev("A", "medium", 2)}`, { powerState: "running" }),
    hostVm(UUID3, "gone-too", dev("A", "medium", 3)),
  ]);
  for (const [uuid, id] of [[UUID1, 1], [UUID2, 2], [UUID3, 3]] as const) {
    await h.ok(["register-vm", `--vm-uuid=${uuid}`, `--vm-id=${id}`, "--offline"]);
  }
  await h.ok(["register-vm", `--vm-uuid=${UUID5}`, "--vm-id=5", "--offline"]); // not on the host
  const file = writeFile(h, exportDoc([vmEntry(UUID1, 1, { vm_name: null, priority: "high" })]));
  const r = await h.run(["import", file, "--replace", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`✓ VM ${UUID1} \\(<no name>\\): wrote ${dev("A", "high", 1)}\\n`),
  );
  assert.match(
    r.stdout,
    new RegExp(
      `✓ VM ${UUID2} \\(<no name>\\): removed its vgpu-stub device \\(the VM is running and keeps it until its next start\\)\\n`,
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(`✓ VM ${UUID3} \\(<no name>\\): removed its vgpu-stub device\\n`),
  );
  assert.match(
    r.stdout,
    new RegExp(`⚠ VM ${UUID5} \\(<no name>\\): not on this host; no args to change\\n`),
  );
  assert.equal(platformOf(h, UUID2)[KEY], "-global x=y");
  assert.equal(platformOf(h, UUID3)[KEY], undefined, "nothing else was left: the key is removed");
  assert.equal(platformOf(h, UUID3).viridian, "true");
});

Deno.test("host: --replace takes a removed VM's device out before its row goes: a failure frees no vm_id", async () => {
  const h = onHost([
    hostVm(UUID1, "keep", dev("A", "medium", 1)),
    hostVm(UUID2, "gone", dev("A", "medium", 2)),
    hostVm(UUID3, "gone-too", `-global x=y ${dev("B", "low", 3)}`),
  ]);
  for (const [uuid, id] of [[UUID1, 1], [UUID2, 2], [UUID3, 3]] as const) {
    await h.ok(["register-vm", `--vm-uuid=${uuid}`, `--vm-id=${id}`, "--offline"]);
  }
  await updateState(h.statePath, (s) => {
    s.faults = {
      "vm-param-set": {
        mode: "fail",
        stderr: "Error: something broke\n",
        match: [`uuid=${UUID3}`],
      },
    };
  });
  const file = writeFile(h, exportDoc([vmEntry(UUID1, 1)]));
  const r = await h.run(["import", file, "--replace", "--yes"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `error: the vgpu-stub device of 1 VM the import removes could not be taken out \\(VM ${UUID3}: .*something broke.*\\), so nothing was imported and no vm_id was freed; the device was already taken out of 1 VM that stays registered: run 'vgpu-admin sync' to write it back, or run the import again\n$`,
    ),
  );
  // the rows stay: no vm_id a VM still carries is free for another VM
  assert.deepEqual((await exportOf(h)).vms.map((v) => v.vm_uuid), [UUID1, UUID2, UUID3]);
  assert.equal(platformOf(h, UUID3)[KEY], `-global x=y ${dev("B", "low", 3)}`);
  const taken = await h.run(["register-vm", `--vm-uuid=${UUID4}`, "--vm-id=3", "--offline"]);
  assert.equal(taken.code, 1, "vm_id 3 was freed while VM 3 still carries it");
  // sync puts back the device already taken out; the import then goes through
  await updateState(h.statePath, (s) => void (s.faults = {}));
  assert.equal((await h.run(["sync"])).code, 0);
  assert.equal(platformOf(h, UUID2)[KEY], dev("A", "medium", 2));
  const again = await h.run(["import", file, "--replace", "--yes"]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(platformOf(h, UUID2)[KEY], undefined);
  assert.equal(platformOf(h, UUID3)[KEY], "-global x=y");
  assert.deepEqual((await exportOf(h)).vms.map((v) => v.vm_uuid), [UUID1]);
});

// ---- scale ---------------------------------------------------------------------------------------

Deno.test("10,000 VMs: an offline import into an empty database, then its export", async () => {
  const d = newDb();
  const vms = Array.from({ length: 10_000 }, (_, i) => {
    const hex = (i + 1).toString(16).padStart(12, "0");
    return vmEntry(`00000000-0000-4000-8000-${hex}`, i + 1, {
      pool_id: i % 2 === 0 ? "A" : "B",
      priority: ["low", "medium", "high"][i % 3],
    });
  });
  const file = writeFile(d, exportDoc(vms));
  const r = await d.ok(["import", file, "--yes", "--offline"]);
  assert.match(r.stdout, /VMs: 10000 to add, 0 to change, 0 unchanged\n/);
  assert.match(r.stdout, /: 10000 added, 0 changed, 0 removed;/);
  assert.deepEqual(query(d.path, "SELECT COUNT(*) AS n FROM vms"), [{ n: 10000 }]);
  assert.deepEqual(query(d.path, "SELECT COUNT(*) AS n FROM history WHERE command = 'import'"), [
    { n: 10000 },
  ]);
  const doc = await exportOf(d);
  assert.equal(doc.vms.length, 10000);
  assert.equal(doc.vms[9999].vm_id, 10000);
  // Again, replacing: everything is unchanged.
  const again = await d.ok(["import", file, "--replace", "--yes", "--offline"]);
  assert.match(
    again.stdout,
    /^Nothing to import: the database already matches .* \(10000 VMs\)\.\n$/,
  );
  Deno.removeSync(d.dir, { recursive: true });
});

/**
 * The read paths behind list-vms, status and doctor at scale (issue 19): rows decoded straight
 * from the arrays SQLite gives (no row object first), equal timestamps kept once, and doctor's
 * look for damaged rows read a page at a time; reports written as they are made. Each must give
 * exactly what the plain decoding gave: every VM its own stored values, every damaged row its
 * one line, on every page, the same bytes.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { writeLines } from "../src/cli/io.ts";
import { mapped, writeJson } from "../src/cli/format.ts";
import { jsonSafe } from "../src/domain/printable.ts";
import { makeVm } from "./fake-xe/state.ts";
import { fakeHost, runInProcess, tempDir } from "./helpers.ts";

const T1 = "2025-01-01 00:00:00";
const T2 = "2025-02-02 12:34:56";
const T3 = "2026-03-03 03:03:03";

const uuidOf = (i: number) => `7d1e2f00-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

interface ExportVm {
  vm_uuid: string;
  vm_name: string | null;
  pool_id: "A" | "B";
  priority: "low" | "medium" | "high";
  vm_id: number;
  created_at: string;
  updated_at: string;
}

/** A database holding `vms`, made through `import --offline` (as an admin restores one). */
async function importedDb(vms: ExportVm[]): Promise<string> {
  const dir = tempDir("vgpu-reads-");
  const db = `${dir}/vgpu_config.db`;
  const file = `${dir}/export.json`;
  Deno.writeTextFileSync(
    file,
    JSON.stringify({
      format: "vgpu-admin-export",
      format_version: 1,
      schema_version: 5,
      exported_at: "2026-01-01T00:00:00.000Z",
      pools: [
        { pool_id: "A", name: "Pool A", description: null, enabled: true },
        { pool_id: "B", name: "Pool B", description: null, enabled: true },
      ],
      vms,
      settings: {},
    }),
  );
  const r = await runInProcess(["import", file, "--offline", "--yes"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  return db;
}

function rawSql(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

const PRIORITIES = ["low", "medium", "high"] as const;

function vm(
  i: number,
  created: string,
  updated: string,
  name: string | null = `vm-${i}`,
): ExportVm {
  return {
    vm_uuid: uuidOf(i),
    vm_name: name,
    pool_id: i % 4 === 0 ? "B" : "A",
    priority: PRIORITIES[i % 3],
    vm_id: i,
    created_at: created,
    updated_at: updated,
  };
}

Deno.test("list-vms gives every VM its own stored timestamps, whether rows share them or not", async () => {
  // equal and different timestamps, side by side and apart, in listing order and out of it
  const stamps: [string, string][] = [
    [T1, T1],
    [T1, T2],
    [T2, T1],
    [T1, T1],
    [T3, T3],
    [T3, T2],
    [T2, T2],
    [T1, T3],
  ];
  const vms = stamps.map(([c, u], k) => vm(k + 1, c, u, k === 2 ? null : `vm-${k + 1}`));
  const db = await importedDb(vms);
  for (const argv of [["list-vms", "--format=json"], ["list-vms", "--format=json", "--pool=A"]]) {
    const r = await runInProcess(argv, { env: { VGPU_DB: db } });
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout).vms as Record<string, unknown>[];
    const want = vms.filter((v) => argv.length === 2 || v.pool_id === "A");
    assert.equal(got.length, want.length);
    for (const g of got) {
      const w = want.find((v) => v.vm_uuid === g.vm_uuid)!;
      assert.deepEqual(
        [g.vm_name, g.pool_id, g.priority, g.vm_id, g.created_at, g.updated_at],
        [w.vm_name, w.pool_id, w.priority, w.vm_id, w.created_at, w.updated_at],
        `${argv.join(" ")}: ${w.vm_uuid}`,
      );
    }
  }
});

/** Hand edits of one vms row that every reader refuses, with the field decodeVm names. */
const DAMAGED_VMS: { name: string; set: string; says: RegExp }[] = [
  { name: "vm_id 0", set: "vm_id = 0", says: /vm_id is 0, not a whole number/ },
  { name: "vm_id 2.5", set: "vm_id = 2.5", says: /vm_id is 2\.5, not a whole number/ },
  { name: "vm_id past the maximum", set: "vm_id = 2147483648", says: /vm_id is 2147483648/ },
  { name: "vm_id as text", set: "vm_id = '2x'", says: /vm_id is the text '2x'/ },
  { name: "upper-case uuid", set: "vm_uuid = upper(vm_uuid)", says: /vm_uuid is the text/ },
  {
    name: "name with a BEL",
    set: "vm_name = 'a' || char(7) || 'b'",
    says: /vm_name is the text 'a\?b'/,
  },
  {
    name: "name with a C1 control",
    set: "vm_name = 'a' || char(133)",
    says: /vm_name is the text 'a\?'/,
  },
  { name: "name as a blob", set: "vm_name = x'6869'", says: /vm_name is a blob of 2 bytes/ },
  { name: "pool C", set: "pool_id = 'C'", says: /pool_id is the text 'C', not A or B/ },
  { name: "pool lower-case", set: "pool_id = 'a'", says: /pool_id is the text 'a', not A or B/ },
  { name: "priority 3", set: "priority = 3", says: /priority is 3, not 0, 1 or 2/ },
  { name: "priority 1.5", set: "priority = 1.5", says: /priority is 1\.5, not 0, 1 or 2/ },
  { name: "priority as text", set: "priority = 'high'", says: /priority is the text 'high'/ },
  { name: "created_at a number", set: "created_at = 12", says: /created_at is 12, not a time/ },
  { name: "updated_at a number", set: "updated_at = 12", says: /updated_at is 12, not a time/ },
];

for (const d of DAMAGED_VMS) {
  Deno.test(`a vms row with ${d.name}: list-vms and status --offline refuse it in one line`, async () => {
    const db = await importedDb([vm(1, T1, T1), vm(2, T1, T2), vm(3, T2, T2)]);
    rawSql(
      db,
      `PRAGMA ignore_check_constraints = 1; PRAGMA foreign_keys = OFF;
       UPDATE vms SET ${d.set} WHERE vm_uuid = '${uuidOf(2)}'`,
    );
    for (
      const argv of [
        ["list-vms"],
        ["list-vms", "--format=json"],
        ["status", "--offline", "--format=json"],
      ]
    ) {
      const r = await runInProcess(argv, { env: { VGPU_DB: db } });
      assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stdout}`);
      assert.equal(r.stdout, "", argv.join(" "));
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^error: database damaged: vms row \S+( \d+)?: /);
      assert.match(lines[0], d.says);
      assert.match(lines[0], /; run 'vgpu-admin doctor'$/);
    }
  });
}

Deno.test("doctor finds the damaged rows of every page of vms and history, a negative rowid too", async () => {
  const n = 600; // more than two pages
  const db = await importedDb(
    Array.from({ length: n }, (_, k) => vm(k + 1, T1, k % 2 === 0 ? T1 : T2)),
  );
  const hist = new DatabaseSync(db);
  const ids = (hist.prepare("SELECT id FROM history ORDER BY id").all() as { id: number }[])
    .map((r) => r.id);
  hist.close();
  assert.ok(ids.length > 512, `import wrote ${ids.length} history rows`);
  const badHistory = [ids[0], ids[255], ids[256], ids[300], ids[ids.length - 1]];
  // vms rows 1, 256, 257 and the last by rowid; one more moved to a negative rowid
  const badVms = [1, 256, 257, n];
  rawSql(
    db,
    `PRAGMA ignore_check_constraints = 1;
     UPDATE vms SET priority = 7 WHERE rowid IN (${badVms.join(",")});
     UPDATE vms SET rowid = -5, priority = 8 WHERE rowid = 100;
     UPDATE history SET after_json = '{"cut' WHERE id IN (${badHistory.join(",")});`,
  );
  const r = await runInProcess(["--db", db, "doctor", "--format=json"], { env: {} });
  assert.equal(r.code, 1, r.stderr);
  const integrity = JSON.parse(r.stdout).checks.find((c: { id: string }) => c.id === "integrity");
  assert.equal(integrity.status, "failed");
  const total = badVms.length + 1 + badHistory.length;
  assert.match(integrity.message, new RegExp(`${total} rows cannot be used`));
  const items: string[] = integrity.items.map((i: { message: string }) => i.message);
  const vmItems = items.filter((m) => m.startsWith("vms row "));
  assert.equal(
    vmItems.filter((m) => /: priority is 7,/.test(m)).length,
    badVms.length,
    items.join("\n"),
  );
  assert.equal(vmItems.filter((m) => /: priority is 8,/.test(m)).length, 1, "the negative rowid");
  for (const id of badHistory) {
    assert.ok(
      items.some((m) => m.startsWith(`history row ${id}: after_json is not valid JSON`)),
      `${id}`,
    );
  }
});

/** Rows the SQL of damagedRows cannot vouch for, yet sound: decoded, never listed. */
const ODD_BUT_SOUND_VMS = [
  "vm_name = 'café-Ωμέγα-日本'",
  "vm_name = NULL",
  "vm_name = 'tab-free ~ printable'",
  "created_at = 'not a time, but text'",
];
/** Hand edits of one history row that decodeHistory refuses, and the words it says. */
const DAMAGED_HISTORY: { set: string; says: RegExp }[] = [
  { set: "at = x'6869'", says: /at is a blob of 2 bytes, not text/ },
  { set: "actor = x'00'", says: /actor is a blob/ },
  { set: "command = x'41'", says: /command is a blob/ },
  { set: "vm_uuid = x'41'", says: /vm_uuid is a blob/ },
  { set: "pool_id = 'C'", says: /pool_id is the text 'C', not A, B or NULL/ },
  { set: "pool_id = 'a'", says: /pool_id is the text 'a'/ },
  { set: "before_json = x'7b7d'", says: /before_json is a blob of 2 bytes, not JSON text/ },
  { set: "before_json = '[1]'", says: /before_json is not a JSON object/ },
  { set: "after_json = 'null'", says: /after_json is not a JSON object/ },
  { set: "after_json = '\"text\"'", says: /after_json is not a JSON object/ },
  { set: "after_json = '{a: 1}'", says: /after_json is not valid JSON/ },
  { set: "after_json = '{\"a\": 1,}'", says: /after_json is not valid JSON/ },
  { set: "after_json = ''", says: /after_json is not valid JSON/ },
  { set: "after_json = '{\"a\": 1} x'", says: /after_json is not valid JSON/ },
];
const ODD_BUT_SOUND_HISTORY = [
  'after_json = \' {"a": {"b": [1, null]}} \'',
  'after_json = \'{"a": "\\ud800"}\'',
  "before_json = NULL, after_json = NULL",
  "pool_id = NULL, vm_uuid = NULL",
];

Deno.test("doctor lists every row a reader refuses, and no other: what SQL vouches for, and the rest decoded", async () => {
  const n = DAMAGED_VMS.length + ODD_BUT_SOUND_VMS.length + 3;
  const db = await importedDb(Array.from({ length: n }, (_, k) => vm(k + 1, T1, T2)));
  const edits: string[] = ["PRAGMA ignore_check_constraints = 1;", "PRAGMA foreign_keys = OFF;"];
  // vms: row k+1 damaged the k-th way, then the odd but sound ones, then 3 plain ones
  DAMAGED_VMS.forEach((d, k) => edits.push(`UPDATE vms SET ${d.set} WHERE rowid = ${k + 1};`));
  ODD_BUT_SOUND_VMS.forEach((set, k) =>
    edits.push(`UPDATE vms SET ${set} WHERE rowid = ${DAMAGED_VMS.length + k + 1};`)
  );
  const hist = new DatabaseSync(db);
  const ids = (hist.prepare("SELECT id FROM history ORDER BY id").all() as { id: number }[])
    .map((r) => r.id);
  hist.close();
  assert.ok(ids.length >= DAMAGED_HISTORY.length + ODD_BUT_SOUND_HISTORY.length);
  DAMAGED_HISTORY.forEach((d, k) =>
    edits.push(`UPDATE history SET ${d.set} WHERE id = ${ids[k]};`)
  );
  ODD_BUT_SOUND_HISTORY.forEach((set, k) =>
    edits.push(`UPDATE history SET ${set} WHERE id = ${ids[DAMAGED_HISTORY.length + k]};`)
  );
  rawSql(db, edits.join("\n"));
  const r = await runInProcess(["--db", db, "doctor", "--format=json"], { env: {} });
  assert.equal(r.code, 1, r.stderr);
  const integrity = JSON.parse(r.stdout).checks.find((c: { id: string }) => c.id === "integrity");
  const items: string[] = integrity.items.map((i: { message: string }) => i.message);
  const vmItems = items.filter((m) => m.startsWith("vms row "));
  const histItems = items.filter((m) => m.startsWith("history row "));
  assert.equal(vmItems.length, DAMAGED_VMS.length, items.join("\n"));
  assert.equal(histItems.length, DAMAGED_HISTORY.length, items.join("\n"));
  // in rowid order, each row with what is wrong with it
  DAMAGED_VMS.forEach((d, k) => assert.match(vmItems[k], d.says, `${d.name}: ${vmItems[k]}`));
  DAMAGED_HISTORY.forEach((d, k) => {
    assert.ok(histItems[k].startsWith(`history row ${ids[k]}: `), histItems[k]);
    assert.match(histItems[k], d.says, `${d.set}: ${histItems[k]}`);
  });
});

Deno.test("writeLines writes a long report as its lines are made, never holding it whole", () => {
  let made = 0;
  const writes: { at: number; length: number }[] = [];
  function* lines() {
    for (let i = 0; i < 10_000; i++) {
      made++;
      yield `line ${i} ${"x".repeat(40)}`;
    }
  }
  writeLines({ write: (t) => void writes.push({ at: made, length: t.length }) }, lines());
  assert.ok(writes.length > 2, `${writes.length} writes`);
  assert.ok(writes[0].at < 10_000, "the first piece is written before the last line is made");
  const total = writes.reduce((a, w) => a + w.length, 0);
  let want = 0;
  for (let i = 0; i < 10_000; i++) want += `line ${i} ${"x".repeat(40)}\n`.length;
  assert.equal(total, want);
});

Deno.test("list-vms over several pages of rows: every VM once, by pool then vm_id, filters too", async () => {
  const n = 1100; // more than two pages of listVms
  // vm_ids not in insertion order, so the order comes from the read, not from the rowids
  const vms = Array.from({ length: n }, (_, k) => vm(((k * 7) % n) + 1, T1, T1));
  const db = await importedDb(vms);
  const key = (v: { pool_id: string; vm_id: number }) => `${v.pool_id}/${v.vm_id}`;
  const byPoolThenId = (a: ExportVm, b: ExportVm) =>
    a.pool_id === b.pool_id ? a.vm_id - b.vm_id : a.pool_id < b.pool_id ? -1 : 1;
  for (
    const [argv, keep] of [
      [[], () => true],
      [["--pool=B"], (v: ExportVm) => v.pool_id === "B"],
      [["--pool=A"], (v: ExportVm) => v.pool_id === "A"], // 825 VMs: two pages
      [["--priority=high"], (v: ExportVm) => v.priority === "high"],
      [["--pool=A", "--priority=low"], (v: ExportVm) => v.pool_id === "A" && v.priority === "low"],
    ] as [string[], (v: ExportVm) => boolean][]
  ) {
    const r = await runInProcess(["list-vms", "--format=json", ...argv], { env: { VGPU_DB: db } });
    assert.equal(r.code, 0, r.stderr);
    const got = (JSON.parse(r.stdout).vms as ExportVm[]).map(key);
    assert.deepEqual(got, vms.filter(keep).sort(byPoolThenId).map(key), argv.join(" "));
  }
  const t = await runInProcess(["list-vms"], { env: { VGPU_DB: db } });
  assert.match(t.stdout, /\n1100 VMs\n$/);
  // a damaged row on a later page is still found, and named
  rawSql(db, `PRAGMA ignore_check_constraints = 1; UPDATE vms SET priority = 7 WHERE vm_id = 1000`);
  const d = await runInProcess(["list-vms"], { env: { VGPU_DB: db } });
  assert.equal(d.code, 1);
  assert.match(
    d.stderr,
    new RegExp(`^error: database damaged: vms row ${uuidOf(1000)}: priority is 7`),
  );
});

Deno.test("writeJson writes 10,000 elements in pieces small enough for V8's young generation", () => {
  const names = Array.from(
    { length: 10_000 },
    (_, i) => i % 100 === 7 ? `vm-${i}-日本` : `vm-${i}`,
  );
  const body = {
    filter: { pool_id: null },
    // 1-1.5 KB each, as status's VMs are
    vms: mapped(names, (n) => ({ vm_name: n, devices: [n, n], args: `${n} `.repeat(150) })),
  };
  const pieces: string[] = [];
  writeJson({ write: (t) => void pieces.push(t) }, body);
  const want = JSON.stringify({ schema_version: 1, ...body }, null, 2) + "\n";
  assert.equal(pieces.join(""), want);
  // two bytes a character (a CJK name in the piece): 128 KB is V8's large-object size
  const longest = Math.max(...pieces.map((p) => p.length));
  assert.ok(longest * 2 < 128 * 1024, `a piece of ${longest} characters`);
});

Deno.test("list-vms measures with the width library a pool name that needs it", async () => {
  const family = "👨‍👩‍👧"; // one grapheme, 2 columns, 8 UTF-16 units
  const db = await importedDb([vm(1, T1, T1), vm(2, T1, T1)]);
  const r0 = await runInProcess(["set-pool-name", "--pool-id=A", `--name=GPU ${family} ☕`], {
    env: { VGPU_DB: db },
  });
  assert.equal(r0.code, 0, r0.stderr);
  const r = await runInProcess(["list-vms"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  // "A (GPU 👨‍👩‍👧 ☕)" takes 13 columns
  assert.equal(
    lines[1],
    "│ VM ID │ UUID                                 │ Name │ vGPU Pool     │ Priority │",
  );
  assert.equal(lines[3], `│ 1     │ ${uuidOf(1)} │ vm-1 │ A (GPU ${family} ☕) │ medium   │`);
});

Deno.test("list-vms measures with the width library a VM name that needs it", async () => {
  const family = "👨‍👩‍👧";
  const db = await importedDb([vm(1, T1, T1), vm(2, T1, T1, `${family} x`)]);
  const r = await runInProcess(["list-vms"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  // "👨‍👩‍👧 x" takes 4 columns, as "vm-1" and the header do
  assert.equal(
    lines[1],
    "│ VM ID │ UUID                                 │ Name │ vGPU Pool  │ Priority │",
  );
  assert.equal(lines[4], `│ 2     │ ${uuidOf(2)} │ ${family} x │ A (Pool A) │ high     │`);
});

/** docs/json.md: JSON.stringify(doc, null, 2) and a newline, with jsonSafe's escapes. */
function assertDocumentForm(stdout: string, what: string): unknown {
  const doc = JSON.parse(stdout);
  assert.equal(stdout, jsonSafe(JSON.stringify(doc, null, 2)) + "\n", what);
  return doc;
}

// quotes, backslashes, line and paragraph separators, bidi overrides, a surrogate pair, NEL
const ODD = ['say "hi" \\ back', "a\u2028b\u2029c", "x\u202ey\u2066z", "🎮 ÿ", "d\u0085e"];

Deno.test("list-vms --format=json: each VM's text is the document's form, odd names and pools too", async () => {
  const vms = [
    ...ODD.map((name, k) => vm(k + 1, T1, k % 2 === 0 ? T1 : T2, name.replace("\u0085", "-"))),
    vm(9, T2, T3, null),
    vm(12, T3, T3), // pool B
  ];
  const db = await importedDb(vms);
  for (
    const argv of [
      ["set-pool-name", "--pool-id=A", `--name=${ODD[0]} ${ODD[1]}`],
      ["set-pool-name", "--pool-id=B", `--name=${ODD[2]}`],
      ["disable-pool", "--pool-id=B"],
    ]
  ) {
    const r = await runInProcess(argv, { env: { VGPU_DB: db } });
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  }
  const r = await runInProcess(["list-vms", "--format=json"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  const doc = assertDocumentForm(r.stdout, "list-vms") as { vms: Record<string, unknown>[] };
  assert.equal(doc.vms.length, vms.length);
  for (const g of doc.vms) {
    const w = vms.find((v) => v.vm_uuid === g.vm_uuid)!;
    assert.deepEqual(
      [g.vm_name, g.created_at, g.updated_at, g.pool_name, g.pool_enabled],
      [
        w.vm_name,
        w.created_at,
        w.updated_at,
        w.pool_id === "A" ? `${ODD[0]} ${ODD[1]}` : ODD[2],
        w.pool_id === "A",
      ],
    );
    assert.deepEqual(Object.keys(g), [
      "vm_uuid",
      "vm_name",
      "pool_id",
      "priority",
      "priority_value",
      "vm_id",
      "device",
      "created_at",
      "updated_at",
      "pool_name",
      "pool_enabled",
    ]);
  }
});

Deno.test("status --format=json: each VM state's text is the document's form, odd names too", async () => {
  const h = fakeHost([
    ...ODD.map((name, k) =>
      makeVm({ uuid: uuidOf(k + 1), nameLabel: name, powerState: k % 2 ? "running" : "halted" })
    ),
    makeVm({ uuid: uuidOf(20), nameLabel: `unregistered ${ODD[1]}`, powerState: "halted" }),
  ]);
  for (let k = 0; k < 3; k++) {
    const r = await runInProcess(["register-vm", `--vm-uuid=${uuidOf(k + 1)}`], {
      env: h.env,
    });
    assert.equal(r.code, 0, r.stderr);
  }
  for (const argv of [["status", "--format=json"], ["status", "--offline", "--format=json"]]) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, r.stderr);
    const doc = assertDocumentForm(r.stdout, argv.join(" ")) as {
      pools: { vms: { registered: { vm_name: string } }[] }[];
      unregistered: { host: { name_label: string } }[] | null;
    };
    const names = doc.pools.flatMap((p) => p.vms.map((v) => v.registered.vm_name)).sort();
    assert.deepEqual(names, ODD.slice(0, 3).sort(), argv.join(" "));
    if (argv.length === 2) {
      assert.deepEqual(
        doc.unregistered!.map((u) => u.host.name_label).sort(),
        [...ODD.slice(3), `unregistered ${ODD[1]}`].sort(),
      );
    }
  }
});

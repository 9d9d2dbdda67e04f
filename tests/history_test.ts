/**
 * history (issue 4): every kind of change leaves one row with its command, actor, subject and
 * before/after snapshots, in the same transaction as the change; newest first, by VM, limited;
 * the actor is the human behind sudo; an operation that failed or was compensated (or declined,
 * or refused) leaves no row.
 */
import { openDatabase } from "../src/store/open.ts";
import assert from "node:assert/strict";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION } from "../src/domain/config-file.ts";
import {
  fakeHost,
  type FakeHostEnv,
  platformOf,
  runCli,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
} from "./helpers.ts";
import { makeVm, updateState } from "./fake-xe/state.ts";
import { actorFrom, userNameOf } from "../src/cli/deps.ts";

const KEY = "device-model-args";
const T0 = Date.parse("2026-01-11T10:00:00.000Z");
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

type Run = Awaited<ReturnType<typeof runInProcess>>;
type RunOptions = NonNullable<Parameters<typeof runInProcess>[1]>;

interface HistoryJson {
  id: number;
  at: string;
  actor: string;
  command: string;
  vm_uuid: string | null;
  pool_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

interface Env extends FakeHostEnv {
  /** Runs a command; each run happens one minute after the previous one. */
  run(argv: string[], o?: RunOptions): Promise<Run>;
  ok(argv: string[], o?: RunOptions): Promise<Run>;
  history(...flags: string[]): Promise<HistoryJson[]>;
}

function setup(vms = [
  makeVm({ uuid: UUID1, nameLabel: "web", platform: { viridian: "true" } }),
  makeVm({ uuid: UUID2, nameLabel: "db", platform: { [KEY]: "-global a=b" } }),
]): Env {
  const h = fakeHost(vms);
  let minute = 0;
  const run = (argv: string[], o: RunOptions = {}) => {
    const at = new Date(T0 + 60_000 * minute++);
    return runInProcess(argv, {
      now: () => at,
      ...o,
      env: { ...h.env, USER: "root", SUDO_USER: "alice", ...o.env },
    });
  };
  const e: Env = {
    ...h,
    run,
    async ok(argv, o) {
      const r = await run(argv, o);
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
      return r;
    },
    async history(...flags) {
      const r = await e.ok(["history", "--format=json", ...flags]);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.schema_version, 1);
      return doc.history;
    },
  };
  return e;
}

function importFile(dir: string, vms: Record<string, unknown>[], settings = {}): string {
  const path = `${dir}/import.json`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify({
      format: EXPORT_FORMAT,
      format_version: EXPORT_FORMAT_VERSION,
      pools: [{ pool_id: "B", name: "Batch", description: null, enabled: true }],
      vms,
      settings,
    }),
  );
  return path;
}

const snap = (uuid: string, name: string | null, pool: string, priority: number, vmId: number) => ({
  vm_uuid: uuid,
  vm_name: name,
  pool_id: pool,
  priority,
  vm_id: vmId,
});

Deno.test("every kind of change is recorded: command, actor, time, subject, before and after", async () => {
  const h = setup();
  await h.ok(["register-vm", `--vm-uuid=${UUID1}`, "--priority=high", "--vm-id=1"]); // minute 0
  await h.ok(["set-priority", `--vm-uuid=${UUID1}`, "--priority=low", "--yes"]); // 1
  await h.ok(["set-pool-name", "--pool-id=A", "--name=Production", "--description=fast"]); // 2
  await h.ok(["settings", "xe-timeout", "60"]); // 3
  await h.ok(["settings", "xe-timeout", "--unset"]); // 4
  const file = importFile(h.dir, [
    { vm_uuid: UUID2, vm_name: "db", pool_id: "B", priority: "medium", vm_id: 2 },
  ], { "hook-strict": "on" });
  await h.ok(["import", file, "--yes"]); // 5
  await h.ok(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]); // 6
  // The VMs' args followed every change.
  assert.equal(platformOf(h, UUID1)[KEY], undefined);
  assert.equal(platformOf(h, UUID2)[KEY], `-global a=b ${dev("B", "medium", 2)}`);

  const at = (minute: number) => new Date(T0 + 60_000 * minute).toISOString();
  const entries = await h.history();
  assert.deepEqual(entries.map(({ id: _, ...e }) => e), [
    {
      at: at(6),
      actor: "alice",
      command: "remove-vm",
      vm_uuid: UUID1,
      pool_id: null,
      before: snap(UUID1, "web", "A", 0, 1),
      after: null,
    },
    // One import: one row per VM, pool and setting it changed, at the same time.
    {
      at: at(5),
      actor: "alice",
      command: "import",
      vm_uuid: null,
      pool_id: null,
      before: null,
      after: { "hook-strict": "on" },
    },
    {
      at: at(5),
      actor: "alice",
      command: "import",
      vm_uuid: null,
      pool_id: "B",
      before: { pool_name: "Pool B", description: null, enabled: true },
      after: { pool_name: "Batch", description: null, enabled: true },
    },
    {
      at: at(5),
      actor: "alice",
      command: "import",
      vm_uuid: UUID2,
      pool_id: null,
      before: null,
      after: snap(UUID2, "db", "B", 1, 2),
    },
    {
      at: at(4),
      actor: "alice",
      command: "settings",
      vm_uuid: null,
      pool_id: null,
      before: { "xe-timeout": "60" },
      after: null,
    },
    {
      at: at(3),
      actor: "alice",
      command: "settings",
      vm_uuid: null,
      pool_id: null,
      before: null,
      after: { "xe-timeout": "60" },
    },
    {
      at: at(2),
      actor: "alice",
      command: "set-pool-name",
      vm_uuid: null,
      pool_id: "A",
      before: { pool_name: "Pool A", description: null },
      after: { pool_name: "Production", description: "fast" },
    },
    {
      at: at(1),
      actor: "alice",
      command: "set-priority",
      vm_uuid: UUID1,
      pool_id: null,
      before: snap(UUID1, "web", "A", 2, 1),
      after: snap(UUID1, "web", "A", 0, 1),
    },
    {
      at: at(0),
      actor: "alice",
      command: "register-vm",
      vm_uuid: UUID1,
      pool_id: null,
      before: null,
      after: snap(UUID1, "web", "A", 2, 1),
    },
  ]);
  // ids increase with time: newest first means highest id first.
  const ids = entries.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
});

Deno.test("newest first, --vm-uuid keeps one VM's entries, --limit the newest n", async () => {
  const h = setup();
  const reg = (uuid: string, id: number) =>
    h.ok(["register-vm", `--vm-uuid=${uuid}`, `--vm-id=${id}`, "--offline"]);
  await reg(UUID1, 1);
  await reg(UUID2, 2);
  await h.ok(["set-pool-name", "--pool-id=B", "--name=Batch"]);
  await reg(UUID3, 3);
  await h.ok(["remove-vm", `--vm-uuid=${UUID1}`, "--yes", "--offline"]);

  const all = await h.history();
  assert.deepEqual(all.map((e) => [e.command, e.vm_uuid ?? e.pool_id]), [
    ["remove-vm", UUID1],
    ["register-vm", UUID3],
    ["set-pool-name", "B"],
    ["register-vm", UUID2],
    ["register-vm", UUID1],
  ]);
  assert.deepEqual((await h.history(`--vm-uuid=${UUID1}`)).map((e) => e.command), [
    "remove-vm",
    "register-vm",
  ]);
  // The uuid is taken as register-vm takes it: trimmed, any case.
  assert.equal((await h.history(`--vm-uuid= ${UUID1.toUpperCase()} `)).length, 2);
  assert.deepEqual((await h.history("--limit=2")).map((e) => e.vm_uuid), [UUID1, UUID3]);
  assert.deepEqual((await h.history(`--vm-uuid=${UUID1}`, "--limit=1")).map((e) => e.command), [
    "remove-vm",
  ]);
  assert.equal((await h.history("--limit=100")).length, 5);
  assert.deepEqual(await h.history("--vm-uuid=99999999-9999-4999-8999-999999999999"), []);

  // The table: a header, then the rows in the same order.
  const table = await h.ok(["history", "--limit=2"]);
  const rows = table.stdout.split("\n").filter((l) => l.includes(" root ") || l.includes("alice"));
  assert.equal(rows.length, 2, table.stdout);
  assert.match(rows[0], /alice\s+│ remove-vm\s+│ 11111111-1111-4111-8111-111111111111/);
  assert.match(rows[1], /alice\s+│ register-vm\s+│ 33333333-3333-4333-8333-333333333333/);
  assert.match(table.stdout, /Time\s+│ Actor\s+│ Command\s+│ Subject\s+│ Change\s+│/);
});

Deno.test("history of an empty database; bad --limit and --vm-uuid are usage errors", async () => {
  const dir = tempDir("vgpu-history-");
  const env = { VGPU_DB: `${dir}/db` };
  // A database created and never changed (a read command never creates one).
  (await openDatabase(`${dir}/db`, { now: () => new Date(), create: true })).db.close();
  const empty = await runInProcess(["history"], { env });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, "No changes recorded.\n");
  const json = await runInProcess(["history", "--format=json"], { env });
  assert.deepEqual(JSON.parse(json.stdout), { schema_version: 1, history: [] });
  for (const bad of [["--limit=0"], ["--limit=-1"], ["--limit=ten"], ["--vm-uuid=nope"]]) {
    const r = await runInProcess(["history", ...bad], { env });
    assert.equal(r.code, 2, bad.join(" "));
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^error: invalid --(limit|vm-uuid) /);
  }
});

/** The user name of this process's uid, as id(1) says. */
async function idUn(): Promise<string> {
  const r = await new Deno.Command("id", { args: ["-un"], stdout: "piped" }).output();
  return new TextDecoder().decode(r.stdout).trim();
}

Deno.test("actor: $SUDO_USER, else $USER, else the uid's user name", async () => {
  const dir = tempDir("vgpu-history-");
  const db = `${dir}/db`;
  const cases: [Record<string, string>, string][] = [
    [{ SUDO_USER: "alice", USER: "root" }, "alice"],
    [{ USER: "bob" }, "bob"],
    [{ SUDO_USER: "", USER: "carol" }, "carol"],
    [{}, await idUn()],
  ];
  for (const [i, [env, actor]] of cases.entries()) {
    const r = await runInProcess(["settings", "xe-timeout", String(10 + i)], {
      env: { VGPU_DB: db, ...env },
    });
    assert.equal(r.code, 0, r.stderr);
    const h = await runInProcess(["history", "--format=json", "--limit=1"], {
      env: { VGPU_DB: db },
    });
    assert.equal(JSON.parse(h.stdout).history[0].actor, actor, JSON.stringify(env));
  }
});

Deno.test("actor without USER, with the product's permissions (--allow-sys=uid)", async () => {
  const db = `${tempDir("vgpu-history-")}/db`;
  // runCli gives the CLI only PATH, HOME and these: no USER, no SUDO_USER (as xapi runs the hook).
  const r = await runCli(["settings", "xe-timeout", "12"], { env: { VGPU_DB: db } });
  assert.equal(r.code, 0, r.stderr);
  const h = await runCli(["history", "--format=json"], { env: { VGPU_DB: db } });
  assert.equal(JSON.parse(h.stdout).history[0].actor, await idUn());
});

Deno.test("userNameOf reads passwd lines; actorFrom falls back to the uid's name", () => {
  const passwd = "root:x:0:0:root:/root:/bin/bash\n#x:1\nalice:x:1000:1000::/home/alice:/bin/sh\n";
  assert.equal(userNameOf(passwd, 0), "root");
  assert.equal(userNameOf(passwd, 1000), "alice");
  assert.equal(userNameOf(passwd, 1001), null);
  const env = (v: Record<string, string>) => ({ get: (n: string) => v[n], all: () => v });
  assert.equal(actorFrom(env({}), () => "uid 42"), "uid 42");
  assert.equal(actorFrom(env({ USER: "bob" }), () => "root"), "bob");
  assert.equal(actorFrom(env({}), () => null), "unknown");
});

Deno.test("failed, compensated, declined or refused operations leave no history row", async () => {
  const h = setup([
    makeVm({ uuid: UUID1, nameLabel: "web", platform: { viridian: "true" } }),
    makeVm({ uuid: UUID2, nameLabel: "db", platform: {} }),
  ]);
  await h.ok(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1"]);
  const baseline = await h.history();
  assert.equal(baseline.length, 1);
  const failWrites = () =>
    updateState(h.statePath, (s) => {
      const fail = { mode: "fail", stderr: "Error: something broke\n" } as const;
      s.faults = { "vm-param-set": fail, "vm-param-remove": fail };
    });
  const clearFaults = () => updateState(h.statePath, (s) => void (s.faults = {}));

  await failWrites();
  // register-vm: the row is undone when its args cannot be written.
  const reg = await h.run(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=2"]);
  assert.equal(reg.code, 1);
  assert.match(reg.stderr, /so it was not registered/);
  // set-priority: compensated (row and history back as they were).
  const setp = await h.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=high", "--yes"]);
  assert.equal(setp.code, 1);
  // remove-vm: the row comes back.
  const rm = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /so it stays registered/);
  await clearFaults();

  // Declined at the confirmation.
  const declined = await h.run(["set-priority", `--vm-uuid=${UUID1}`, "--priority=high"], {
    input: ["no"],
  });
  assert.equal(declined.code, 1);
  assert.equal(declined.stderr.endsWith("Cancelled; nothing changed.\n"), true);
  // Refused: a vm_id conflict; an import with a conflict; an import declined.
  const conflict = await h.run(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=1", "--offline"]);
  assert.equal(conflict.code, 1);
  const bad = importFile(h.dir, [
    { vm_uuid: UUID2, vm_name: null, pool_id: "A", priority: "low", vm_id: 1 },
  ]);
  assert.equal((await h.run(["import", bad, "--yes", "--offline"])).code, 1);
  const good = importFile(h.dir, [
    { vm_uuid: UUID2, vm_name: null, pool_id: "A", priority: "low", vm_id: 2 },
  ]);
  assert.equal((await h.run(["import", good, "--offline"], { input: ["no"] })).code, 1);
  assert.equal((await h.run(["import", good, "--dry-run"])).code, 0);

  assert.deepEqual(await h.history(), baseline);

  // The documented exception: an import whose host writes fail keeps its rows (and says so).
  await failWrites();
  const kept = await h.run(["import", good, "--yes"]);
  assert.equal(kept.code, 1);
  assert.match(kept.stderr, /the database keeps the import: run 'vgpu-admin sync'/);
  const after = await h.history();
  assert.deepEqual(after.slice(0, 2).map((e) => [e.command, e.vm_uuid ?? e.pool_id]), [
    ["import", "B"],
    ["import", UUID2],
  ]);
});

Deno.test("history table: priority by name, names quoted, local time with offset", async () => {
  const db = `${tempDir("vgpu-history-")}/db`;
  const env = { VGPU_DB: db, USER: "root" };
  const reg = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=web, db; test #7", "--priority=low"]
      .concat(["--vm-id=7", "--offline"]),
    { env, now: () => new Date(T0) },
  );
  assert.equal(reg.code, 0, reg.stderr);
  const r = await runInProcess(["history"], { env });
  assert.equal(r.code, 0, r.stderr);
  const row = r.stdout.split("\n")[3];
  assert.ok(
    row.includes('│ new: vm_name="web, db; test #7" pool_id=A priority=low vm_id=7 │'),
    r.stdout,
  );
  assert.match(row, /^│ 2026-01-11 \d\d:\d\d:00 [+-]\d{4} │ root /);
  assert.ok(!r.stdout.includes("priority=0"));
});

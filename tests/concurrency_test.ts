/**
 * Concurrency (issue 4): several vgpu-admin processes writing one database at once. Each round
 * starts 8 register-vm subprocesses (product permissions, --offline) at the same moment, some
 * contending for the same uuid or vm_id and some taking the lowest free vm_id, together with
 * start hooks for an already registered VM on a fake host. Every writer must exit 0 or 1 with
 * the documented conflict error (never a "database is locked" or "busy" escape), the database
 * must hold exactly one winner per contested uuid/vm_id with unique auto-assigned ids, and the
 * history must hold exactly one row per winner. No timing is asserted: only outcomes.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type CliResult, fakeHost, runCli, runInProcess, tempDir } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const HOOKED = "0c0c0c0c-0000-4000-8000-000000000001";
const HOOKED_DEVICE = "-device vgpu-stub,pool_id=B,priority=high,vm_id=7777";

/** A uuid unique to (round, slot). */
const uuidOf = (round: number, slot: number) =>
  `c0c0c0c0-${String(round).padStart(4, "0")}-4000-8000-${String(slot).padStart(12, "0")}`;

interface Writer {
  uuid: string;
  /** undefined: the lowest free vm_id. */
  vmId?: number;
  /** Writers of one group contend: exactly one of them wins. */
  group: string;
}

/**
 * The 8 writers of round `r`: two uuids after one explicit vm_id, two processes registering the
 * same uuid with the lowest free vm_id, two lone auto-id writers, and one uuid registered twice
 * with two different explicit vm_ids.
 */
function writersOf(r: number): Writer[] {
  const contestedId = 1000 + r * 10;
  return [
    { uuid: uuidOf(r, 1), vmId: contestedId, group: `vm_id ${contestedId}` },
    { uuid: uuidOf(r, 2), vmId: contestedId, group: `vm_id ${contestedId}` },
    { uuid: uuidOf(r, 3), group: "same uuid, auto id" },
    { uuid: uuidOf(r, 3), group: "same uuid, auto id" },
    { uuid: uuidOf(r, 4), group: "auto 4" },
    { uuid: uuidOf(r, 5), group: "auto 5" },
    { uuid: uuidOf(r, 6), vmId: contestedId + 1, group: "same uuid, two ids" },
    { uuid: uuidOf(r, 6), vmId: contestedId + 2, group: "same uuid, two ids" },
  ];
}

const ROUNDS = 3;
const HOOKS_PER_ROUND = 2;

interface VmRow {
  vm_uuid: string;
  vm_id: number;
  vm_name: string | null;
}
interface HistoryRow {
  command: string;
  vm_uuid: string | null;
  before_json: string | null;
  after_json: string | null;
}

function readDb(path: string): { vms: VmRow[]; history: HistoryRow[]; integrity: string } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = <T>(sql: string) => db.prepare(sql).all().map((r) => ({ ...r }) as T);
    return {
      vms: rows<VmRow>("SELECT vm_uuid, vm_id, vm_name FROM vms ORDER BY vm_id"),
      history: rows<HistoryRow>(
        "SELECT command, vm_uuid, before_json, after_json FROM history ORDER BY id",
      ),
      integrity: (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
        .integrity_check,
    };
  } finally {
    db.close();
  }
}

const CONFLICT = [
  // the VM's operation lock: another register-vm of the same VM is running (design.md §5)
  /^error: VM \S+ is being changed by another vgpu-admin \(register-vm, pid \d+, since .*\); wait for it to finish, then run the command again$/,
  /^error: VM ID \d+ already in use by VM [0-9a-f-]{36} \(.*\)(; pass --vm-id=\d+ \(the next free vm_id\) to choose another)?$/,
  /^error: VM [0-9a-f-]{36} is already registered \(vGPU pool [AB], VM ID \d+\); change it with 'vgpu-admin update-vm'$/,
];

function assertWriterOutcome(w: Writer, r: CliResult): void {
  const what = `register-vm ${w.uuid} vm_id=${w.vmId ?? "auto"} (${w.group})`;
  assert.doesNotMatch(r.stderr, /locked|busy|bug:/i, `${what}: ${r.stderr}`);
  if (r.code === 0) {
    assert.equal(r.stderr, "", what);
    assert.match(
      r.stdout,
      new RegExp(`^Registered VM ${w.uuid} \\(w-[0-9a-f-]+\\): vGPU pool A, priority medium, `),
      what,
    );
    return;
  }
  assert.equal(r.code, 1, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, "", what);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `${what}: one error line: ${r.stderr}`);
  assert.ok(CONFLICT.some((re) => re.test(lines[0])), `${what}: not a conflict: ${lines[0]}`);
}

Deno.test({
  name: "concurrency: 8 register-vm processes at once, 3 rounds, with start hooks running",
  sanitizeResources: false,
  async fn() {
    const h = fakeHost([
      makeVm({
        uuid: HOOKED,
        nameLabel: "hooked",
        powerState: "halted",
        platform: { [KEY]: HOOKED_DEVICE },
      }),
    ]);
    // The hooked VM is registered first (in sync), so each hook run has a row to check. (The
    // race to create a missing database is the next test.)
    const env = h.env;
    const reg = await runInProcess([
      "register-vm",
      `--vm-uuid=${HOOKED}`,
      "--pool=B",
      "--priority=high",
      "--vm-id=7777",
    ], { env });
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, /already carries/);

    const winners = new Map<string, number>(); // uuid → vm_id, over all rounds
    winners.set(HOOKED, 7777);
    for (let round = 1; round <= ROUNDS; round++) {
      const writers = writersOf(round);
      const runs = writers.map((w, i) =>
        runCli([
          "register-vm",
          `--vm-uuid=${w.uuid}`,
          `--vm-name=w-${i}-${w.uuid}`,
          ...(w.vmId === undefined ? [] : [`--vm-id=${w.vmId}`]),
          "--offline",
        ], { env })
      );
      const hooks = Array.from(
        { length: HOOKS_PER_ROUND },
        () => runCli(["startup-hook", `--vm-uuid=${HOOKED}`, "--reason=none"], { env }),
      );
      const results = await Promise.all(runs);
      const hookResults = await Promise.all(hooks);

      for (const [i, w] of writers.entries()) assertWriterOutcome(w, results[i]);
      for (const hr of hookResults) {
        assert.equal(hr.code, 0, `startup-hook: ${hr.stderr}`);
        assert.equal(hr.stderr, "");
      }

      // One winner per group; the winners are what the database holds.
      const groups = new Map<string, number[]>();
      writers.forEach((w, i) => groups.set(w.group, [...(groups.get(w.group) ?? []), i]));
      for (const [group, members] of groups) {
        const won = members.filter((i) => results[i].code === 0);
        assert.equal(won.length, 1, `round ${round}, ${group}: ${won.length} winners`);
        const w = writers[won[0]];
        const m = results[won[0]].stdout.match(/VM ID (\d+)/);
        assert.ok(m, results[won[0]].stdout);
        const vmId = Number(m[1]);
        if (w.vmId !== undefined) assert.equal(vmId, w.vmId, group);
        winners.set(w.uuid, vmId);
      }

      const db = readDb(h.dbPath);
      assert.equal(db.integrity, "ok");
      assert.deepEqual(
        new Map(db.vms.map((v) => [v.vm_uuid, v.vm_id])),
        winners,
        `round ${round}: the database holds exactly the winners`,
      );
      const ids = db.vms.map((v) => v.vm_id);
      assert.equal(new Set(ids).size, ids.length, "vm_ids are unique");
      // The auto-assigned ids are the lowest free ones: 1..(number of auto winners so far).
      const autos = [...winners.entries()]
        .filter(([u]) => u !== HOOKED && /-0{11}[345]$/.test(u))
        .map(([, id]) => id)
        .sort((a, b) => a - b);
      assert.deepEqual(autos, autos.map((_, i) => i + 1), "auto ids are 1, 2, 3, ... unique");
      // Exactly one history row per winner, agreeing with its row.
      const regs = db.history.filter((r) => r.command === "register-vm");
      assert.equal(regs.length, winners.size, `round ${round}: one history row per winner`);
      for (const v of db.vms) {
        const rows = regs.filter((r) => r.vm_uuid === v.vm_uuid);
        assert.equal(rows.length, 1, v.vm_uuid);
        assert.equal(rows[0].before_json, null);
        const after = JSON.parse(rows[0].after_json!);
        assert.deepEqual([after.vm_id, after.vm_name], [v.vm_id, v.vm_name], v.vm_uuid);
      }
    }
    // Every hook run found the VM in sync and logged one line saying so.
    const log = Deno.readTextFileSync(h.logPath).split("\n").filter((l) => l !== "");
    assert.equal(log.length, ROUNDS * HOOKS_PER_ROUND);
    for (const line of log) {
      assert.match(line, new RegExp(`vm=${HOOKED} reason=none action=in-sync result=ok `));
    }
  },
});

Deno.test("concurrency: 8 processes racing to create and initialise a missing database", async () => {
  const dir = tempDir("vgpu-race-");
  const path = `${dir}/new/vgpu_config.db`;
  const writers = writersOf(0);
  const results = await Promise.all(writers.map((w, i) =>
    runCli([
      "--db",
      path,
      "register-vm",
      `--vm-uuid=${w.uuid}`,
      `--vm-name=w-${i}-${w.uuid}`,
      ...(w.vmId === undefined ? [] : [`--vm-id=${w.vmId}`]),
      "--offline",
    ])
  ));
  for (const [i, w] of writers.entries()) assertWriterOutcome(w, results[i]);
  const db = readDb(path);
  assert.equal(db.integrity, "ok");
  assert.equal(db.vms.length, 5, "one winner per group");
  assert.equal(db.history.filter((r) => r.command === "register-vm").length, 5);
  const pools = await runCli(["--db", path, "list-pools", "--format=json"]);
  assert.equal(pools.code, 0, pools.stderr);
  assert.equal(JSON.parse(pools.stdout).pools.length, 2);
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
});

Deno.test({
  name: "concurrency: a writer waits out a held lock; past the 5 s bound it fails with one line",
  sanitizeResources: false,
  async fn() {
    const h = fakeHost([
      makeVm({ uuid: HOOKED, nameLabel: "hooked", platform: { [KEY]: HOOKED_DEVICE } }),
    ]);
    const env = h.env;
    const reg = await runInProcess(
      ["register-vm", `--vm-uuid=${HOOKED}`, "--pool=B", "--priority=high", "--vm-id=7777"],
      { env },
    );
    assert.equal(reg.code, 0, reg.stderr);
    const register = (slot: number) =>
      runCli(["register-vm", `--vm-uuid=${uuidOf(9, slot)}`, "--offline"], { env });
    const hookRun = () => runCli(["startup-hook", `--vm-uuid=${HOOKED}`], { env });

    // Another connection holds the write lock for about a second: the writers wait and win.
    const holder = new DatabaseSync(h.dbPath);
    holder.exec("PRAGMA busy_timeout = 5000");
    holder.exec("BEGIN IMMEDIATE");
    const waiting = [register(1), register(2), hookRun()];
    await new Promise((r) => setTimeout(r, 1000));
    holder.exec("COMMIT");
    const [w1, w2, hk] = await Promise.all(waiting);
    for (const w of [w1, w2]) assert.deepEqual([w.code, w.stderr], [0, ""]);
    assert.deepEqual([hk.code, hk.stderr], [0, ""], "the hook only reads: never blocked");

    // Held past the busy bound: the writer gives up with the documented line and changes
    // nothing, while the start hook (a reader, in WAL mode) still answers.
    holder.exec("BEGIN IMMEDIATE");
    let late: CliResult, hook2: CliResult;
    try {
      [late, hook2] = await Promise.all([register(3), hookRun()]);
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    assert.equal(late.code, 1);
    assert.equal(late.stdout, "");
    assert.equal(
      late.stderr,
      `error: database ${h.dbPath} is locked by another process (another vgpu-admin, or a program with a transaction open on it); try again once it is done\n`,
    );
    assert.deepEqual([hook2.code, hook2.stderr], [0, ""]);
    const db = readDb(h.dbPath);
    assert.deepEqual(db.vms.map((v) => v.vm_uuid).sort(), [HOOKED, uuidOf(9, 1), uuidOf(9, 2)]);
    assert.equal(db.history.length, 3, "no history row for the writer that gave up");
    const log = Deno.readTextFileSync(h.logPath).split("\n").filter((l) => l !== "");
    assert.equal(log.length, 2);
    for (const line of log) assert.match(line, /action=in-sync result=ok /);
  },
});

/**
 * Crashes (issue 4): vgpu-admin killed with SIGKILL in the middle of a long operation. A SIGKILL
 * skips every compensation, so the database is the only thing that must stay consistent: it
 * passes `PRAGMA integrity_check`, holds all or none of the change, and its history agrees with
 * its rows. What the VM is left in is asserted too (the documented limit: `status`/`sync` show
 * it). Deterministic: each kill waits for a known step (the fake xe logs every call as it
 * starts), and only outcomes are asserted, never durations.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  fakeHost,
  type FakeHostEnv,
  processGone,
  runInProcess,
  spawnCli,
  tempDir,
  until,
  UUID1,
} from "./helpers.ts";
import {
  DEFAULT_HOST_UUID,
  type FakeVm,
  findVm,
  makeVm,
  readCallLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const HAND = "-global kvm-pit.lost_tick_policy=discard";
const dev = (pool: string) => `-device vgpu-stub,pool_id=${pool},priority=high,vm_id=1`;
const OLD_ARGS = `${HAND} ${dev("A")}`;
const NEW_ARGS = `${HAND} ${dev("B")}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DbView {
  integrity: string;
  vms: { vm_uuid: string; pool_id: string; priority: number; vm_id: number }[];
  history: { command: string; vm_uuid: string | null; before: unknown; after: unknown }[];
}

function readDb(path: string): DbView {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : null);
    return {
      integrity: (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
        .integrity_check,
      vms: db.prepare("SELECT vm_uuid, pool_id, priority, vm_id FROM vms ORDER BY vm_id").all()
        .map((r) => ({ ...r }) as DbView["vms"][number]),
      history: db.prepare(
        // configuration rows (stops and starts have power rows: history_power_test.ts)
        `SELECT command, vm_uuid, before_json, after_json FROM history
         WHERE after_json IS NULL OR json_extract(after_json, '$.power') IS NULL ORDER BY id`,
      )
        .all().map((r) => ({
          command: r.command as string,
          vm_uuid: r.vm_uuid as string | null,
          before: json(r.before_json),
          after: json(r.after_json),
        })),
    };
  } finally {
    db.close();
  }
}

// ---- (a) SIGKILL in the middle of a reconfiguration ------------------------------------------

/** UUID1 "web": running, registered (A, high, vm_id 1) and in sync. */
async function reconfigureHost(): Promise<FakeHostEnv> {
  const vm: FakeVm = makeVm({
    uuid: UUID1,
    nameLabel: "web",
    powerState: "running",
    platform: { [KEY]: OLD_ARGS, viridian: "true" },
  });
  const h = fakeHost([vm]);
  const r = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--pool=A", "--priority=high", "--vm-id=1"],
    { env: h.env },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /already carries/);
  return h;
}

interface KillPoint {
  /** The xe call during which vgpu-admin is killed (it is delayed so the kill lands inside). */
  verb: string;
  match?: string[];
  /** Whether the database change had been committed before that call began (design.md §5). */
  committed: boolean;
  /** What the VM is left in once xapi (the fake) has finished the call vgpu-admin started. */
  power: "halted" | "running";
  args: string;
  /**
   * The xe call dies with vgpu-admin (its whole process group killed) before xapi acted on it:
   * the row is new but the VM's args are old, which `sync --check` reports and `sync` repairs.
   */
  xeDiesToo?: boolean;
}

const KILL_POINTS: KillPoint[] = [
  // Step 4: the clean shutdown. Nothing committed; xapi completes the shutdown: the VM stays
  // down, with its old (still correct) args. `status` shows it halted, and in sync.
  { verb: "vm-shutdown", committed: false, power: "halted", args: OLD_ARGS },
  // Step 5, before the commit: reading the VM's args after the shutdown.
  {
    verb: "vm-param-get",
    match: [`param-name=platform`],
    committed: false,
    power: "halted",
    args: OLD_ARGS,
  },
  // Step 5, after the commit: writing the args. The row is new; xapi completes the write; the
  // VM stays down with the new args (in sync, but not restarted).
  { verb: "vm-param-set", committed: true, power: "halted", args: NEW_ARGS },
  { verb: "vm-param-set", committed: true, power: "halted", args: OLD_ARGS, xeDiesToo: true },
  // Step 6: the restart. The row is new; xapi completes the start: running with the new args.
  { verb: "vm-start", committed: true, power: "running", args: NEW_ARGS },
];

for (const k of KILL_POINTS) {
  Deno.test(
    `crash: SIGKILL during set-pool's ${k.verb}${
      k.xeDiesToo ? " (xe killed too)" : ""
    } -> the row is ${k.committed ? "new" : "old"}, history agrees`,
    async () => {
      const h = await reconfigureHost();
      // held until vgpu-admin is dead (10 s at most), then let go: the orphan completes
      const release = `${h.dir}/release`;
      await updateState(h.statePath, (s) => {
        s.faults = { [k.verb]: { mode: "delay", ms: 10_000, times: 1, match: k.match, release } };
      });
      const startCalls = readCallLog(readStateSync(h.statePath)).length;
      const child = spawnCli(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"], h.env);
      // The delayed call has started (it logs before sleeping): kill vgpu-admin inside it.
      const call = await until(
        `xe ${k.verb}`,
        () =>
          readCallLog(readStateSync(h.statePath)).slice(startCalls).find((c) =>
            c.argv[0] === k.verb && (k.match ?? []).every((m) => c.argv.includes(m))
          ),
      );
      child.kill("SIGKILL");
      if (k.xeDiesToo) Deno.kill(call.pid, "SIGKILL"); // still inside its delay: never acted
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL", "killed, not finished");
      if (!k.xeDiesToo) Deno.writeTextFileSync(release, "");
      // xapi does not care that its client died: the call it was given completes.
      await until(
        "the orphaned xe call to finish",
        () => (processGone(call.pid) ? true : undefined),
      );
      const calls = readCallLog(readStateSync(h.statePath)).slice(startCalls);
      assert.equal(calls.at(-1)!.pid, call.pid, "nothing ran after the killed step");

      const db = readDb(h.dbPath);
      assert.equal(db.integrity, "ok");
      assert.deepEqual(db.vms.map((v) => [v.vm_uuid, v.pool_id, v.priority, v.vm_id]), [
        [UUID1, k.committed ? "B" : "A", 2, 1],
      ]);
      const setPool = db.history.filter((r) => r.command === "set-pool");
      if (k.committed) {
        assert.equal(setPool.length, 1, "exactly one set-pool history row for the new row");
        assert.deepEqual(
          [setPool[0].vm_uuid, (setPool[0].before as { pool_id: string }).pool_id],
          [UUID1, "A"],
        );
        assert.equal((setPool[0].after as { pool_id: string }).pool_id, "B");
      } else {
        assert.equal(setPool.length, 0, "no history row for a change that was not made");
      }
      assert.equal(db.history.length, k.committed ? 2 : 1);

      // What the VM is left in: a SIGKILL skips the restart and the compensation.
      const vm = findVm(readStateSync(h.statePath), UUID1)!;
      assert.equal(vm.powerState, k.power);
      assert.equal(vm.platform[KEY], k.args);
      if (k.power === "running") {
        assert.equal(vm.residentOn, DEFAULT_HOST_UUID);
        assert.equal(vm.bootedArgs, NEW_ARGS, "it booted with the committed configuration");
      }
      // ... and the tools show it: the journal entry is open, so sync --check reports drift
      // and names recover, and every command warns (design.md §5 step 10).
      const drift = await runInProcess(["sync", "--check"], { env: h.env });
      assert.equal(drift.code, 3, drift.stdout + drift.stderr);
      assert.match(drift.stdout, new RegExp(`⚠ VM ${UUID1} has an interrupted set-pool `));
      assert.match(drift.stderr, /^warning: VM .* run 'vgpu-admin recover --vm-uuid=/m);
      for (const view of [["status"], ["scan-vms"], ["show-vm", `--vm-uuid=${UUID1}`]]) {
        const shownBefore = await runInProcess(view, { env: h.env });
        assert.match(
          shownBefore.stdout,
          new RegExp(`^⚠ Interrupted: VM ${UUID1} has an interrupted set-pool `),
          view[0],
        );
      }
      const busy = await runInProcess(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"], {
        env: h.env,
      });
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /^error: VM .* has an interrupted set-pool .*recover.* first$/m);
      // recover brings it back to running, database and args in agreement.
      const rec = await runInProcess(["recover", "--yes"], { env: h.env });
      assert.equal(rec.code, 0, rec.stdout + rec.stderr);
      const back = findVm(readStateSync(h.statePath), UUID1)!;
      assert.equal(
        back.powerState,
        "running",
        `running again, as before the kill: ${rec.stdout}${rec.stderr}`,
      );
      const row = readDb(h.dbPath).vms[0];
      assert.equal(back.platform[KEY], `${HAND} ${dev(row.pool_id)}`, "args carry the row");
      assert.equal(back.bootedArgs, back.platform[KEY], "it runs what the database says");
      const check = await runInProcess(["sync", "--check"], { env: h.env });
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(check.stderr, "", "no warning once recovered");
      const shown = await runInProcess(["show-vm", `--vm-uuid=${UUID1}`], { env: h.env });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /\n {2}Power: +running\n/);
      assert.match(shown.stdout, /✓ in sync with the database/);
    },
  );
}

// ---- (b) SIGKILL in the middle of a long import ----------------------------------------------

const IMPORT_VMS = 20_000;
/**
 * Registered before the import: KEPT is not in the file (a merge keeps it, --replace removes
 * it), SAME is in it unchanged (a merge refuses to change a registered VM).
 */
const KEPT = "0c0c0c0c-1111-4000-8000-000000000001";
const SAME = "0c0c0c0c-2222-4000-8000-000000000002";

/** An export-format file (docs/json.md "export file") of 20,000 new VMs plus SAME. */
function importFile(): string {
  const prio = ["low", "medium", "high"];
  const vms = Array.from({ length: IMPORT_VMS }, (_, i) => ({
    vm_uuid: `0e0e0e0e-0000-4000-8000-${String(i).padStart(12, "0")}`,
    vm_name: `imported-${i}`,
    pool_id: i % 2 === 0 ? "A" : "B",
    priority: prio[i % 3],
    vm_id: i + 1,
  }));
  vms.push({ vm_uuid: SAME, vm_name: "same", pool_id: "A", priority: "medium", vm_id: 30002 });
  return JSON.stringify({
    format: "vgpu-admin-export",
    format_version: 1,
    schema_version: 3,
    exported_at: "2026-01-11T10:00:00.000Z",
    pools: [
      { pool_id: "A", name: "Pool A", description: null, enabled: true },
      { pool_id: "B", name: "Pool B", description: null, enabled: true },
    ],
    vms,
    settings: { "xe-timeout": "40" },
  });
}

/** The database before the import: KEPT and SAME registered, one setting. */
const IMPORT_TEMPLATE = await (async () => {
  const dir = tempDir("vgpu-crash-import-");
  const path = `${dir}/vgpu_config.db`;
  for (
    const argv of [
      ["register-vm", `--vm-uuid=${KEPT}`, "--vm-name=kept", "--vm-id=30001", "--offline"],
      ["register-vm", `--vm-uuid=${SAME}`, "--vm-name=same", "--vm-id=30002", "--offline"],
      ["settings", "shutdown-timeout", "60"],
    ]
  ) {
    const r = await runInProcess(argv, { env: { VGPU_DB: path } });
    assert.equal(r.code, 0, r.stderr);
  }
  const file = `${dir}/import.json`;
  Deno.writeTextFileSync(file, importFile());
  return { path, file };
})();

/** Everything an import changes, without timestamps: rows, history, settings, pools. */
function configState(path: string): { integrity: string; state: string; vms: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const all = (q: string) => JSON.stringify(db.prepare(q).all());
    const integrity = (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
      .integrity_check;
    // History agrees with the rows: each VM's newest history row describes the row as it is.
    const agree = db.prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(
         last IS NULL OR json_extract(last, '$.vm_name') IS NOT vm_name
         OR json_extract(last, '$.pool_id') IS NOT pool_id
         OR json_extract(last, '$.priority') IS NOT priority
         OR json_extract(last, '$.vm_id') IS NOT vm_id), 0) AS bad
       FROM (SELECT v.*, (SELECT after_json FROM history h WHERE h.vm_uuid = v.vm_uuid
                          ORDER BY id DESC LIMIT 1) AS last
             FROM vms v)`,
    ).get() as { n: number; bad: number };
    assert.equal(agree.bad, 0, `${agree.bad} VM rows disagree with their newest history row`);
    return {
      integrity,
      vms: agree.n,
      state: [
        all("SELECT vm_uuid, vm_name, pool_id, priority, vm_id FROM vms ORDER BY vm_uuid"),
        all(`SELECT command, vm_uuid, pool_id, before_json, after_json FROM history ORDER BY id`),
        all("SELECT key, value FROM settings ORDER BY key"),
        all("SELECT pool_id, pool_name, description, enabled FROM pools ORDER BY pool_id"),
      ].join("\n"),
    };
  } finally {
    db.close();
  }
}

function copyTemplate(): string {
  const dir = tempDir("vgpu-crash-db-");
  Deno.copyFileSync(IMPORT_TEMPLATE.path, `${dir}/vgpu_config.db`);
  return `${dir}/vgpu_config.db`;
}

const importArgv = (db: string, replace: boolean) => [
  "--db",
  db,
  "import",
  IMPORT_TEMPLATE.file,
  "--offline",
  "--yes",
  ...(replace ? ["--replace"] : []),
];

/** The state a completed import leaves (the "all" of all-or-nothing), per mode. */
const completed = new Map<boolean, ReturnType<typeof configState>>();
async function completedState(replace: boolean): Promise<ReturnType<typeof configState>> {
  let s = completed.get(replace);
  if (s === undefined) {
    const db = copyTemplate();
    const status = await spawnCli(importArgv(db, replace), {}).status;
    assert.equal(status.code, 0, "the import completes when left alone");
    s = configState(db);
    assert.equal(s.vms, IMPORT_VMS + (replace ? 1 : 2));
    completed.set(replace, s);
  }
  return s;
}

interface ImportKill {
  label: string;
  /** Kill this long after the start (a point somewhere in start-up, parsing or writing)... */
  afterMs?: number;
  /** ...or once the import's transaction has spilled this much into the WAL (inside it)... */
  walBytes?: number;
  /** ...or once a reader sees the import committed (then all of it must stay). */
  committed?: boolean;
  replace?: boolean;
  /** Then run the same import again: the next vgpu-admin recovers the database and completes it. */
  rerun?: boolean;
}

const IMPORT_KILLS: ImportKill[] = [
  { label: "50 ms after start", afterMs: 50 },
  { label: "150 ms after start", afterMs: 150 },
  { label: "400 ms after start", afterMs: 400 },
  { label: "inside its transaction (1 MiB in the WAL)", walBytes: 1 << 20, rerun: true },
  { label: "inside its transaction (4 MiB in the WAL)", walBytes: 4 << 20 },
  { label: "inside a --replace transaction (2 MiB in the WAL)", walBytes: 2 << 20, replace: true },
  { label: "right after its commit", committed: true },
];

for (const k of IMPORT_KILLS) {
  Deno.test(`crash: SIGKILL during an import of ${IMPORT_VMS} VMs, ${k.label} -> all or nothing`, async () => {
    const before = configState(IMPORT_TEMPLATE.path);
    const after = await completedState(k.replace === true);
    const db = copyTemplate();
    const child = spawnCli(importArgv(db, k.replace === true), {});
    let exited = false;
    child.status.then(() => (exited = true));
    if (k.afterMs !== undefined) await sleep(k.afterMs);
    else if (k.committed) {
      const reader = new DatabaseSync(db, { readOnly: true });
      try {
        const count = reader.prepare("SELECT COUNT(*) AS n FROM vms");
        await until(
          "the import's commit",
          () => (count.get() as { n: number }).n === after.vms ? true : undefined,
        );
      } finally {
        reader.close();
      }
    } else {
      await until(`${k.walBytes} bytes in the WAL`, () => {
        if (exited) throw new Error("the import finished before the kill point: use more VMs");
        try {
          return Deno.statSync(`${db}-wal`).size >= k.walBytes! ? true : undefined;
        } catch {
          return undefined;
        }
      });
    }
    child.kill("SIGKILL");
    const status = await child.status;
    const s = configState(db);
    assert.equal(s.integrity, "ok");
    const outcome = s.state === before.state ? "none" : s.state === after.state ? "all" : "partial";
    assert.notEqual(outcome, "partial", `a partial import is visible (${s.vms} VMs)`);
    if (k.walBytes !== undefined) {
      assert.equal(status.signal, "SIGKILL", "killed inside the transaction");
    }
    if (k.committed) assert.equal(outcome, "all", "a committed import survives the kill");
    if (k.rerun) {
      const again = await spawnCli(importArgv(db, k.replace === true), {}).status;
      assert.equal(again.code, 0);
      assert.equal(configState(db).state, after.state);
    }
  });
}

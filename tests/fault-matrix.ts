/**
 * The fault matrix of issue 9 (design.md §5): a reconfiguration of a running VM is hit at every
 * step boundary by SIGKILL, SIGINT, SIGTERM or SIGHUP. Whatever happened, once the process is
 * gone (and, after SIGKILL, `recover --yes` has run) the promise must hold: the VM is in its
 * original power state, the database row equals the vgpu-stub in its args, its other args are
 * untouched, no journal entry is open, and history's newest row describes the row as it is.
 *
 * Deterministic where it matters: a "during" point delays the xe call and signals vgpu-admin
 * once the fake has logged it; an "after" point signals as soon as the call's exit is logged
 * (wherever the run is then, the same outcome must hold). Only outcomes are asserted.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { carriedConfig } from "../src/domain/journal.ts";
import {
  fakeHost,
  type FakeHostEnv,
  processesWithEnv,
  processGone,
  runInProcess,
  spawnCli,
  until,
  UUID1,
} from "./helpers.ts";
import { findVm, makeVm, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";

export const KEY = "device-model-args";
export const HAND = "-global kvm-pit.lost_tick_policy=discard";
export const ORIGINAL_ARGS = `${HAND} -device vgpu-stub,pool_id=A,priority=high,vm_id=1`;

export type MatrixSignal = "SIGKILL" | "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT";
const EXIT: Record<Exclude<MatrixSignal, "SIGKILL">, number> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
  SIGQUIT: 131,
};

export interface Point {
  verb: string;
  match?: string[];
  when: "during" | "after";
}

/** Nine step boundaries of a running VM's reconfiguration (plan, stop, read, write, start). */
export const POINTS: Point[] = [
  { verb: "vm-list", when: "during" },
  { verb: "vm-shutdown", when: "during" },
  { verb: "vm-shutdown", when: "after" },
  { verb: "vm-param-get", match: ["param-name=platform"], when: "during" },
  { verb: "vm-param-get", match: ["param-name=platform"], when: "after" },
  { verb: "vm-param-set", when: "during" },
  { verb: "vm-param-set", when: "after" },
  { verb: "vm-start", when: "during" },
  { verb: "vm-start", when: "after" },
];

export const DURING = POINTS.filter((p) => p.when === "during");

export function pointName(p: Point): string {
  return `${p.when} ${p.verb}${p.match ? ` (${p.match.join(" ")})` : ""}`;
}

/** UUID1 "web": running, registered (A, high, vm_id 1), args in sync, a hand-set arg kept. */
export async function runningHost(): Promise<FakeHostEnv> {
  const h = fakeHost([
    makeVm({
      uuid: UUID1,
      nameLabel: "web",
      powerState: "running",
      platform: { [KEY]: ORIGINAL_ARGS, viridian: "true" },
    }),
  ]);
  await updateState(h.statePath, (s) => {
    s.exitLog = `${h.dir}/xe-exits.jsonl`;
  });
  const r = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--pool=A", "--priority=high", "--vm-id=1"],
    { env: h.env },
  );
  assert.equal(r.code, 0, r.stderr);
  return h;
}

interface DbState {
  row: { pool_id: "A" | "B"; priority: 0 | 1 | 2; vm_id: number };
  open: number;
  lastHistory: { pool_id: string; priority: number; vm_id: number } | null;
}

function readDb(path: string): DbState {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare("SELECT pool_id, priority, vm_id FROM vms WHERE vm_uuid = ?").get(
      UUID1,
    ) as DbState["row"];
    const open = (db.prepare("SELECT COUNT(*) AS n FROM op_journal WHERE closed_at IS NULL")
      .get() as { n: number }).n;
    const h = db.prepare(
      // the newest configuration row (stops and starts have power rows: history_power_test.ts)
      `SELECT after_json FROM history WHERE vm_uuid = ?
         AND (after_json IS NULL OR json_extract(after_json, '$.power') IS NULL)
       ORDER BY id DESC LIMIT 1`,
    ).get(UUID1) as { after_json: string | null } | undefined;
    return {
      row: { ...row },
      open,
      lastHistory: h?.after_json ? JSON.parse(h.after_json) : null,
    };
  } finally {
    db.close();
  }
}

/** The promise of design.md §5, checked on the host state and the database file. */
export function assertPromiseHolds(
  h: FakeHostEnv,
  what: string,
  power: "running" | "halted" = "running",
): void {
  const vm = findVm(readStateSync(h.statePath), UUID1)!;
  assert.equal(vm.powerState, power, `${what}: the VM is ${power} as before`);
  const db = readDb(h.dbPath);
  assert.equal(db.open, 0, `${what}: no journal entry is open`);
  const args = vm.platform[KEY];
  const carried = carriedConfig(args);
  assert.deepEqual(
    carried && { pool_id: carried.pool, priority: carried.priority, vm_id: carried.vmId },
    db.row,
    `${what}: the row equals the vgpu-stub the VM carries (${args})`,
  );
  assert.ok(args.startsWith(`${HAND} -device vgpu-stub,`), `${what}: other args kept: ${args}`);
  assert.equal(vm.platform.viridian, "true", `${what}: other platform keys kept`);
  if (vm.bootedArgs !== undefined && power === "running") {
    assert.equal(vm.bootedArgs, args, `${what}: it runs what the database says`);
  }
  assert.deepEqual(
    db.lastHistory && {
      pool_id: db.lastHistory.pool_id,
      priority: db.lastHistory.priority,
      vm_id: db.lastHistory.vm_id,
    },
    db.row,
    `${what}: history's newest row describes the row as it is`,
  );
}

/**
 * Runs `argv` as a subprocess in its own process group, hits it with `sig` at `p`, lets it end,
 * runs `recover --yes` where the process died, and asserts the promise. Returns how it ended.
 */
export async function hit(argv: string[], p: Point, sig: MatrixSignal): Promise<string> {
  const h = await runningHost();
  const what = `${argv[0]} ${sig} ${pointName(p)}`;
  // "during": the call is held (10 s at most) until the signal has done its work: vgpu-admin
  // said it caught it (its handler has run), or it is dead
  const release = `${h.dir}/release`;
  let released = false;
  const letGo = () => {
    if (!released) Deno.writeTextFileSync(release, "");
    released = true;
  };
  if (p.when === "during") {
    await updateState(h.statePath, (s) => {
      s.faults = { [p.verb]: { mode: "delay", ms: 10_000, times: 1, match: p.match, release } };
    });
  }
  const start = readCallLog(readStateSync(h.statePath)).length;
  const child = spawnCli(argv, h.env, { piped: true, detached: true });
  let stderr = "";
  const out = Promise.all([
    child.stdout.pipeTo(new WritableStream()),
    (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child.stderr) {
        stderr += dec.decode(chunk, { stream: true });
        if (stderr.includes(`${sig} received: `)) letGo();
      }
    })(),
  ]).then(() => child.status);
  const call = await until(
    `xe ${p.verb}`,
    () =>
      readCallLog(readStateSync(h.statePath)).slice(start).find((c) =>
        c.argv[0] === p.verb && (p.match ?? []).every((m) => c.argv.includes(m)) &&
        (p.when === "during" || c.exit !== undefined)
      ),
  );
  // SIGINT, SIGQUIT and SIGHUP go to the whole process group (Ctrl-C, Ctrl-\, a dropped SSH
  // session); xe runs in its own, as vgpu-admin spawns it. SIGTERM and SIGKILL go to the process
  // alone.
  try {
    if (sig === "SIGINT" || sig === "SIGHUP" || sig === "SIGQUIT") Deno.kill(-child.pid, sig);
    else Deno.kill(child.pid, sig);
  } catch {
    // it finished already: the promise must hold all the same
  }
  const r = await out;
  letGo();
  assert.doesNotMatch(stderr, /bug:|Uncaught|at file:/, `${what}: ${stderr}`);
  let ended: string;
  if (sig === "SIGKILL") {
    ended = r.code === 0 ? "finished" : "killed";
    // xapi does not care that its client died: the calls it was given complete. Every one of
    // them, not only the one the kill aimed at: after an "after" point vgpu-admin may already
    // have started the next call (recover must not run before that orphan has acted)
    await until("the orphaned xe call", () => (processGone(call.pid) ? true : undefined));
    await until(
      "every orphaned xe call of the killed run",
      () => processesWithEnv("FAKE_XE_STATE", h.statePath).length === 0 || undefined,
    );
    const rec = await runInProcess(["recover", "--yes"], { env: h.env });
    assert.equal(rec.code, 0, `${what}: recover: ${rec.stdout}${rec.stderr}`);
  } else {
    // caught: it finished or undid the change itself and exits 128+n; outside the apply phase
    // (planning, or after the end) the default action ends it, having changed nothing half-way
    ended = r.code === EXIT[sig] ? "caught" : r.signal === sig ? "default" : `exit ${r.code}`;
    assert.ok(
      r.code === EXIT[sig] || r.signal === sig || r.code === 0,
      `${what}: exit ${r.code} signal ${r.signal}: ${stderr}`,
    );
    const rec = await runInProcess(["recover", "--yes"], { env: h.env });
    assert.equal(rec.code, 0, `${what}: ${rec.stderr}`);
    assert.match(rec.stdout, /^No interrupted operations/, `${what}: the run put it back itself`);
  }
  assertPromiseHolds(h, what);
  const check = await runInProcess(["sync", "--check"], { env: h.env });
  assert.equal(check.code, 0, `${what}: sync --check: ${check.stdout}${check.stderr}`);
  return ended;
}

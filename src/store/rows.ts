// Row decoding: every row read from the database is checked here before the rest of the program
// sees it. A row edited by hand or by another program (vm_id stored as text, a priority out of
// range, history JSON cut short) becomes one "database damaged" line naming the table, the row
// and what is wrong, never a crash further on, and never a value written to a VM's args.
import { DatabaseError } from "../domain/errors.ts";
import { isUuid } from "../domain/validate.ts";
import {
  FORWARD_STEPS,
  type ForwardStep,
  JOURNAL_STEPS,
  type JournalEntry,
  type JournalStep,
} from "../domain/journal.ts";
import {
  type Pool,
  type PoolId,
  type PowerState,
  type Priority,
  type VgpuConfig,
  type Vm,
  VM_ID_MAX,
} from "../domain/types.ts";

/** The one wording for a damaged row (design.md §7); `doctor` lists them all. */
export class DamagedRowError extends DatabaseError {
  constructor(readonly table: string, readonly key: string, readonly what: string) {
    super(`database damaged: ${table} row ${key}: ${what}; run 'vgpu-admin doctor'`);
  }
}

/** A stored value in words: `the text '5,x=1'`, `NULL`, `3.5`, `a blob`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") {
    // deno-lint-ignore no-control-regex
    const shown = v.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
    return `the text '${[...shown].slice(0, 40).join("")}${[...shown].length > 40 ? "…" : ""}'`;
  }
  if (v instanceof Uint8Array) return `a blob of ${v.length} bytes`;
  return typeof v;
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const isText = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;

/** The key that names a vms row: its uuid when that is sound, else its rowid. */
function vmKey(r: Record<string, unknown>): string {
  return isText(r.vm_uuid) && isUuid(r.vm_uuid) ? r.vm_uuid : `rowid ${describeValue(r._rowid)}`;
}

/** A `vms` row (selected with VM_COLUMNS, which include its rowid as _rowid). */
export function decodeVm(r: Record<string, unknown>): Vm {
  const bad = (what: string) => new DamagedRowError("vms", vmKey(r), what);
  if (!isText(r.vm_uuid) || !isUuid(r.vm_uuid)) {
    throw bad(`vm_uuid is ${describeValue(r.vm_uuid)}, not a lower-case uuid`);
  }
  if (!isInt(r.vm_id, 1, VM_ID_MAX)) {
    throw bad(`vm_id is ${describeValue(r.vm_id)}, not a whole number from 1 to ${VM_ID_MAX}`);
  }
  if (r.vm_name !== null && (!isText(r.vm_name) || CONTROL.test(r.vm_name))) {
    throw bad(`vm_name is ${describeValue(r.vm_name)}, not text without control characters`);
  }
  if (r.pool_id !== "A" && r.pool_id !== "B") {
    throw bad(`pool_id is ${describeValue(r.pool_id)}, not A or B`);
  }
  if (!isInt(r.priority, 0, 2)) {
    throw bad(`priority is ${describeValue(r.priority)}, not 0, 1 or 2`);
  }
  for (const c of ["created_at", "updated_at"] as const) {
    if (!isText(r[c])) throw bad(`${c} is ${describeValue(r[c])}, not a time`);
  }
  return {
    vmId: r.vm_id,
    vmUuid: r.vm_uuid,
    vmName: r.vm_name as string | null,
    pool: r.pool_id as PoolId,
    priority: r.priority as Priority,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

/**
 * A `vms` row read as an array in VM_COLUMNS order (Sql.allAs): the same checks and result as
 * decodeVm, without building the row object first; a row that is not plainly sound goes through
 * decodeVm itself, which names what is wrong. Equal timestamps share one string (a VM never
 * changed, VMs registered in one import): 10,000 rows keep fewer copies (issue 19, peak RSS).
 */
export function decodeVmValues(a: readonly unknown[], shared: TimeStrings): Vm {
  const vmId = a[0], vmUuid = a[1], vmName = a[2], pool = a[3], priority = a[4];
  const created = a[5], updated = a[6];
  if (
    typeof vmId === "number" && Number.isInteger(vmId) && vmId >= 1 && vmId <= VM_ID_MAX &&
    typeof vmUuid === "string" && isUuid(vmUuid) &&
    (vmName === null || (typeof vmName === "string" && !CONTROL.test(vmName))) &&
    (pool === "A" || pool === "B") && (priority === 0 || priority === 1 || priority === 2) &&
    typeof created === "string" && typeof updated === "string"
  ) {
    const c = shared.time(created);
    return {
      vmId,
      vmUuid,
      vmName,
      pool: pool === "A" ? "A" : "B",
      priority,
      createdAt: c,
      updatedAt: updated === c ? c : shared.time(updated),
    };
  }
  return decodeVm({
    vm_id: vmId,
    vm_uuid: vmUuid,
    vm_name: vmName,
    pool_id: pool,
    priority,
    created_at: created,
    updated_at: updated,
    _rowid: a[7],
  });
}

/** The last timestamp read, given back for an equal one instead of a second copy. */
export class TimeStrings {
  #last = "";
  time(s: string): string {
    if (s === this.#last) return this.#last;
    this.#last = s;
    return s;
  }
}

export function decodePool(r: Record<string, unknown>): Pool {
  const key = r.pool_id === "A" || r.pool_id === "B" ? r.pool_id : describeValue(r.pool_id);
  const bad = (what: string) => new DamagedRowError("pools", key, what);
  if (r.pool_id !== "A" && r.pool_id !== "B") throw bad("pool_id is not A or B");
  if (!isText(r.pool_name) || r.pool_name === "" || CONTROL.test(r.pool_name)) {
    throw bad(`pool_name is ${describeValue(r.pool_name)}, not a name`);
  }
  if (r.description !== null && (!isText(r.description) || CONTROL.test(r.description))) {
    throw bad(`description is ${describeValue(r.description)}, not text`);
  }
  if (r.enabled !== 0 && r.enabled !== 1) {
    throw bad(`enabled is ${describeValue(r.enabled)}, not 0 or 1`);
  }
  for (const c of ["created_at", "updated_at"] as const) {
    if (!isText(r[c])) throw bad(`${c} is ${describeValue(r[c])}, not a time`);
  }
  return {
    poolId: r.pool_id,
    name: r.pool_name,
    description: r.description as string | null,
    enabled: r.enabled === 1,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

export interface HistoryRowValue {
  id: number;
  at: string;
  actor: string;
  command: string;
  vmUuid: string | null;
  poolId: PoolId | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export function decodeHistory(r: Record<string, unknown>): HistoryRowValue {
  const bad = (what: string) => new DamagedRowError("history", describeValue(r.id), what);
  if (!isInt(r.id, 1, Number.MAX_SAFE_INTEGER)) throw bad("id is not a whole number");
  for (const c of ["at", "actor", "command"] as const) {
    if (!isText(r[c])) throw bad(`${c} is ${describeValue(r[c])}, not text`);
  }
  if (r.vm_uuid !== null && !isText(r.vm_uuid)) throw bad(`vm_uuid is ${describeValue(r.vm_uuid)}`);
  if (r.pool_id !== null && r.pool_id !== "A" && r.pool_id !== "B") {
    throw bad(`pool_id is ${describeValue(r.pool_id)}, not A, B or NULL`);
  }
  const json = (c: "before_json" | "after_json"): Record<string, unknown> | null => {
    const v = r[c];
    if (v === null) return null;
    if (!isText(v)) throw bad(`${c} is ${describeValue(v)}, not JSON text`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch (e) {
      throw bad(`${c} is not valid JSON (${(e as Error).message.split("\n")[0]})`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw bad(`${c} is not a JSON object`);
    }
    return parsed as Record<string, unknown>;
  };
  return {
    id: r.id,
    at: r.at as string,
    actor: r.actor as string,
    command: r.command as string,
    vmUuid: r.vm_uuid as string | null,
    poolId: r.pool_id as PoolId | null,
    before: json("before_json"),
    after: json("after_json"),
  };
}

export function decodeSetting(r: Record<string, unknown>): [string, string] {
  const key = isText(r.key) ? r.key : describeValue(r.key);
  if (!isText(r.key)) throw new DamagedRowError("settings", key, "key is not text");
  if (!isText(r.value)) {
    throw new DamagedRowError("settings", key, `value is ${describeValue(r.value)}, not text`);
  }
  return [r.key, r.value];
}

export function decodeStaleRun(
  r: Record<string, unknown>,
): { vmUuid: string; since: string; reason: string } {
  const key = isText(r.vm_uuid) ? r.vm_uuid : describeValue(r.vm_uuid);
  const bad = (what: string) => new DamagedRowError("stale_runs", key, what);
  if (!isText(r.vm_uuid) || !isUuid(r.vm_uuid)) throw bad("vm_uuid is not a lower-case uuid");
  if (!isText(r.since)) throw bad(`since is ${describeValue(r.since)}, not a time`);
  if (!isText(r.reason)) throw bad(`reason is ${describeValue(r.reason)}, not text`);
  return { vmUuid: r.vm_uuid, since: r.since, reason: r.reason };
}

const POWER_STATES: readonly string[] = ["halted", "running", "paused", "suspended"];

/** An `op_journal` row: what an interrupted operation meant and how far it got. */
export function decodeJournal(r: Record<string, unknown>): JournalEntry {
  const bad = (what: string) => new DamagedRowError("op_journal", describeValue(r.id), what);
  if (!isInt(r.id, 1, Number.MAX_SAFE_INTEGER)) throw bad("id is not a whole number");
  if (!isText(r.vm_uuid) || !isUuid(r.vm_uuid)) throw bad("vm_uuid is not a lower-case uuid");
  for (const c of ["command", "actor", "started_at"] as const) {
    if (!isText(r[c])) throw bad(`${c} is ${describeValue(r[c])}, not text`);
  }
  if (!isInt(r.pid, 0, Number.MAX_SAFE_INTEGER)) throw bad(`pid is ${describeValue(r.pid)}`);
  if (!isText(r.step) || !(JOURNAL_STEPS as readonly string[]).includes(r.step)) {
    throw bad(`step is ${describeValue(r.step)}, not a step of the journal`);
  }
  const unreadable = () => bad("its saved configuration is unreadable");
  const json = (c: "original_json" | "target_json"): Record<string, unknown> => {
    if (!isText(r[c])) throw unreadable();
    try {
      const v = JSON.parse(r[c] as string);
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return v;
    } catch { /* reported below */ }
    throw unreadable();
  };
  const config = (v: unknown): VgpuConfig => {
    const c = v as Record<string, unknown> | null;
    if (
      c === null || typeof c !== "object" || (c.pool !== "A" && c.pool !== "B") ||
      !isInt(c.priority, 0, 2) || !isInt(c.vmId, 1, VM_ID_MAX)
    ) throw unreadable();
    return { pool: c.pool, priority: c.priority as Priority, vmId: c.vmId };
  };
  const args = (v: unknown): string | null => {
    if (v !== null && !isText(v)) throw unreadable();
    return v;
  };
  const o = json("original_json"), t = json("target_json");
  if (!isText(o.power) || !POWER_STATES.includes(o.power)) throw unreadable();
  const from = t.undoFrom ?? null;
  if (from !== null && (!isText(from) || !(FORWARD_STEPS as readonly string[]).includes(from))) {
    throw unreadable();
  }
  return {
    id: r.id,
    vmUuid: r.vm_uuid,
    command: r.command as string,
    actor: r.actor as string,
    pid: r.pid,
    startedAt: r.started_at as string,
    step: r.step as JournalStep,
    undoFrom: from as ForwardStep | null,
    original: { row: config(o.row), args: args(o.args), power: o.power as PowerState },
    target: { row: config(t.row), args: args(t.args) },
  };
}

// doctor's checks: what one check reports, the list they are added to, and the wording helpers
// every group of checks shares (src/ops/doctor.ts runs them; one file per concern beside this).
import type { Settings } from "../../domain/settings.ts";
import type { AuditContext } from "../../store/store.ts";
import type { VmLocks } from "../../locks/vm-lock.ts";
import type { Xe } from "../../xe/client.ts";
import type { RedoLog } from "../../xe/xapi-local.ts";

export type CheckId =
  | "database"
  | "schema"
  | "integrity"
  | "permissions"
  | "settings"
  | "interrupted"
  | "hook"
  | "hook-binary"
  | "logrotate"
  | "xe"
  | "drift"
  | "vm-id-collisions"
  | "strict-mode"
  | "stale-runs"
  | "qemu"
  // pool mode only (ops/doctor/pool.ts)
  | "pool-mode"
  | "pool-claims"
  | "pool-durability";

/** ok and warning pass; failed makes doctor exit 1; skipped: an earlier failure prevents it. */
export type CheckStatus = "ok" | "warning" | "failed" | "skipped";

/** One finding of a check, usually about one VM. */
export interface CheckItem {
  vmUuid: string | null;
  message: string;
  fix: string | null;
}

export interface Check {
  id: CheckId;
  status: CheckStatus;
  /** One line. */
  message: string;
  /** The command or action that fixes it; null when nothing needs doing. */
  fix: string | null;
  items: CheckItem[];
}

export interface DoctorReport {
  root: string | null;
  dbPath: string;
  checks: Check[];
  xeCalls: number;
}

export interface DoctorInput {
  /** --root, or null for /. */
  root: string | null;
  /** The database to check (already under the root when it is the default one). */
  dbPath: string;
  /** True when --db/VGPU_DB chose the database: fixes then carry --db. */
  dbExplicit: boolean;
  /** An xe client with these settings (defaults when the database cannot give them). */
  xeFor(settings: Settings): Xe;
  /** The per-VM operation locks beside a database (who holds an open entry's VM). */
  locksFor(dbPath: string): Promise<VmLocks>;
  localHostUuid: string | null;
  /** The pool's redo log as this host's xapi recorded it (only read in pool mode). */
  redoLog: () => RedoLog;
  /** Where /proc is (VGPU_PROC_ROOT in tests). */
  procRoot: string;
  audit: AuditContext;
  now: () => Date;
}

// Characters no POSIX shell treats specially inside a word: fixes stay copy-pasteable.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function sh(s: string): string {
  return SHELL_SAFE.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** The advice part of a one-line error ("…; do this"), else null. */
export function adviceOf(message: string): { message: string; fix: string | null } {
  const i = message.lastIndexOf("; ");
  return i < 0
    ? { message, fix: null }
    : { message: message.slice(0, i), fix: message.slice(i + 2) };
}

export class Checks {
  readonly list: Check[] = [];
  add(
    id: CheckId,
    status: CheckStatus,
    message: string,
    fix: string | null = null,
    items: CheckItem[] = [],
  ): Check {
    const c: Check = { id, status, message, fix, items };
    this.list.push(c);
    return c;
  }
  skip(ids: CheckId[], why: string): void {
    for (const id of ids) this.add(id, "skipped", `not checked: ${why}`);
  }
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

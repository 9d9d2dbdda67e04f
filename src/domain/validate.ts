// Input rules of design.md §2: every value a user types is checked here and nowhere else.
import { UsageError } from "./errors.ts";
import {
  type PoolId,
  type Priority,
  PRIORITY_NAMES,
  type PriorityName,
  VM_ID_MAX,
  VM_ID_MIN,
} from "./types.ts";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// C0 and C1 control characters, DEL included: never stored in names (one line per record in output).
// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

export const NAME_MAX = 64;
export const VM_NAME_MAX = 255;
export const DESCRIPTION_MAX = 255;

/** Shows a user value inside an error message: quoted, control characters escaped, shortened. */
export function quote(value: string): string {
  const shown = value.length > 60 ? value.slice(0, 57) + "..." : value;
  // JSON.stringify escapes C0 only: DEL and C1 (\x9b is an 8-bit CSI) must not reach a terminal.
  return JSON.stringify(shown).replace(
    /[\u007f-\u009f]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Trims and lower-cases a VM uuid; it must then be canonical 8-4-4-4-12 hex. */
export function parseUuid(raw: string, option = "--vm-uuid"): string {
  const v = raw.trim().toLowerCase();
  if (!UUID_RE.test(v)) {
    throw new UsageError(
      `invalid ${option} ${
        quote(raw)
      }: expected a VM uuid like 7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff (see: xe vm-list)`,
    );
  }
  return v;
}

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** `a`/`A`/`b`/`B` (surrounding spaces ignored); anything else is a usage error. */
export function parsePoolId(raw: string, option = "--pool"): PoolId {
  const v = raw.trim().toUpperCase();
  if (v === "A" || v === "B") return v;
  throw new UsageError(`invalid ${option} ${quote(raw)}: a vGPU pool is A or B`);
}

/** `low|medium|high|0|1|2`, case-insensitive. */
export function parsePriority(raw: string, option = "--priority"): Priority {
  const v = raw.trim().toLowerCase();
  const byName = PRIORITY_NAMES.indexOf(v as PriorityName);
  if (byName >= 0) return byName as Priority;
  if (v === "0" || v === "1" || v === "2") return Number(v) as Priority;
  throw new UsageError(`invalid ${option} ${quote(raw)}: use low, medium, high (or 0, 1, 2)`);
}

/** A decimal integer 1..2147483647: no sign, no fraction, no hex, no leading zeros. */
export function parseVmId(raw: string, option = "--vm-id"): number {
  const v = raw.trim();
  if (/^[1-9][0-9]{0,9}$/.test(v)) {
    const n = Number(v);
    if (n >= VM_ID_MIN && n <= VM_ID_MAX) return n;
  }
  throw new UsageError(
    `invalid ${option} ${quote(raw)}: a vm_id is a whole number from ${VM_ID_MIN} to ${VM_ID_MAX}`,
  );
}

function parseText(raw: string, option: string, max: number, allowEmpty: boolean): string {
  const v = raw.trim();
  if (CONTROL_RE.test(v)) {
    throw new UsageError(
      `invalid ${option} ${quote(raw)}: newlines and control characters are not allowed`,
    );
  }
  if (!allowEmpty && v.length === 0) {
    throw new UsageError(`invalid ${option}: it must not be empty`);
  }
  if ([...v].length > max) {
    throw new UsageError(`invalid ${option}: at most ${max} characters (got ${[...v].length})`);
  }
  return v;
}

/** A vGPU pool name: non-empty, at most 64 characters, no control characters. */
export function parsePoolName(raw: string, option = "--name"): string {
  return parseText(raw, option, NAME_MAX, false);
}

/** A pool description: may be empty (clears it), at most 255 characters, no control characters. */
export function parseDescription(raw: string, option = "--description"): string | null {
  const v = parseText(raw, option, DESCRIPTION_MAX, true);
  return v === "" ? null : v;
}

/** A VM name: free Unicode text without newlines or control characters, at most 255 characters. */
export function parseVmName(raw: string, option = "--vm-name"): string {
  return parseText(raw, option, VM_NAME_MAX, false);
}

/** Cleans a name read from xe (name-label) so it can be stored: control characters become spaces. */
export function sanitizeHostName(raw: string): string {
  // deno-lint-ignore no-control-regex
  const v = raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim();
  return [...v].slice(0, VM_NAME_MAX).join("");
}

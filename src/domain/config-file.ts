// The configuration file of `export` / `import`: its JSON shape, and the pure validation of a
// file to import. Validation goes through the whole file and reports every problem with its JSON
// path (`vms[3].vm_id: ...`), using the same rules as the command line (validate.ts, settings.ts).
// No I/O.
import { duplicateKeys } from "./json-keys.ts";
import { VgpuError } from "./errors.ts";
import { settingDef } from "./settings.ts";
import {
  type Pool,
  type PoolId,
  type Priority,
  type PriorityName,
  priorityName,
  type Vm,
} from "./types.ts";
import {
  parseDescription,
  parsePoolId,
  parsePoolName,
  parsePriority,
  parseUuid,
  parseVmId,
  parseVmName,
  quote,
} from "./validate.ts";

/** The value of `"format"`: marks a file as a vgpu-admin export. */
export const EXPORT_FORMAT = "vgpu-admin-export";
/** The version of the file format this program writes and reads (older versions are read too). */
export const EXPORT_FORMAT_VERSION = 1;

/** An import file that cannot be used (not readable, not JSON, invalid, conflicting). Exit 1. */
export class ImportFileError extends VgpuError {}

export interface ExportPool {
  pool_id: PoolId;
  name: string;
  description: string | null;
  enabled: boolean;
}

export interface ExportVm {
  vm_uuid: string;
  vm_name: string | null;
  pool_id: PoolId;
  priority: PriorityName;
  vm_id: number;
  /** Database timestamps, UTC `YYYY-MM-DD HH:MM:SS`; optional in a file to import. */
  created_at: string;
  updated_at: string;
}

/** The whole file, keys in this order (docs/json.md "export file"). */
export interface ExportFile {
  format: typeof EXPORT_FORMAT;
  format_version: number;
  /** The database's schema version (PRAGMA user_version) it was exported from. */
  schema_version: number;
  /** Event time, ISO 8601 UTC with milliseconds. */
  exported_at: string;
  /** By pool_id. */
  pools: ExportPool[];
  /** By vm_id. */
  vms: ExportVm[];
  /** Only the settings set explicitly, by key; values as stored (strings). */
  settings: Record<string, string>;
}

export function buildExportFile(input: {
  schemaVersion: number;
  exportedAt: Date;
  pools: readonly Pool[];
  vms: readonly Vm[];
  settings: ReadonlyMap<string, string>;
}): ExportFile {
  const settings: Record<string, string> = {};
  for (const key of [...input.settings.keys()].sort()) settings[key] = input.settings.get(key)!;
  return {
    format: EXPORT_FORMAT,
    format_version: EXPORT_FORMAT_VERSION,
    schema_version: input.schemaVersion,
    exported_at: input.exportedAt.toISOString(),
    pools: [...input.pools].sort((a, b) => a.poolId.localeCompare(b.poolId)).map((p) => ({
      pool_id: p.poolId,
      name: p.name,
      description: p.description,
      enabled: p.enabled,
    })),
    vms: [...input.vms].sort((a, b) => a.vmId - b.vmId).map((v) => ({
      vm_uuid: v.vmUuid,
      vm_name: v.vmName,
      pool_id: v.pool,
      priority: priorityName(v.priority),
      vm_id: v.vmId,
      created_at: v.createdAt,
      updated_at: v.updatedAt,
    })),
    settings,
  };
}

// ---- validation of a file to import --------------------------------------------------------

/** One problem of a file to import: where (a JSON path such as `vms[3].vm_id`) and what. */
export interface FileProblem {
  path: string;
  message: string;
}

export function formatProblem(p: FileProblem): string {
  return `${p.path}: ${p.message}`;
}

/** A valid VM entry of the file, normalised (uuid lower-cased, priority stored form). */
export interface ImportVm {
  /** Where it is in the file: `vms[3]`. */
  path: string;
  vmUuid: string;
  vmName: string | null;
  pool: PoolId;
  priority: Priority;
  vmId: number;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface ImportPool {
  path: string;
  poolId: PoolId;
  name: string;
  description: string | null;
  enabled: boolean;
}

export interface ImportSetting {
  path: string;
  key: string;
  /** Canonical stored form (settings.ts `parse`). */
  value: string;
}

/** The usable content of a file; complete only when `problems` is empty. */
export interface ImportConfig {
  formatVersion: number;
  schemaVersion: number | null;
  exportedAt: string | null;
  pools: ImportPool[];
  vms: ImportVm[];
  settings: ImportSetting[];
}

export interface ParsedConfigFile {
  /** null when the file could not be read as an export at all (not JSON, another format or version). */
  config: ImportConfig | null;
  /** Every problem found, in file order; empty exactly when the file can be imported. */
  problems: FileProblem[];
}

/** The path shown for a problem of the document as a whole. */
export const TOP_LEVEL = "(top level)";

const TOP_REQUIRED = ["format", "format_version", "pools", "vms", "settings"] as const;
const TOP_OPTIONAL = ["schema_version", "exported_at"] as const;
const POOL_REQUIRED = ["pool_id", "name", "description", "enabled"] as const;
const VM_REQUIRED = ["vm_uuid", "vm_name", "pool_id", "priority", "vm_id"] as const;
const VM_OPTIONAL = ["created_at", "updated_at"] as const;

const DB_TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

type Json = Record<string, unknown>;

/** `string "x"`, `number 5`, `null`, `an array`, `an object`: what a wrong value is. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `string ${quote(v)}`;
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  return "an object";
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const keyPath = (base: string, key: string) =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)
    ? (base === "" ? key : `${base}.${key}`)
    : `${base}[${JSON.stringify(key)}]`;

class Checker {
  readonly problems: FileProblem[] = [];

  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** Reports missing required keys and unknown keys; true when every required key is there. */
  fields(
    obj: Json,
    base: string,
    required: readonly string[],
    optional: readonly string[] = [],
  ): boolean {
    let ok = true;
    for (const k of required) {
      if (!Object.hasOwn(obj, k)) {
        this.add(keyPath(base, k), "missing");
        ok = false;
      }
    }
    const known = [...required, ...optional];
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) {
        this.add(keyPath(base, k), `unknown field; expected ${known.join(", ")}`);
      }
    }
    return ok;
  }

  /** Runs a command-line validator (which throws VgpuError); its message becomes the problem. */
  rule<T>(path: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      this.add(path, e.message);
      return undefined;
    }
  }

  string(obj: Json, base: string, key: string): string | undefined {
    const v = obj[key];
    if (typeof v === "string") return v;
    if (v !== undefined) this.add(keyPath(base, key), `expected a string, got ${describe(v)}`);
    return undefined;
  }
}

/**
 * Reads the text of a file to import: JSON, the export format, a version this program reads,
 * then every pool, VM and setting, each checked with the command line's own rules, and
 * duplicates inside the file (vm_uuid, vm_id, pool_id). Checks against the database are done
 * by the import itself (ops/transfer.ts).
 */
export function parseConfigFile(text: string): ParsedConfigFile {
  const c = new Checker();
  let doc: unknown;
  try {
    doc = JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    c.add(TOP_LEVEL, `not valid JSON (${why}); give a file written by 'vgpu-admin export'`);
    return { config: null, problems: c.problems };
  }
  // JSON.parse keeps the last of two equal keys silently: which one was meant is unknowable
  for (const d of duplicateKeys(text)) {
    c.add(d.path, `the key "${d.key}" is given more than once in one object; keep one of them`);
  }
  if (c.problems.length > 0) return { config: null, problems: c.problems };
  if (!isObject(doc)) {
    c.add(
      TOP_LEVEL,
      `expected a JSON object as written by 'vgpu-admin export', got ${describe(doc)}`,
    );
    return { config: null, problems: c.problems };
  }
  // The format and its version first: nothing else can be read in a file of another kind.
  if (doc.format !== EXPORT_FORMAT) {
    c.add(
      "format",
      `${
        doc.format === undefined
          ? "missing"
          : `expected ${quote(EXPORT_FORMAT)}, got ${describe(doc.format)}`
      }: this is not a file written by 'vgpu-admin export'`,
    );
    return { config: null, problems: c.problems };
  }
  const fv = doc.format_version;
  if (typeof fv !== "number" || !Number.isInteger(fv) || fv < 1) {
    c.add(
      "format_version",
      fv === undefined ? "missing" : `expected a whole number from 1, got ${describe(fv)}`,
    );
    return { config: null, problems: c.problems };
  }
  if (fv > EXPORT_FORMAT_VERSION) {
    c.add(
      "format_version",
      `${fv} is newer than this vgpu-admin reads (${EXPORT_FORMAT_VERSION}); import it with a newer vgpu-admin`,
    );
    return { config: null, problems: c.problems };
  }

  c.fields(doc, "", TOP_REQUIRED, TOP_OPTIONAL);
  let schemaVersion: number | null = null;
  const sv = doc.schema_version;
  if (sv !== undefined) {
    if (typeof sv === "number" && Number.isInteger(sv) && sv >= 1) schemaVersion = sv;
    else c.add("schema_version", `expected a whole number from 1, got ${describe(sv)}`);
  }
  let exportedAt: string | null = null;
  if (doc.exported_at !== undefined) {
    const v = c.string(doc, "", "exported_at");
    if (v !== undefined) {
      if (Number.isNaN(Date.parse(v))) {
        c.add("exported_at", `expected an ISO 8601 time, got ${describe(v)}`);
      } else exportedAt = v;
    }
  }

  return {
    config: {
      formatVersion: fv,
      schemaVersion,
      exportedAt,
      pools: checkPools(c, doc.pools),
      vms: checkVms(c, doc.vms),
      settings: checkSettings(c, doc.settings),
    },
    problems: c.problems,
  };
}

function checkPools(c: Checker, pools: unknown): ImportPool[] {
  if (pools === undefined) return [];
  if (!Array.isArray(pools)) {
    c.add("pools", `expected an array, got ${describe(pools)}`);
    return [];
  }
  const out: ImportPool[] = [];
  const seen = new Map<PoolId, string>();
  pools.forEach((p, i) => {
    const path = `pools[${i}]`;
    if (!isObject(p)) {
      c.add(path, `expected an object, got ${describe(p)}`);
      return;
    }
    const complete = c.fields(p, path, POOL_REQUIRED);
    const rawId = c.string(p, path, "pool_id");
    const poolId = rawId === undefined
      ? undefined
      : c.rule(`${path}.pool_id`, () => parsePoolId(rawId, "value"));
    if (poolId !== undefined) {
      const first = seen.get(poolId);
      if (first !== undefined) c.add(`${path}.pool_id`, `vGPU pool ${poolId} is also at ${first}`);
      else seen.set(poolId, path);
    }
    const rawName = c.string(p, path, "name");
    const name = rawName === undefined
      ? undefined
      : c.rule(`${path}.name`, () => parsePoolName(rawName, "value"));
    let description: string | null | undefined;
    if (p.description === null) description = null;
    else {
      const raw = c.string(p, path, "description");
      if (raw !== undefined) {
        description = c.rule(`${path}.description`, () => parseDescription(raw, "value"));
      }
    }
    const enabled = p.enabled;
    if (enabled !== undefined && typeof enabled !== "boolean") {
      c.add(`${path}.enabled`, `expected true or false, got ${describe(enabled)}`);
    }
    if (
      complete && poolId !== undefined && name !== undefined && description !== undefined &&
      typeof enabled === "boolean"
    ) {
      out.push({ path, poolId, name, description, enabled });
    }
  });
  return out;
}

function checkPriority(c: Checker, path: string, v: unknown): Priority | undefined {
  if (typeof v === "string") return c.rule(path, () => parsePriority(v, "value"));
  if (v === 0 || v === 1 || v === 2) return v;
  if (v !== undefined) {
    c.add(path, `expected low, medium or high (or 0, 1, 2), got ${describe(v)}`);
  }
  return undefined;
}

function checkTimestamp(c: Checker, obj: Json, base: string, key: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v === "string" && DB_TIMESTAMP_RE.test(v) && !Number.isNaN(Date.parse(v + "Z"))) {
    return v;
  }
  c.add(
    keyPath(base, key),
    `expected a UTC time "YYYY-MM-DD HH:MM:SS" (or null), got ${describe(v)}`,
  );
  return null;
}

function checkVms(c: Checker, vms: unknown): ImportVm[] {
  if (vms === undefined) return [];
  if (!Array.isArray(vms)) {
    c.add("vms", `expected an array, got ${describe(vms)}`);
    return [];
  }
  const out: ImportVm[] = [];
  const byUuid = new Map<string, string>();
  const byVmId = new Map<number, string>();
  vms.forEach((v, i) => {
    const path = `vms[${i}]`;
    if (!isObject(v)) {
      c.add(path, `expected an object, got ${describe(v)}`);
      return;
    }
    const problemsBefore = c.problems.length;
    c.fields(v, path, VM_REQUIRED, VM_OPTIONAL);
    const rawUuid = c.string(v, path, "vm_uuid");
    const vmUuid = rawUuid === undefined
      ? undefined
      : c.rule(`${path}.vm_uuid`, () => parseUuid(rawUuid, "value"));
    if (vmUuid !== undefined) {
      const first = byUuid.get(vmUuid);
      if (first !== undefined) c.add(`${path}.vm_uuid`, `VM ${vmUuid} is also at ${first}`);
      else byUuid.set(vmUuid, path);
    }
    let vmName: string | null | undefined;
    if (v.vm_name === null) vmName = null;
    else {
      const raw = c.string(v, path, "vm_name");
      if (raw !== undefined) vmName = c.rule(`${path}.vm_name`, () => parseVmName(raw, "value"));
    }
    const rawPool = c.string(v, path, "pool_id");
    const pool = rawPool === undefined
      ? undefined
      : c.rule(`${path}.pool_id`, () => parsePoolId(rawPool, "value"));
    const priority = checkPriority(c, `${path}.priority`, v.priority);
    let vmId: number | undefined;
    if (typeof v.vm_id === "number") {
      const n = v.vm_id;
      vmId = c.rule(`${path}.vm_id`, () => parseVmId(String(n), "value"));
    } else if (v.vm_id !== undefined) {
      c.add(`${path}.vm_id`, `expected a whole number, got ${describe(v.vm_id)}`);
    }
    if (vmId !== undefined) {
      const first = byVmId.get(vmId);
      if (first !== undefined) c.add(`${path}.vm_id`, `VM ID ${vmId} is also used at ${first}`);
      else byVmId.set(vmId, path);
    }
    const createdAt = checkTimestamp(c, v, path, "created_at");
    const updatedAt = checkTimestamp(c, v, path, "updated_at");
    if (
      c.problems.length === problemsBefore && vmUuid !== undefined && vmName !== undefined &&
      pool !== undefined && priority !== undefined && vmId !== undefined
    ) {
      out.push({ path, vmUuid, vmName, pool, priority, vmId, createdAt, updatedAt });
    }
  });
  return out;
}

function checkSettings(c: Checker, settings: unknown): ImportSetting[] {
  if (settings === undefined) return [];
  if (!isObject(settings)) {
    c.add("settings", `expected an object of "key": "value", got ${describe(settings)}`);
    return [];
  }
  const out: ImportSetting[] = [];
  for (const [key, raw] of Object.entries(settings)) {
    const path = keyPath("settings", key);
    const def = c.rule(path, () => settingDef(key));
    if (def === undefined) continue;
    if (typeof raw !== "string") {
      c.add(path, `expected a string, got ${describe(raw)}`);
      continue;
    }
    const value = c.rule(path, () => def.parse(raw));
    if (value !== undefined) out.push({ path, key, value });
  }
  return out;
}

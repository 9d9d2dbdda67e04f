// Our QEMU `-device vgpu-stub,...` pair inside a VM's platform:device-model-args:
// build, parse, merge, remove (design.md §2 "device string", "other args"). Pure, no I/O.
//
// Parsing follows QEMU's own rules where they matter (softmmu/vl.c lookup_opt, util/qemu-option.c):
// - `-device` and `--device` take the next argument whatever it is; `-device=...` is not an
//   option QEMU knows (lookup_opt compares the whole token), so it is never ours.
// - the value is a QemuOpts list: `,` separates, `,,` is a literal comma, a first element
//   without `=` is the implied `driver`, a later element without `=` is a flag (`x` = `x=on`),
//   and a repeated property takes its last value.
// - a device is ours when its driver is exactly `vgpu-stub` (`vgpu-stub,...`, bare `vgpu-stub`,
//   or `driver=vgpu-stub`); `vgpu-stubby` and `vgpu-stub,,x` (driver "vgpu-stub,x") are not.
// Not handled: shell-style quoting and QEMU's JSON form `-device {"driver":...}` (such a
// device is not recognised as ours); arguments are split on ASCII whitespace only.

import { ImplausibleArgsError } from "./errors.ts";
import {
  type PoolId,
  type Priority,
  PRIORITY_NAMES,
  type VgpuConfig,
  VM_ID_MAX,
  VM_ID_MIN,
} from "./types.ts";

/** The QEMU driver name of the device we write. */
export const DEVICE_DRIVER = "vgpu-stub";

/** One whitespace-separated argument and its offsets in the argument string. */
export interface ArgToken {
  text: string;
  start: number;
  /** Offset just past the token. */
  end: number;
}

/** One vgpu-stub device found in a VM's QEMU arguments. */
export interface VgpuStub {
  /** Offset of the `-device` token. */
  start: number;
  /** Offset just past the device's value token. */
  end: number;
  /** The pair as written, `-device` through the value (inner whitespace included). */
  raw: string;
  /** Device properties (driver excluded), unescaped, names case-sensitive as QEMU has them. */
  props: Record<string, string>;
  /** Our three properties, when present and valid and `problems` is empty; else null. */
  config: VgpuConfig | null;
  /** The vm_id the device carries when that property alone is valid (the daemon sees it). */
  vmId: number | null;
  /** One lower-case line each; empty exactly when `config` is non-null. */
  problems: string[];
}

/** The vgpu-stub devices of one argument string, in order. */
export interface ParsedArgs {
  stubs: VgpuStub[];
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!WS.has(s.charCodeAt(i))) return false;
  return true;
}

/** Splits QEMU arguments on ASCII whitespace, keeping each token's offsets. */
export function tokenizeArgs(args: string | null): ArgToken[] {
  const s = args ?? "";
  const out: ArgToken[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && WS.has(s.charCodeAt(i))) i++;
    if (i >= s.length) break;
    const start = i;
    while (i < s.length && !WS.has(s.charCodeAt(i))) i++;
    out.push({ text: s.slice(start, i), start, end: i });
  }
  return out;
}

/**
 * Why `args` cannot be a VM's QEMU arguments, or null when it can (design.md §5 step 11: an
 * answer from xe that is not plausible is an error, never data to write back). QEMU arguments
 * start with an option (`-name`, `--name`) and hold neither markup nor control characters: an
 * HTML error page, a shell or xapi message and binary noise each fail one of these. (Values with
 * spaces are left alone: a hand-set `-name "a b"` is the admin's own business.)
 */
export function implausibleArgs(args: string | null): string | null {
  if (args === null || isBlank(args)) return null;
  for (let i = 0; i < args.length; i++) {
    const c = args.charCodeAt(i);
    if ((c < 0x20 && !WS.has(c)) || c === 0x7f) return "it holds control characters";
  }
  const tokens = tokenizeArgs(args);
  if (!tokens[0].text.startsWith("-")) {
    return `it starts with ${JSON.stringify(cut(tokens[0].text))}, not with a QEMU option`;
  }
  // markup (an HTML error page from a proxy or a broken xapi) is never a QEMU argument
  const markup = tokens.find((t) => /^<[!/?a-zA-Z]/.test(t.text));
  if (markup !== undefined) return `it holds markup (${JSON.stringify(cut(markup.text))})`;
  return null;
}

function cut(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + "…" : s;
}

/** Throws ImplausibleArgsError when `args` read from xe cannot be QEMU arguments. */
export function requirePlausibleArgs(args: string | null, vmUuid: string): void {
  const why = implausibleArgs(args);
  if (why !== null) {
    throw new ImplausibleArgsError(
      `xe answered with args for VM ${vmUuid} that are not QEMU options (${why}); nothing was written. ` +
        `Check them with: xe vm-param-get uuid=${vmUuid} param-name=platform`,
    );
  }
}

/** `-device vgpu-stub,pool_id=<A|B>,priority=<low|medium|high>,vm_id=<int>` for `c`. */
export function buildDevice(c: VgpuConfig): string {
  // A bad value here is a bug upstream (input is validated at the flag layer); never write it.
  if (c.pool !== "A" && c.pool !== "B") throw new RangeError(`bad pool ${String(c.pool)}`);
  const priority = PRIORITY_NAMES[c.priority];
  if (priority === undefined) throw new RangeError(`bad priority ${String(c.priority)}`);
  if (!Number.isInteger(c.vmId) || c.vmId < VM_ID_MIN || c.vmId > VM_ID_MAX) {
    throw new RangeError(`bad vm_id ${String(c.vmId)}`);
  }
  return `-device ${DEVICE_DRIVER},pool_id=${c.pool},priority=${priority},vm_id=${c.vmId}`;
}

/** True when both configurations have the same vGPU pool, priority and vm_id. */
export function sameConfig(a: VgpuConfig, b: VgpuConfig): boolean {
  return a.pool === b.pool && a.priority === b.priority && a.vmId === b.vmId;
}

/** Reads a QemuOpts value from `p` up to an unescaped `,`; returns it and the stop offset. */
function readValue(s: string, p: number): [string, number] {
  let v = "";
  while (p < s.length) {
    if (s[p] === ",") {
      if (s[p + 1] !== ",") break;
      v += ",";
      p += 2;
    } else {
      v += s[p];
      p++;
    }
  }
  return [v, p];
}

interface OptsList {
  driver: string | null;
  props: Record<string, string>;
  duplicates: string[];
  emptyName: boolean;
}

/** QemuOpts parsing of a `-device` value with implied key `driver` (util/qemu-option.c). */
function parseOptsList(s: string): OptsList {
  // Null prototype: a property named `__proto__` must stay a plain entry.
  const props: Record<string, string> = Object.create(null);
  const seen = new Set<string>();
  const duplicates: string[] = [];
  let driver: string | null = null;
  let emptyName = false;
  let p = 0;
  let first = true;
  while (p < s.length) {
    let nameEnd = p;
    while (nameEnd < s.length && s[nameEnd] !== "=" && s[nameEnd] !== ",") nameEnd++;
    let key: string;
    let value: string;
    if (first && nameEnd > p && s[nameEnd] !== "=") {
      key = "driver";
      [value, p] = readValue(s, p);
    } else {
      key = s.slice(p, nameEnd);
      if (s[nameEnd] === "=") {
        [value, p] = readValue(s, nameEnd + 1);
      } else {
        value = "on";
        p = nameEnd;
      }
    }
    if (s[p] === ",") p++;
    first = false;
    if (key === "") emptyName = true;
    if (seen.has(key)) {
      if (!duplicates.includes(key)) duplicates.push(key);
    } else {
      seen.add(key);
    }
    if (key === "driver") driver = value;
    else props[key] = value;
  }
  return { driver, props, duplicates, emptyName };
}

function parsePoolValue(v: string): PoolId | null {
  return v === "A" || v === "B" ? v : null;
}

function parsePriorityValue(v: string): Priority | null {
  const named = (PRIORITY_NAMES as readonly string[]).indexOf(v);
  if (named >= 0) return named as Priority;
  return v === "0" || v === "1" || v === "2" ? Number(v) as Priority : null;
}

function parseVmIdValue(v: string): number | null {
  if (!/^[1-9][0-9]{0,9}$/.test(v)) return null;
  const n = Number(v);
  return n >= VM_ID_MIN && n <= VM_ID_MAX ? n : null;
}

function checkStub(list: OptsList): Pick<VgpuStub, "config" | "vmId" | "problems"> {
  const { props } = list;
  const problems: string[] = [];
  if (list.emptyName) problems.push("a property has an empty name");
  for (const key of list.duplicates) problems.push(`${key} is given more than once`);
  const has = (k: string) => Object.hasOwn(props, k);
  let pool: PoolId | null = null;
  let priority: Priority | null = null;
  let vmId: number | null = null;
  if (!has("pool_id")) problems.push("pool_id is missing");
  else if ((pool = parsePoolValue(props.pool_id)) === null) {
    problems.push(`pool_id=${props.pool_id} is not A or B`);
  }
  if (!has("priority")) problems.push("priority is missing");
  else if ((priority = parsePriorityValue(props.priority)) === null) {
    problems.push(`priority=${props.priority} is not low, medium, high, 0, 1 or 2`);
  }
  if (!has("vm_id")) problems.push("vm_id is missing");
  else if ((vmId = parseVmIdValue(props.vm_id)) === null) {
    problems.push(`vm_id=${props.vm_id} is not a decimal integer in ${VM_ID_MIN}..${VM_ID_MAX}`);
  }
  const config = problems.length === 0 && pool !== null && priority !== null && vmId !== null
    ? { pool, priority, vmId }
    : null;
  return { config, vmId, problems };
}

interface Scan {
  tokens: ArgToken[];
  stubs: VgpuStub[];
}

function scan(text: string): Scan {
  const tokens = tokenizeArgs(text);
  const stubs: VgpuStub[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const opt = tokens[i];
    if (opt.text !== "-device" && opt.text !== "--device") continue;
    const val = tokens[i + 1];
    if (val === undefined) break; // dangling `-device`: QEMU refuses it; nothing of ours
    i++; // QEMU takes the next argument as the value, even one starting with `-`
    const list = parseOptsList(val.text);
    if (list.driver !== DEVICE_DRIVER) continue;
    stubs.push({
      start: opt.start,
      end: val.end,
      raw: text.slice(opt.start, val.end),
      props: list.props,
      ...checkStub(list),
    });
  }
  return { tokens, stubs };
}

/**
 * Finds every vgpu-stub device in a VM's QEMU argument string (null: the key is absent).
 * Only pool_id, priority and vm_id are checked; other properties (e.g. `id=gpu0`) are kept
 * in `props` and are no problem. priority accepts `low|medium|high|0|1|2`, pool_id only `A|B`.
 */
export function parseDeviceArgs(args: string | null): ParsedArgs {
  return canonicalStub(args) ?? scanDeviceArgs(args);
}

/** parseDeviceArgs without the canonical shortcut: the general QEMU-rules scan. */
export function scanDeviceArgs(args: string | null): ParsedArgs {
  return { stubs: scan(args ?? "").stubs };
}

/** What buildDevice writes up to the pool letter. */
const CANONICAL_HEAD = "-device vgpu-stub,pool_id=";

/**
 * parseDeviceArgs of exactly what buildDevice writes (`-device vgpu-stub,pool_id=[AB],priority=
 * (low|medium|high),vm_id=[1-9][0-9]{0,9}` and nothing else), without the general scan: most
 * VMs of a big host carry that and nothing else, and the scan of 10,000 of them cost tens of ms
 * (issue 19); read by position, no regular expression. The same result as the scan
 * (tests/device_args_test.ts compares them); null otherwise.
 */
export function canonicalStub(args: string | null): ParsedArgs | null {
  if (args === null || !args.startsWith(CANONICAL_HEAD)) return null;
  let p = CANONICAL_HEAD.length;
  const letter = args.charCodeAt(p);
  if (letter !== 0x41 && letter !== 0x42) return null;
  const pool: PoolId = letter === 0x41 ? "A" : "B";
  if (!args.startsWith(",priority=", ++p)) return null;
  p += ",priority=".length;
  let priority = 0;
  for (; priority < PRIORITY_NAMES.length; priority++) {
    const name = PRIORITY_NAMES[priority];
    if (args.startsWith(name, p) && args.startsWith(",vm_id=", p + name.length)) break;
  }
  if (priority === PRIORITY_NAMES.length) return null;
  p += PRIORITY_NAMES[priority].length + ",vm_id=".length;
  if (args.length - p < 1 || args.length - p > 10 || args.charCodeAt(p) === 0x30) return null;
  for (let i = p; i < args.length; i++) {
    const c = args.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
  }
  const vmId = Number(args.slice(p));
  if (vmId < VM_ID_MIN || vmId > VM_ID_MAX) return null;
  return new CanonicalParse(
    new CanonicalStub(args, { pool, priority: priority as Priority, vmId }),
  );
}

/**
 * parseDeviceArgs(buildDevice(c)) without reading the string back: the parse of the args a VM in
 * sync with `c` carries (drift prepares one for each registered VM while xe answers, issue 19).
 * tests/device_args_test.ts compares the two for every pool and priority.
 */
export function inSyncParse(args: string, c: VgpuConfig): ParsedArgs & { readonly stub: VgpuStub } {
  return new CanonicalParse(
    new CanonicalStub(args, { pool: c.pool, priority: c.priority, vmId: c.vmId }),
  );
}

/**
 * A canonical parse: its one stub, the list made when asked (a list kept for each of 10,000
 * in-sync VMs was 56 bytes each: issue 19); the same plain data in JSON.
 */
class CanonicalParse implements ParsedArgs {
  constructor(readonly stub: VgpuStub) {}
  get stubs(): VgpuStub[] {
    return [this.stub];
  }
  toJSON(): ParsedArgs {
    return { stubs: this.stubs };
  }
}

/**
 * The problems of every canonical stub: none, one frozen list for them all (nobody adds to a
 * stub's problems; 10,000 in-sync VMs need no list each: issue 19, peak RSS).
 */
const NO_PROBLEMS: string[] = Object.freeze([]) as unknown as string[];

/**
 * The stub of a canonical argument string: two fields, the others the general scan makes read
 * from them (`props` a fresh dictionary each read: only --deep reads it), and the same plain data
 * in JSON. Six fields and an accessor defined on each took 72 bytes for every in-sync VM of a
 * 10,000-VM host (issue 19, peak RSS). tests/device_args_test.ts compares it field by field with
 * the general scan.
 */
class CanonicalStub implements VgpuStub {
  constructor(readonly raw: string, readonly config: VgpuConfig) {}
  get start(): number {
    return 0;
  }
  get end(): number {
    return this.raw.length;
  }
  get vmId(): number {
    return this.config.vmId;
  }
  get problems(): string[] {
    return NO_PROBLEMS;
  }
  get props(): Record<string, string> {
    const props: Record<string, string> = Object.create(null);
    props.pool_id = this.config.pool;
    props.priority = PRIORITY_NAMES[this.config.priority];
    props.vm_id = String(this.config.vmId);
    return props;
  }
  toJSON(): VgpuStub {
    const { start, end, raw, props, config, vmId, problems } = this;
    return { start, end, raw, props, config, vmId, problems };
  }
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Replaces the first stub with `replacement` (or drops it when null) and drops the others.
 * A dropped run of stubs takes the whitespace before it (or, at the very start, after it) so
 * that every other byte stays as it was and no separator is doubled.
 */
function rewrite(text: string, { tokens, stubs }: Scan, replacement: string | null): string {
  type Unit = { start: number; end: number; drop: boolean; replace: boolean };
  const units: Unit[] = [];
  let k = 0;
  for (const t of tokens) {
    const stub = stubs[k];
    if (stub !== undefined && t.start >= stub.start) {
      if (t.start === stub.start) {
        const replace = k === 0 && replacement !== null;
        units.push({ start: stub.start, end: stub.end, drop: !replace, replace });
      }
      if (t.end === stub.end) k++;
      continue;
    }
    units.push({ start: t.start, end: t.end, drop: false, replace: false });
  }
  const edits: Edit[] = [];
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (u.replace) {
      edits.push({ start: u.start, end: u.end, text: replacement ?? "" });
      continue;
    }
    if (!u.drop) continue;
    let j = i;
    while (j + 1 < units.length && units[j + 1].drop) j++;
    if (i > 0) edits.push({ start: units[i - 1].end, end: units[j].end, text: "" });
    else if (j + 1 < units.length) {
      edits.push({ start: u.start, end: units[j + 1].start, text: "" });
    } else edits.push({ start: u.start, end: units[j].end, text: "" });
    i = j;
  }
  let out = "";
  let pos = 0;
  for (const e of edits) {
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

/**
 * The VM's new QEMU arguments carrying `c` (design.md §2 "other args"): the first vgpu-stub
 * pair is replaced in place (keeping its other properties, such as `id=gpu0`, after ours),
 * further ones are removed, every other byte is kept; without a
 * vgpu-stub, ours is appended after the last argument with one space. Null or blank → ours.
 */
export function mergeDeviceArgs(existing: string | null, c: VgpuConfig): string {
  requirePlausible(existing);
  const ours = buildDevice(c);
  const text = existing ?? "";
  const s = scan(text);
  if (s.stubs.length > 0) return rewrite(text, s, ours + extraProps(s.stubs[0]));
  const last = s.tokens.at(-1);
  if (last === undefined) return ours;
  // A dangling `-device` would swallow our `-device` as its value: keep it after ours.
  if (last.text === "-device" || last.text === "--device") {
    return text.slice(0, last.start) + ours + " " + text.slice(last.start);
  }
  return text.slice(0, last.end) + " " + ours + text.slice(last.end);
}

/** Our three properties are rewritten; a property set by hand (`id=gpu0`) is carried over. */
const OUR_PROPS = new Set(["pool_id", "priority", "vm_id"]);

/** `,name=value` for each other property of `stub`, in order, commas escaped as QEMU reads them. */
function extraProps(stub: VgpuStub): string {
  return Object.entries(stub.props).filter(([k]) => !OUR_PROPS.has(k) && k !== "")
    .map(([k, v]) => `,${k}=${v.replaceAll(",", ",,")}`).join("");
}

/**
 * The VM's QEMU arguments without any vgpu-stub pair, every other byte kept; null when
 * nothing but whitespace remains (the caller then removes the key).
 */
export function removeDeviceArgs(existing: string | null): string | null {
  if (existing === null) return null;
  requirePlausible(existing);
  const s = scan(existing);
  const out = s.stubs.length > 0 ? rewrite(existing, s, null) : existing;
  return isBlank(out) ? null : out;
}

// Every rewrite starts from args read from xe: never build on an answer that is not args.
function requirePlausible(existing: string | null): void {
  const why = implausibleArgs(existing);
  if (why !== null) {
    throw new ImplausibleArgsError(
      `xe answered with VM args that are not QEMU options (${why}); nothing was written`,
    );
  }
}

/**
 * A stateful fake of XCP-ng's `xe` for tests (run through the `xe` wrapper next to this file).
 * State: the JSON file named by FAKE_XE_STATE (see state.ts). Output formats, error texts and
 * argument parsing follow the xapi CLI server sources (cli_frontend, cli_operations, records,
 * cli_printer, cli_util, xenops_hooks); /work/shared/xe-reference.md summarises them.
 *
 * Verbs: vm-list, vm-param-get, vm-param-set, vm-param-add, vm-param-remove, vm-param-list,
 * vm-start, vm-shutdown, vm-suspend, vm-resume, vm-migrate, host-list, host-param-get,
 * host-param-add, host-param-remove, pool-list, pool-param-get, pool-param-set, pool-param-add,
 * pool-param-remove, help. Anything else: `Unknown command: <verb>`.
 * A pool (state.pool set) of several hosts answers through one `xe`: FAKE_XE_HOST names the host
 * the calling process runs on (xe-reference.md "Pools").
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  DEFAULT_BOOT_KEY,
  DEFAULT_HOSTNAME,
  DEFAULT_POOL_UUID,
  type FakeFault,
  type FakeHost,
  type FakePool,
  type FakeState,
  type FakeVm,
  HOOK_PATH,
  readStateSync,
  withStateLock,
  writeStateSync,
} from "./state.ts";

// ---------------------------------------------------------------------------------------------
// Errors, shaped like xapi_cli.ml's exception_handler

class XeError extends Error {
  constructor(
    readonly stderr: string,
    /** What `do_multiple` reports for this failure in `operation failed on <uuid>: <msg>`. */
    readonly multipleMsg: string,
    readonly stdout = "",
  ) {
    super(stderr);
  }
}

/** Cli_util.Cli_failure / Record_util.Record_failure */
function cliFailure(msg: string): XeError {
  return new XeError(`Error: ${msg}\n`, `INTERNAL_ERROR: [ Cli_util.Cli_failure("${msg}") ]`);
}

/** param_error: unknown command, syntax error, missing required parameter */
function paramError(s: string, t: string): XeError {
  const line = s === "" ? t : `${s}: ${t}`;
  return new XeError(`${line}\nFor usage run: 'xe help'\n`, line);
}

/** A server error whose code is in the datamodel: its doc sentence, then `name: value` lines. */
function serverError(doc: string, params: [string, string][]): XeError {
  const lines = params.map(([k, v]) => `${k}: ${v}`);
  return new XeError(
    [doc, ...lines].map((l) => l + "\n").join(""),
    [doc, ...lines].join("\n"),
  );
}

/** A server error with a code the datamodel does not know (printed by the xe client). */
function unknownCodeError(code: string, params: string[]): XeError {
  return new XeError(
    `Error code: ${code}\nError parameters: ${params.join(", ")}\n`,
    `${code}: [ ${params.join("; ")} ]`,
  );
}

const DOC = {
  uuidInvalid: "The uuid you supplied was invalid.",
  badPowerState:
    "You attempted an operation on a VM that was not in an appropriate power state at the time; for example, you attempted to start a VM that was already running. The parameters returned are the VM's handle, and the expected and actual VM state at the time of the call.",
  hookFailed: "3rd party xapi hook failed",
  internal:
    "The server failed to handle your request, due to an internal error. The given message may give details useful for debugging the problem.",
  otherOperation: "Another operation involving the object is currently in progress",
  duplicateKey: "You tried to add a key-value pair to a map, but that key is already there.",
  hostIsSlave:
    "You cannot make regular API calls directly on a slave. Please pass API calls via the master host.",
};

/** MAP_DUPLICATE_KEY: what add_to_<map> answers when the key exists, even with the same value. */
// xapi's database raises Duplicate_key (table, field, objref, key) and exnHelper.ml passes it on
// as MAP_DUPLICATE_KEY [type; param_name; uuid; key]: the "uuid" line holds the object's
// REFERENCE (db_cache_impl.ml), not its uuid. A fake reference, stable per object.
function refOf(uuid: string): string {
  return `OpaqueRef:${uuid.replace(/[0-9a-f]/g, (c) => ((parseInt(c, 16) + 7) % 16).toString(16))}`;
}

function duplicateKey(type: string, field: string, uuid: string, key: string): XeError {
  return serverError(DOC.duplicateKey, [
    ["type", type],
    ["param_name", field.replaceAll("-", "_")],
    ["uuid", refOf(uuid)],
    ["key", key],
  ]);
}

function vmHandle(vm: FakeVm): string {
  return `${vm.uuid} (${vm.nameLabel})`;
}

function uuidInvalid(type: string, uuid: string): XeError {
  return serverError(DOC.uuidInvalid, [["type", type], ["uuid", uuid]]);
}

function badPowerState(vm: FakeVm, expected: string): XeError {
  return serverError(DOC.badPowerState, [
    ["vm", vmHandle(vm)],
    ["expected", expected],
    ["actual", vm.powerState],
  ]);
}

function internalError(message: string): XeError {
  return serverError(DOC.internal, [["message", message]]);
}

// ---------------------------------------------------------------------------------------------
// Command line (cli_frontend.ml parse_commandline)

type Params = [string, string][];

const STDPARAMS = [
  "server",
  "password",
  "port",
  "username",
  "minimal",
  "force",
  "multiple",
  "all",
  "message-priority",
  "trace",
];

const SWITCHES: Record<string, string> = {
  "-u": "username",
  "-pw": "password",
  "-s": "server",
  "-h": "server",
  "-p": "port",
};

function parseCommandLine(argv: string[]): { cmd: string; params: Params } {
  // The client sends the arguments as lines; the server splits them again (so a newline inside
  // a value makes two arguments) and strips one trailing CR from each.
  const args = argv.join("\n").split("\n").map((a) => a.endsWith("\r") ? a.slice(0, -1) : a);
  const cmd = args[0];
  if (cmd.includes("=")) throw paramError("Syntax error", "");
  const params: Params = [];
  for (let i = 1; i < args.length; i++) {
    const p = args[i];
    if (p.startsWith("--")) {
      params.push([p.slice(2), "true"]);
    } else if (p.startsWith("-")) {
      const name = SWITCHES[p];
      if (name === undefined || i + 1 >= args.length) throw paramError("Syntax error", "");
      params.push([name, args[++i]]);
    } else {
      const eq = p.indexOf("=");
      params.push(eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)]);
    }
  }
  return { cmd, params };
}

function assoc(params: Params, name: string): string | undefined {
  return params.find(([k]) => k === name)?.[1];
}

function parseBool(param: string, value: string): boolean {
  switch (value.toLowerCase()) {
    case "true":
    case "t":
    case "yes":
    case "y":
    case "1":
    case "on":
      return true;
    case "false":
    case "f":
    case "no":
    case "n":
    case "0":
    case "off":
      return false;
  }
  throw cliFailure(
    `Failed to parse parameter '${param}': expected 'true','t','yes','y','1','on','false','f','no','n','0' or 'off', got ${value}`,
  );
}

function getBool(params: Params, name: string): boolean {
  const v = assoc(params, name);
  return v === undefined ? false : parseBool(name, v);
}

// ---------------------------------------------------------------------------------------------
// Printer (cli_printer.ml)

type Row = [string, string];

function escapeCommas(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll(",", "\\,");
}

function multiLineRecord(rows: Row[]): string {
  let maxlen = 0;
  for (const [label] of rows) maxlen = Math.max(maxlen, label.length);
  maxlen += 4;
  const lines = rows.map(([label, value], i) =>
    `${i === 0 ? label.padEnd(maxlen) : label.padStart(maxlen)}: ${value}`
  );
  return lines.join("\n") + "\n";
}

class Printer {
  private out: string[] = [];
  private buffer: string[] = [];
  constructor(readonly minimal: boolean) {}

  table(records: Row[][]): void {
    if (this.minimal) {
      if (records.length > 0 && records[0].length > 0) {
        this.buffer.unshift(records.map((r) => escapeCommas(r[0]?.[1] ?? "")).join(","));
      }
    } else {
      // Each record goes out as one Print of (record ^ "\n"); the client adds a newline.
      for (const r of records) this.out.push(multiLineRecord(r) + "\n\n");
    }
  }

  list(items: string[]): void {
    if (this.minimal) {
      this.buffer.unshift(items.map(escapeCommas).join(","));
    } else {
      for (const s of items) this.out.push(s + "\n");
    }
  }

  /** What reaches stdout when the command succeeds. */
  finish(): string {
    return this.minimal ? this.buffer.join(",") + "\n" : this.out.join("");
  }
}

// ---------------------------------------------------------------------------------------------
// Records (records.ml): field definitions in the records' own order

interface FieldDef<T> {
  name: string;
  get(o: T): string;
  /** Map fields: the live map (mutations change the object). */
  map?(o: T): Record<string, string>;
  /** Map fields: writable (MRW) or not (MRO). */
  mapRw?: boolean;
  /** Plain writable fields ( RW). */
  set?(o: T, value: string): void;
}

function tagOf<T>(f: FieldDef<T>): string {
  if (f.map) return f.mapRw ? " (MRW)" : " (MRO)";
  return f.set ? " ( RW)" : " ( RO)";
}

function renderMap(m: Record<string, string>): string {
  return Object.entries(m).map(([k, v]) => `${k}: ${v}`).join("; ");
}

const NOT_IN_DATABASE = "<not in database>";

function isTemplate(vm: FakeVm): boolean {
  return vm.isTemplate === true || vm.isSnapshot === true;
}

const VM_FIELDS: FieldDef<FakeVm>[] = [
  { name: "uuid", get: (vm) => vm.uuid },
  {
    name: "name-label",
    get: (vm) => vm.nameLabel,
    set: (vm, v) => {
      vm.nameLabel = v;
    },
  },
  {
    name: "name-description",
    get: (vm) => vm.nameDescription ?? "",
    set: (vm, v) => {
      vm.nameDescription = v;
    },
  },
  {
    name: "user-version",
    get: (vm) => String(vm.userVersion ?? 1),
    set: (vm, v) => {
      if (!/^-?\d+$/.test(v.trim())) {
        throw cliFailure(`Failed to parse parameter 'user-version': expecting an integer`);
      }
      vm.userVersion = Number(v.trim());
    },
  },
  {
    name: "is-a-template",
    get: (vm) => String(isTemplate(vm)),
    set: (vm, v) => {
      if (v !== "true" && v !== "false") {
        throw cliFailure(
          `Failed to parse parameter 'is-a-template': expecting a boolean (true or false)`,
        );
      }
      vm.isTemplate = v === "true";
    },
  },
  { name: "is-a-snapshot", get: (vm) => String(vm.isSnapshot === true) },
  { name: "is-control-domain", get: (vm) => String(vm.isControlDomain === true) },
  { name: "power-state", get: (vm) => vm.powerState },
  { name: "memory-actual", get: (vm) => String(vm.memoryActual ?? 0) },
  {
    name: "platform",
    get: (vm) => renderMap(vm.platform ?? {}),
    map: (vm) => (vm.platform ??= {}),
    mapRw: true,
  },
  { name: "resident-on", get: (vm) => vm.residentOn ?? NOT_IN_DATABASE },
  {
    name: "other-config",
    get: (vm) => renderMap(vm.otherConfig ?? {}),
    map: (vm) => (vm.otherConfig ??= {}),
    mapRw: true,
  },
  { name: "dom-id", get: (vm) => String(vm.domid ?? -1) },
  { name: "VCPUs-number", get: (vm) => String(vm.vcpus ?? 1) },
];

interface HostRec {
  host: FakeHost;
  defaultHostname: string;
}

const HOST_FIELDS: FieldDef<HostRec>[] = [
  { name: "uuid", get: (h) => h.host.uuid },
  {
    name: "name-label",
    get: (h) => h.host.nameLabel,
    set: (h, v) => {
      h.host.nameLabel = v;
    },
  },
  {
    name: "name-description",
    get: (h) => h.host.nameDescription ?? "",
    set: (h, v) => {
      h.host.nameDescription = v;
    },
  },
  { name: "hostname", get: (h) => h.host.hostname ?? h.defaultHostname },
  { name: "enabled", get: (h) => String(h.host.enabled ?? true) },
  { name: "host-metrics-live", get: (h) => String(h.host.live ?? true) },
  {
    name: "other-config",
    get: (h) => renderMap(h.host.otherConfig ?? {}),
    map: (h) => (h.host.otherConfig ??= {}),
    mapRw: true,
  },
];

const POOL_FIELDS: FieldDef<FakePool>[] = [
  { name: "uuid", get: (p) => p.uuid },
  {
    name: "name-label",
    get: (p) => p.nameLabel ?? "",
    set: (p, v) => {
      p.nameLabel = v;
    },
  },
  { name: "master", get: (p) => p.master },
  { name: "ha-enabled", get: (p) => String(p.haEnabled === true) },
  {
    name: "other-config",
    get: (p) => renderMap(p.otherConfig),
    map: (p) => p.otherConfig,
    mapRw: true,
  },
];

type FieldType<T> =
  | { kind: "normal"; field: FieldDef<T> }
  | { kind: "map"; field: FieldDef<T>; key: string };

/** cli_operations.ml get_field_type */
function fieldType<T>(k: string, fields: FieldDef<T>[]): FieldType<T> {
  const exact = fields.find((f) => f.name === k);
  if (exact) return { kind: "normal", field: exact };
  const colon = k.indexOf(":");
  if (colon >= 0) {
    const field = fields.find((f) => f.name === k.slice(0, colon));
    if (!field) throw cliFailure(`Unknown field '${k}'`);
    if (field.map) return { kind: "map", field, key: k.slice(colon + 1) };
    throw cliFailure(`Field '${field.name}' is not a set or map`);
  }
  // Old syntax: <map-name>-<key>, longest map name first.
  const maps = fields.filter((f) => f.map).sort((a, b) => b.name.length - a.name.length);
  const field = maps.find((f) => k.startsWith(f.name + "-"));
  if (field) return { kind: "map", field, key: k.slice(field.name.length + 1) };
  throw cliFailure(`Unknown field '${k}'`);
}

/** cli_operations.ml filter_records_on_fields: an empty list stays empty without any check. */
function filterRecords<T>(records: T[], [k, v]: [string, string], fields: FieldDef<T>[]): T[] {
  if (records.length === 0) return records;
  const t = fieldType(k, fields);
  if (t.kind === "map") {
    const { field, key } = t;
    return records.filter((o) => {
      const m = field.map!(o);
      return Object.hasOwn(m, key) && m[key] === v;
    });
  }
  return records.filter((o) => t.field.get(o) === v);
}

/** The generated `<class>-list` (make_param_funs list). */
function listRecords<T>(
  printer: Printer,
  all: T[],
  fields: FieldDef<T>[],
  params: Params,
  defFilters: Params,
  defParams: string[],
): void {
  const filterParams = params.filter(([p]) =>
    p !== "params" && !STDPARAMS.includes(p) && !p.startsWith("database:")
  );
  let records = all;
  for (const fp of [...defFilters, ...filterParams]) records = filterRecords(records, fp, fields);
  const shown = getBool(params, "all") ? all : records;
  const ps = assoc(params, "params");
  const chosen = ps === undefined ? defParams : ps === "all" ? null : ps.split(",");
  const selected = chosen === null ? fields : fields.filter((f) => chosen.includes(f.name));
  const labels = selected.map((f) => f.name + tagOf(f));
  printer.table(shown.map((o) => selected.map((f, i): Row => [labels[i], f.get(o)])));
}

// ---------------------------------------------------------------------------------------------
// State access

const now = () => Date.now();

function haltVm(vm: FakeVm): void {
  vm.powerState = "halted";
  vm.residentOn = null;
  vm.domid = -1;
  delete vm.haltAt;
}

/** Late clean shutdowns whose time has come. Returns true when something changed. */
function applyDueHalts(state: FakeState, t: number): boolean {
  let changed = false;
  for (const vm of state.vms) {
    if (vm.haltAt !== undefined && vm.haltAt <= t) {
      if (vm.powerState === "running" || vm.powerState === "paused") haltVm(vm);
      delete vm.haltAt;
      changed = true;
    }
  }
  return changed;
}

interface Tx {
  dirty: boolean;
}

/**
 * Run `fn` on the state under the lock. The state is written back when `tx.dirty` is set, also
 * when `fn` throws (xapi applies a multi-assignment vm-param-set one by one).
 */
function withState<T>(statePath: string, fn: (state: FakeState, tx: Tx) => T): Promise<T> {
  const read = readState.getStore();
  if (read !== undefined) {
    // a read verb under fakeXeCall's shared lock: the state it read, never written back
    const tx: Tx = { dirty: false };
    const r = fn(read, tx);
    if (tx.dirty) throw new Error("fake-xe: a read verb changed the state");
    return Promise.resolve(r);
  }
  return withStateLock(statePath, () => {
    const state = readStateSync(statePath);
    const tx: Tx = { dirty: applyDueHalts(state, now()) };
    try {
      return fn(state, tx);
    } finally {
      if (tx.dirty) writeStateSync(statePath, state);
    }
  });
}

function vmByUuid(state: FakeState, uuid: string): FakeVm {
  const vm = state.vms.find((v) => v.uuid === uuid);
  if (!vm) throw uuidInvalid("VM", uuid);
  return vm;
}

// ---------------------------------------------------------------------------------------------
// Faults and logs

function appendJsonLine(path: string | undefined, value: unknown): void {
  if (!path) return;
  Deno.writeTextFileSync(path, JSON.stringify(value) + "\n", { append: true });
}

function takeFault(state: FakeState, verb: string, argv: string[]): FakeFault | undefined {
  const fault = state.faults?.[verb];
  if (!fault) return undefined;
  if (fault.match && !fault.match.every((m) => argv.includes(m))) return undefined;
  if (fault.times !== undefined) {
    if (fault.times <= 0) {
      delete state.faults![verb];
      return undefined;
    }
    fault.times -= 1;
    if (fault.times <= 0) delete state.faults![verb];
  }
  return { ...fault };
}

/** Thrown (in-process calls only) where the process would wait past its caller's time bound. */
class Hang extends Error {}

function hangForever(): Promise<never> {
  if (currentCall().waitLimitMs !== undefined) return Promise.reject(new Hang("hang"));
  // until killed — or until the simulated host is gone (its test ended and removed the state
  // file): an orphan whose client was killed must not outlive the test run
  const statePath = Deno.env.get("FAKE_XE_STATE");
  return new Promise<never>(() => {
    setInterval(() => {
      try {
        if (statePath) Deno.statSync(statePath);
      } catch {
        Deno.exit(1);
      }
    }, 1000);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A delay fault's sleep: `ms`, or less once the file `release` exists. */
async function delay(ms: number, release: string | undefined): Promise<void> {
  if (release === undefined) return await sleep(ms);
  const end = now() + ms;
  while (now() < end) {
    try {
      Deno.statSync(release);
      return;
    } catch {
      await sleep(Math.min(10, end - now()));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// VM selection and operations (cli_operations.ml select_vms / do_vm_op)

function selectVms(
  state: FakeState,
  params: Params,
  ignoreParams: string[],
  includeControlVms: boolean,
): FakeVm[] {
  let ps: Params = [...params];
  if (!includeControlVms) ps.unshift(["is-control-domain", "false"]);
  ps.unshift(["is-a-template", "false"]);
  let records = state.vms;
  const sel = assoc(ps, "vm");
  if (sel !== undefined) {
    const i = ps.findIndex(([k]) => k === "vm");
    ps = [...ps.slice(0, i), ...ps.slice(i + 1)];
    records = records.filter((vm) => vm.uuid === sel || vm.nameLabel === sel);
  }
  const ignored = [...STDPARAMS, ...ignoreParams];
  const filterParams = ps.filter(([k]) => {
    const colon = k.indexOf(":");
    return !ignored.includes(colon >= 0 ? k.slice(0, colon) : k);
  });
  for (const fp of filterParams) records = filterRecords(records, fp, VM_FIELDS);
  return records;
}

async function doVmOp(
  statePath: string,
  params: Params,
  ignoreParams: string[],
  includeControlVms: boolean,
  op: (uuid: string) => Promise<void>,
): Promise<void> {
  const uuids = await withState(
    statePath,
    (state) => selectVms(state, params, ignoreParams, includeControlVms).map((vm) => vm.uuid),
  );
  if (uuids.length === 0) throw cliFailure("No matching VMs found");
  if (uuids.length === 1) return await op(uuids[0]);
  if (!getBool(params, "multiple")) {
    throw cliFailure("Multiple matches VMs found. --multiple required to complete the operation");
  }
  const fails: [string, string][] = [];
  for (const uuid of uuids) {
    try {
      await op(uuid);
    } catch (e) {
      if (!(e instanceof XeError)) throw e;
      fails.unshift([uuid, e.multipleMsg]);
    }
  }
  if (fails.length > 0) {
    const stdout = fails.map(([uuid, msg]) => `operation failed on ${uuid}: ${msg}\n`).join("");
    throw new XeError("", "", stdout);
  }
}

function lowestFreeDomid(state: FakeState): number {
  const used = new Set<number>();
  for (const vm of state.vms) {
    if (vm.powerState !== "halted" && vm.domid !== undefined) used.add(vm.domid);
  }
  let d = 1;
  while (used.has(d)) d++;
  return d;
}

function findHostByNameOrId(state: FakeState, name: string): FakeHost | undefined {
  return state.hosts.find((h) => h.nameLabel === name || h.uuid === name);
}

function byteOrder(a: string, b: string): number {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return ea.length - eb.length;
}

/** xenops_hooks.ml execute_vm_hook for vm-pre-start. */
function runPreStartHooks(
  hookDir: string,
  vmUuid: string,
  hookLog: string | undefined,
): Promise<void> {
  return runHooks(hookDir, "vm-pre-start", "none", vmUuid, hookLog);
}

/** xenops_hooks.ml execute_vm_hook: every entry of `hookDir`, in byte order, `-vmuuid U -reason R`. */
async function runHooks(
  hookDir: string,
  hook: string,
  reason: string,
  vmUuid: string,
  hookLog: string | undefined,
): Promise<void> {
  let names: string[];
  try {
    names = [...Deno.readDirSync(hookDir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  names.sort(byteOrder);
  const decoder = new TextDecoder();
  for (const name of names) {
    const script = `${hookDir.replace(/\/+$/, "")}/${name}`;
    let exit: number | null;
    let signal: string | null = null;
    let stdout = "";
    let stderr = "";
    try {
      const out = await new Deno.Command(script, {
        args: ["-vmuuid", vmUuid, "-reason", reason],
        clearEnv: true,
        env: { PATH: HOOK_PATH },
        cwd: "/",
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      stdout = decoder.decode(out.stdout);
      stderr = decoder.decode(out.stderr);
      signal = out.signal;
      exit = out.signal === null ? out.code : null;
    } catch (e) {
      // forkexecd's child exits 127 when execve says ENOENT, 126 for anything else.
      exit = e instanceof Deno.errors.NotFound ? 127 : 126;
      stderr = String(e);
    }
    appendJsonLine(hookLog, { script, vm: vmUuid, exit, signal, stdout, stderr, at: now() });
    if (exit === 0 || exit === 1) continue;
    if (exit === null) {
      throw internalError(
        `Forkhelpers.Spawn_internal_error(${JSON.stringify(stderr)}, ${
          JSON.stringify(stdout)
        }, Unix.WSIGNALED ${signal})`,
      );
    }
    throw serverError(DOC.hookFailed, [
      ["hook_name", `${hook}/${name}`],
      ["reason", reason],
      ["stdout", stdout],
      ["exit_code", String(exit)],
    ]);
  }
}

async function startOne(statePath: string, params: Params, uuid: string): Promise<void> {
  const on = assoc(params, "on");
  const paused = getBool(params, "paused");
  const prep = await withState(statePath, (state) => {
    const host = on === undefined ? undefined : findHostByNameOrId(state, on);
    if (on !== undefined && !host) throw cliFailure(`Host ${on} not found`);
    const vm = state.vms.find((v) => v.uuid === uuid);
    if (!vm) throw cliFailure("No matching VMs found");
    if (vm.powerState !== "halted") throw badPowerState(vm, "halted");
    const key = state.bootKey ?? DEFAULT_BOOT_KEY;
    const platform = vm.platform ?? {};
    // a pool starts a VM without on= on the host the call came from
    const hostUuid = host?.uuid ??
      (state.pool !== undefined ? callerOf(state) : state.hosts[0]?.uuid) ?? null;
    const target = state.hosts.find((h) => h.uuid === hostUuid);
    return {
      hostUuid,
      bootedArgs: Object.hasOwn(platform, key) ? platform[key] : null,
      hookDir: target?.hookRoot !== undefined ? `${target.hookRoot}/vm-pre-start` : state.hookDir,
      hookLog: state.hookLog,
    };
  });
  // The lock is free while hooks run: a hook may call xe (this fake) itself.
  if (prep.hookDir) await runPreStartHooks(prep.hookDir, uuid, prep.hookLog);
  await withState(statePath, (state, tx) => {
    const vm = state.vms.find((v) => v.uuid === uuid);
    if (!vm) throw cliFailure("No matching VMs found");
    if (vm.powerState !== "halted") throw badPowerState(vm, "halted");
    vm.domid = lowestFreeDomid(state);
    vm.powerState = paused ? "paused" : "running";
    vm.residentOn = prep.hostUuid;
    vm.bootedArgs = prep.bootedArgs;
    vm.startedAt = now();
    delete vm.haltAt;
    tx.dirty = true;
  });
}

async function shutdownOne(statePath: string, force: boolean, uuid: string): Promise<void> {
  const next = await withState(
    statePath,
    (state, tx): { kind: "done" } | { kind: "hang" } | { kind: "wait"; until: number } => {
      const vm = state.vms.find((v) => v.uuid === uuid);
      if (!vm) throw cliFailure("No matching VMs found");
      if (force) {
        if (!["paused", "suspended", "running"].includes(vm.powerState)) {
          throw badPowerState(vm, "paused, suspended, running");
        }
        haltVm(vm);
        tx.dirty = true;
        return { kind: "done" };
      }
      if (vm.powerState !== "running") throw badPowerState(vm, "running");
      if (vm.haltAt !== undefined) {
        throw serverError(DOC.otherOperation, [["class", "VM"], ["object", vmHandle(vm)]]);
      }
      if (vm.ignoreCleanShutdown ?? state.ignoreCleanShutdown) return { kind: "hang" };
      const late = vm.lateShutdownMs ?? state.lateShutdownMs;
      if (late !== undefined) {
        vm.haltAt = now() + late;
        tx.dirty = true;
        return { kind: "wait", until: vm.haltAt };
      }
      haltVm(vm);
      tx.dirty = true;
      return { kind: "done" };
    },
  );
  if (next.kind === "hang") await hangForever();
  if (next.kind === "wait") {
    const limit = currentCall().waitLimitMs;
    if (limit !== undefined && next.until - now() + 1 >= limit) await hangForever();
    await sleep(next.until - now() + 1);
    await withState(statePath, () => {}); // applies the due halt
  }
}

// ---------------------------------------------------------------------------------------------
// Pools (xe-reference.md "Pools"): one database behind every host's xe

/** FAKE_XE_HOST: the host this process runs on (pool fakes). */
const CALLER = Deno.env.get("FAKE_XE_HOST") || undefined;

/**
 * Verbs that only read: xapi answers them in parallel, so the fake runs them under a SHARED lock,
 * reading the state once (fakeXeCall), unless a fault or a due late shutdown needs a write first.
 * Every other verb keeps the exclusive lock (writes stay atomic, as in xapi's database).
 */
const READ_VERBS = new Set([
  "vm-list",
  "host-list",
  "pool-list",
  "vm-param-get",
  "vm-param-list",
  "host-param-get",
  "pool-param-get",
]);

/** The state a read verb runs on (per call: in-process callers run calls concurrently). */
const readState = new AsyncLocalStorage<FakeState>();

/**
 * Who is calling: this process (FAKE_XE_HOST, Deno.pid), or, for the in-process entry point
 * (in-process.ts), the call under way (its own FAKE_XE_HOST and a pid of its own).
 */
export interface CallContext {
  caller: string | undefined;
  pid: number;
  /**
   * In-process callers: the caller's time bound. A wait that would outlast it (a hang, a late
   * shutdown, a delay) ends at once as a hang: the caller would have killed the process then.
   */
  waitLimitMs?: number;
}
let currentCall: () => CallContext = () => ({ caller: CALLER, pid: Deno.pid });

/** in-process.ts only: where the context of the call under way comes from. */
export function setCallContext(source: () => CallContext): void {
  currentCall = source;
}

/** The calling host: FAKE_XE_HOST, else the pool's master, else the first host. */
function callerOf(state: FakeState): string | undefined {
  return currentCall().caller ?? state.pool?.master ?? state.hosts[0]?.uuid;
}

/** The pool record; a state without one is a pool of one (created in the state on a write). */
function poolOf(state: FakeState, tx?: Tx): FakePool {
  if (state.pool !== undefined) return state.pool;
  const pool: FakePool = {
    uuid: DEFAULT_POOL_UUID,
    master: state.hosts[0]?.uuid ?? "",
    otherConfig: {},
  };
  if (tx !== undefined) state.pool = pool;
  return pool;
}

function poolByUuid(state: FakeState, uuid: string, tx?: Tx): FakePool {
  const pool = poolOf(state);
  if (pool.uuid !== uuid) throw uuidInvalid("pool", uuid);
  return poolOf(state, tx);
}

function hostRecByUuid(state: FakeState, uuid: string): HostRec {
  const host = state.hosts.find((h) => h.uuid === uuid);
  if (!host) throw uuidInvalid("host", uuid);
  return { host, defaultHostname: state.hostname ?? DEFAULT_HOSTNAME };
}

/** Whether `<verb>` must wait for the master: in a pool every call is forwarded to it. */
type Reach = { kind: "ok" } | { kind: "hang" } | { kind: "fail"; stderr: string };

function reachOf(state: FakeState): Reach {
  const caller = callerOf(state);
  const host = state.hosts.find((h) => h.uuid === caller);
  const master = state.hosts.find((h) => h.uuid === poolOf(state).master);
  if (host?.emergency) {
    const err = serverError(DOC.hostIsSlave, [["master_address", master?.hostname ?? "?"]]);
    return { kind: "fail", stderr: err.stderr };
  }
  if (state.masterDown) {
    // a slave retries the master for ever; the master's own xe finds nobody listening
    if (caller !== master?.uuid) return { kind: "hang" };
    return { kind: "fail", stderr: "Error: Connection refused (calling connect )\n" };
  }
  return { kind: "ok" };
}

interface ParamClass<T> {
  type: string;
  fields: FieldDef<T>[];
  byUuid(state: FakeState, uuid: string, tx?: Tx): T;
}

const VM_CLASS: ParamClass<FakeVm> = {
  type: "VM",
  fields: VM_FIELDS,
  byUuid: (state, uuid) => vmByUuid(state, uuid),
};
const HOST_CLASS: ParamClass<HostRec> = {
  type: "host",
  fields: HOST_FIELDS,
  byUuid: hostRecByUuid,
};
const POOL_CLASS: ParamClass<FakePool> = { type: "pool", fields: POOL_FIELDS, byUuid: poolByUuid };

function paramGet<T>(cls: ParamClass<T>): Command {
  return {
    reqd: ["uuid", "param-name"],
    run: ({ statePath, params, printer }) =>
      withState(statePath, (state) => {
        const o = cls.byUuid(state, assoc(params, "uuid")!);
        const name = assoc(params, "param-name")!;
        const field = cls.fields.find((f) => f.name === name);
        if (!field) throw unknownCodeError("Missing parameter", [name]);
        const key = assoc(params, "param-key");
        if (key !== undefined && field.map) {
          const m = field.map(o);
          if (!Object.hasOwn(m, key)) throw cliFailure(`Key ${key} not found in map`);
          printer.list([m[key]]);
        } else {
          printer.list([field.get(o)]);
        }
      }),
  };
}

/** `<class>-param-add uuid=U param-name=M K=V…`: one add_to_<map> per pair, atomic, no overwrite. */
function paramAdd<T>(cls: ParamClass<T>): Command {
  return {
    reqd: ["uuid", "param-name"],
    run: ({ statePath, params }) =>
      withState(statePath, (state, tx) => {
        const uuid = assoc(params, "uuid")!;
        const o = cls.byUuid(state, uuid, tx);
        const name = assoc(params, "param-name")!;
        const field = cls.fields.find((f) => f.name === name);
        if (!field) throw unknownCodeError("Missing parameter", [name]);
        if (!field.map) throw cliFailure("Can only add to parameters of type Set or Map");
        if (!field.mapRw) throw cliFailure("Cannot add parameters to read-only map");
        const m = field.map(o);
        const pairs = params.filter(([k]) =>
          k !== "uuid" && k !== "param-name" && !STDPARAMS.includes(k)
        );
        for (const [k, v] of pairs) {
          if (Object.hasOwn(m, k)) throw duplicateKey(cls.type, name, uuid, k);
          m[k] = v;
          tx.dirty = true;
        }
      }),
  };
}

function paramRemove<T>(cls: ParamClass<T>): Command {
  return {
    reqd: ["uuid", "param-name", "param-key"],
    run: ({ statePath, params }) =>
      withState(statePath, (state, tx) => {
        const o = cls.byUuid(state, assoc(params, "uuid")!, tx);
        const name = assoc(params, "param-name")!;
        const key = assoc(params, "param-key")!;
        const field = cls.fields.find((f) => f.name === name);
        if (!field) throw unknownCodeError("Missing parameter", [name]);
        if (!field.map) throw cliFailure("Can only remove from parameters of type Set or Map");
        if (!field.mapRw) throw cliFailure("Cannot remove parameters from read-only map");
        const m = field.map(o);
        if (!Object.hasOwn(m, key)) throw cliFailure(`Key ${key} is not in map`);
        delete m[key];
        tx.dirty = true;
      }),
  };
}

/**
 * `<class>-param-set uuid=U a=b map:k=v…`. In a pool a map key is removed, the database lock is
 * released (for `mapGapMs`), then the key is added: a concurrent add in between makes this one
 * fail with the duplicate-key error, and a reader in the gap sees no key (xe-reference.md).
 */
async function paramSet<T>(cls: ParamClass<T>, statePath: string, params: Params): Promise<void> {
  const uuid = assoc(params, "uuid")!;
  const pending = await withState(statePath, (state, tx) => {
    const o = cls.byUuid(state, uuid, tx);
    const gap = state.pool !== undefined || state.mapGapMs !== undefined;
    const later: { field: FieldDef<T>; key: string; value: string }[] = [];
    const sets = params.filter(([p]) => p !== "uuid" && !STDPARAMS.includes(p));
    for (const [k, v] of sets) {
      const t = fieldType(k, cls.fields);
      if (t.kind === "map") {
        if (!t.field.mapRw) throw cliFailure(`Map field '${t.field.name}' is read-only.`);
        const m = t.field.map!(o);
        delete m[t.key];
        tx.dirty = true;
        if (gap) later.push({ field: t.field, key: t.key, value: v });
        else m[t.key] = v;
      } else {
        const f = t.field;
        if (!f.set) {
          if (f.map) {
            throw cliFailure(`Field '${k}' is a map or set. use the 'name:key=value' syntax.`);
          }
          throw cliFailure(`Field '${k}' is read-only.`);
        }
        f.set(o, v);
        tx.dirty = true;
      }
    }
    return { later, gapMs: state.mapGapMs ?? 0 };
  });
  for (const { field, key, value } of pending.later) {
    if (pending.gapMs > 0) await sleep(pending.gapMs);
    await withState(statePath, (state, tx) => {
      const m = field.map!(cls.byUuid(state, uuid, tx));
      if (Object.hasOwn(m, key)) throw duplicateKey(cls.type, field.name, uuid, key);
      m[key] = value;
      tx.dirty = true;
    });
  }
}

function hookDirOf(state: FakeState, hostUuid: string | null | undefined, hook: string) {
  const host = state.hosts.find((h) => h.uuid === hostUuid);
  return host?.hookRoot === undefined ? undefined : `${host.hookRoot}/${hook}`;
}

/** vm-suspend: a running VM's memory goes to disk; it is on no host until resumed. */
async function suspendOne(statePath: string, uuid: string): Promise<void> {
  await withState(statePath, (state, tx) => {
    const vm = vmByUuid(state, uuid);
    if (vm.powerState !== "running") throw badPowerState(vm, "running");
    vm.powerState = "suspended";
    vm.residentOn = null;
    vm.domid = -1;
    tx.dirty = true;
  });
}

/** vm-resume [on=H]: runs the host's vm-pre-resume hooks (vm-pre-start does not run). */
async function resumeOne(statePath: string, params: Params, uuid: string): Promise<void> {
  const on = assoc(params, "on");
  const prep = await withState(statePath, (state) => {
    const host = on === undefined ? undefined : findHostByNameOrId(state, on);
    if (on !== undefined && !host) throw cliFailure(`Host ${on} not found`);
    const vm = vmByUuid(state, uuid);
    if (vm.powerState !== "suspended") throw badPowerState(vm, "suspended");
    const hostUuid = host?.uuid ?? callerOf(state) ?? null;
    const key = state.bootKey ?? DEFAULT_BOOT_KEY;
    return {
      hostUuid,
      bootedArgs: Object.hasOwn(vm.platform, key) ? vm.platform[key] : null,
      hookDir: hookDirOf(state, hostUuid, "vm-pre-resume"),
      hookLog: state.hookLog,
    };
  });
  if (prep.hookDir) await runHooks(prep.hookDir, "vm-pre-resume", "none", uuid, prep.hookLog);
  await withState(statePath, (state, tx) => {
    const vm = vmByUuid(state, uuid);
    if (vm.powerState !== "suspended") throw badPowerState(vm, "suspended");
    vm.powerState = "running";
    vm.residentOn = prep.hostUuid;
    vm.domid = lowestFreeDomid(state);
    vm.bootedArgs = prep.bootedArgs;
    vm.startedAt = now();
    tx.dirty = true;
  });
}

/**
 * vm-migrate host=H: the source's vm-pre-migrate hooks (≥ 2 vetoes, nothing moves), the move
 * (the new QEMU gets the CURRENT platform map), then the destination's vm-post-migrate hooks:
 * ≥ 2 from them shuts the migrated VM down and the call fails.
 */
async function migrateOne(statePath: string, params: Params, uuid: string): Promise<void> {
  const to = assoc(params, "host") ?? assoc(params, "host-uuid");
  if (to === undefined) throw paramError("Required parameter not found", "host");
  const prep = await withState(statePath, (state) => {
    const dest = findHostByNameOrId(state, to);
    if (!dest) throw cliFailure(`Host ${to} not found`);
    const vm = vmByUuid(state, uuid);
    if (vm.powerState !== "running") throw badPowerState(vm, "running");
    return {
      dest: dest.uuid,
      pre: hookDirOf(state, vm.residentOn, "vm-pre-migrate"),
      post: hookDirOf(state, dest.uuid, "vm-post-migrate"),
      hookLog: state.hookLog,
    };
  });
  if (prep.pre) await runHooks(prep.pre, "vm-pre-migrate", "source", uuid, prep.hookLog);
  await withState(statePath, (state, tx) => {
    const vm = vmByUuid(state, uuid);
    if (vm.powerState !== "running") throw badPowerState(vm, "running");
    const key = state.bootKey ?? DEFAULT_BOOT_KEY;
    vm.residentOn = prep.dest;
    vm.bootedArgs = Object.hasOwn(vm.platform, key) ? vm.platform[key] : null;
    tx.dirty = true;
  });
  if (!prep.post) return;
  try {
    await runHooks(prep.post, "vm-post-migrate", "destination", uuid, prep.hookLog);
  } catch (e) {
    await withState(statePath, (state, tx) => {
      const vm = vmByUuid(state, uuid);
      if (vm.powerState === "running") haltVm(vm);
      tx.dirty = true;
    });
    throw e;
  }
}

function poolListCommand(): Command {
  return {
    reqd: [],
    run: ({ statePath, params, printer }) =>
      withState(
        statePath,
        (state) =>
          listRecords(printer, [poolOf(state)], POOL_FIELDS, params, [], [
            "uuid",
            "name-label",
            "master",
          ]),
      ),
  };
}

// ---------------------------------------------------------------------------------------------
// Commands

interface Ctx {
  statePath: string;
  params: Params;
  printer: Printer;
}

interface Command {
  reqd: string[];
  run(ctx: Ctx): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  "vm-list": {
    reqd: [],
    run: ({ statePath, params, printer }) =>
      withState(
        statePath,
        (state) =>
          listRecords(printer, state.vms, VM_FIELDS, params, [["is-a-template", "false"]], [
            "name-label",
            "uuid",
            "power-state",
          ]),
      ),
  },

  "host-list": {
    reqd: [],
    run: ({ statePath, params, printer }) =>
      withState(statePath, (state) => {
        const defaultHostname = state.hostname ?? DEFAULT_HOSTNAME;
        const recs = state.hosts.map((host): HostRec => ({ host, defaultHostname }));
        listRecords(printer, recs, HOST_FIELDS, params, [], [
          "uuid",
          "name-label",
          "name-description",
        ]);
      }),
  },

  "vm-param-list": {
    reqd: ["uuid"],
    run: ({ statePath, params, printer }) =>
      withState(statePath, (state) => {
        const vm = vmByUuid(state, assoc(params, "uuid")!);
        printer.table([VM_FIELDS.map((f): Row => [f.name + tagOf(f), f.get(vm)])]);
      }),
  },

  "vm-param-get": {
    reqd: ["uuid", "param-name"],
    run: ({ statePath, params, printer }) =>
      withState(statePath, (state) => {
        const vm = vmByUuid(state, assoc(params, "uuid")!);
        const name = assoc(params, "param-name")!;
        const field = VM_FIELDS.find((f) => f.name === name);
        if (!field) throw unknownCodeError("Missing parameter", [name]);
        const key = assoc(params, "param-key");
        if (key !== undefined && field.map) {
          const m = field.map(vm);
          if (!Object.hasOwn(m, key)) throw cliFailure(`Key ${key} not found in map`);
          printer.list([m[key]]);
        } else {
          printer.list([field.get(vm)]);
        }
      }),
  },

  "vm-param-set": {
    reqd: ["uuid"],
    run: async ({ statePath, params }) => {
      const pooled = await withState(
        statePath,
        (s) => s.pool !== undefined || s.mapGapMs !== undefined,
      );
      if (pooled) return await paramSet(VM_CLASS, statePath, params);
      await withState(statePath, (state, tx) => {
        const vm = vmByUuid(state, assoc(params, "uuid")!);
        const sets = params.filter(([p]) => p !== "uuid" && !STDPARAMS.includes(p));
        for (const [k, v] of sets) {
          const t = fieldType(k, VM_FIELDS);
          if (t.kind === "map") {
            if (!t.field.mapRw) throw cliFailure(`Map field '${t.field.name}' is read-only.`);
            // xapi: remove_from_map (when present) then add_to_map — not atomic.
            const m = t.field.map!(vm);
            delete m[t.key];
            m[t.key] = v;
            tx.dirty = true;
          } else {
            const f = t.field;
            if (!f.set) {
              if (f.map) {
                throw cliFailure(
                  `Field '${k}' is a map or set. use the 'name:key=value' syntax.`,
                );
              }
              throw cliFailure(`Field '${k}' is read-only.`);
            }
            f.set(vm, v);
            tx.dirty = true;
          }
        }
      });
    },
  },

  "vm-param-add": paramAdd(VM_CLASS),

  "vm-param-remove": {
    reqd: ["uuid", "param-name", "param-key"],
    run: ({ statePath, params }) =>
      withState(statePath, (state, tx) => {
        const vm = vmByUuid(state, assoc(params, "uuid")!);
        const name = assoc(params, "param-name")!;
        const key = assoc(params, "param-key")!;
        const field = VM_FIELDS.find((f) => f.name === name);
        if (!field) throw unknownCodeError("Missing parameter", [name]);
        if (!field.map) throw cliFailure("Can only remove from parameters of type Set or Map");
        if (!field.mapRw) throw cliFailure("Cannot remove parameters from read-only map");
        const m = field.map(vm);
        if (!Object.hasOwn(m, key)) throw cliFailure(`Key ${key} is not in map`);
        delete m[key];
        tx.dirty = true;
      }),
  },

  "vm-start": {
    reqd: [],
    run: ({ statePath, params }) =>
      doVmOp(
        statePath,
        params,
        ["on", "paused", "progress"],
        true,
        (uuid) => startOne(statePath, params, uuid),
      ),
  },

  "vm-suspend": {
    reqd: [],
    run: ({ statePath, params }) =>
      doVmOp(statePath, params, ["progress"], false, (uuid) => suspendOne(statePath, uuid)),
  },

  "vm-resume": {
    reqd: [],
    run: ({ statePath, params }) =>
      doVmOp(
        statePath,
        params,
        ["on", "progress", "force"],
        false,
        (uuid) => resumeOne(statePath, params, uuid),
      ),
  },

  "vm-migrate": {
    reqd: [],
    run: ({ statePath, params }) =>
      doVmOp(
        statePath,
        params,
        ["host", "host-uuid", "live", "progress", "force"],
        false,
        (uuid) => migrateOne(statePath, params, uuid),
      ),
  },

  "host-param-get": paramGet(HOST_CLASS),
  "host-param-add": paramAdd(HOST_CLASS),
  "host-param-remove": paramRemove(HOST_CLASS),

  "pool-list": poolListCommand(),
  "pool-param-get": paramGet(POOL_CLASS),
  "pool-param-add": paramAdd(POOL_CLASS),
  "pool-param-remove": paramRemove(POOL_CLASS),
  "pool-param-set": {
    reqd: ["uuid"],
    run: ({ statePath, params }) => paramSet(POOL_CLASS, statePath, params),
  },

  "vm-shutdown": {
    reqd: [],
    run: ({ statePath, params }) => {
      const force = getBool(params, "force");
      return doVmOp(
        statePath,
        params,
        ["progress"],
        false,
        (uuid) => shutdownOne(statePath, force, uuid),
      );
    },
  },
};

const HELP = `Usage:
  xe <command> [ <name>=<value> ... ] [ --minimal ]

This is a fake xe for tests. Commands:
    ${Object.keys(COMMANDS).sort().join(", ")}
`;

// ---------------------------------------------------------------------------------------------
// Main

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, s: string): Promise<void> {
  let bytes = new TextEncoder().encode(s);
  while (bytes.length > 0) {
    const n = await w.write(bytes);
    bytes = bytes.subarray(n);
  }
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCommand(statePath: string, argv: string[]): Promise<Outcome | "hang"> {
  if (argv.length === 0) return { code: 0, stdout: HELP, stderr: "" };
  try {
    const { cmd, params } = parseCommandLine(argv);
    const m = assoc(params, "minimal");
    let minimal = false;
    if (m !== undefined) {
      if (m !== "true" && m !== "false") throw internalError(`Invalid_argument("bool_of_string")`);
      minimal = m === "true";
    }
    if (cmd === "help") return { code: 0, stdout: HELP, stderr: "" };
    const command = COMMANDS[cmd];
    if (!command) throw paramError("Unknown command", cmd);
    for (const k of command.reqd) {
      if (assoc(params, k) === undefined) throw paramError("Required parameter not found", k);
    }
    const printer = new Printer(minimal);
    await command.run({ statePath, params, printer });
    return { code: 0, stdout: printer.finish(), stderr: "" };
  } catch (e) {
    if (e instanceof Hang) return "hang";
    if (e instanceof XeError) return { code: 1, stdout: e.stdout, stderr: e.stderr };
    const err = internalError(e instanceof Error ? e.message : String(e));
    return { code: 1, stdout: "", stderr: err.stderr };
  }
}

/** A read verb with no fault to take: logged, reached and answered under the SHARED lock. */
function readFast(
  statePath: string,
  argv: string[],
  verb: string,
  pid: number,
): Promise<{ exitLog?: string; reach: Reach; outcome: Outcome | "hang" | null } | null> {
  return withStateLock(statePath, async () => {
    const state = readStateSync(statePath);
    // a fault to take or a late shutdown to apply is a write: the exclusive path
    if (state.faults?.[verb] !== undefined || applyDueHalts(state, now())) return null;
    appendJsonLine(state.callLog, { argv, at: now(), pid });
    const reach = reachOf(state);
    if (reach.kind !== "ok") return { exitLog: state.exitLog, reach, outcome: null };
    const outcome = await readState.run(state, () => runCommand(statePath, argv));
    return { exitLog: state.exitLog, reach, outcome };
  }, { shared: true });
}

/**
 * One call, as the `xe` process makes it, without its process: the outcome, or "hang" when the
 * process would never answer (a hang fault, a slave without its master, a lost answer after its
 * change happened, a clean shutdown the guest ignores). `waitLimitMs` (in-process callers: the
 * caller's time bound) ends a wait that would outlast it as a hang at once.
 */
export async function fakeXeCall(statePath: string, argv: string[]): Promise<Outcome | "hang"> {
  const verb = argv[0] ?? "";
  const { pid, waitLimitMs } = currentCall();
  if (READ_VERBS.has(verb)) {
    let fast;
    try {
      fast = await readFast(statePath, argv, verb, pid);
    } catch (e) {
      return { code: 1, stdout: "", stderr: `fake-xe: cannot use state ${statePath}: ${e}\n` };
    }
    if (fast !== null) {
      if (fast.reach.kind === "hang" || fast.outcome === "hang") return "hang";
      const outcome = fast.reach.kind === "fail"
        ? { code: 1, stdout: "", stderr: fast.reach.stderr }
        : fast.outcome!;
      appendJsonLine(fast.exitLog, { pid, exit: outcome.code, at: now() });
      return outcome;
    }
  }
  // Log the call, apply due late shutdowns, pick up a fault — all under the lock.
  let exitLog: string | undefined;
  let fault: FakeFault | undefined;
  let reach = { kind: "ok" } as Reach;
  try {
    fault = await withStateLock(statePath, () => {
      const state = readStateSync(statePath);
      exitLog = state.exitLog;
      appendJsonLine(state.callLog, { argv, at: now(), pid });
      reach = reachOf(state);
      let dirty = applyDueHalts(state, now());
      const before = JSON.stringify(state.faults ?? null);
      const f = takeFault(state, verb, argv);
      if (JSON.stringify(state.faults ?? null) !== before) dirty = true;
      if (dirty) writeStateSync(statePath, state);
      return f;
    });
  } catch (e) {
    return { code: 1, stdout: "", stderr: `fake-xe: cannot use state ${statePath}: ${e}\n` };
  }

  let outcome: Outcome;
  if (fault?.mode === "hang" || reach.kind === "hang") return "hang";
  if (reach.kind === "fail") {
    appendJsonLine(exitLog, { pid, exit: 1, at: now() });
    return { code: 1, stdout: "", stderr: reach.stderr };
  }
  if (fault?.mode === "fail") {
    outcome = { code: fault.exitCode ?? 1, stdout: "", stderr: fault.stderr };
  } else if (fault?.mode === "garbage") {
    outcome = { code: fault.exitCode ?? 0, stdout: fault.stdout, stderr: fault.stderr ?? "" };
  } else if (fault?.mode === "lost") {
    await runCommand(statePath, argv);
    return "hang";
  } else {
    if (fault?.mode === "delay") {
      if (waitLimitMs !== undefined && fault.ms >= waitLimitMs) return "hang";
      await delay(fault.ms, fault.release);
    }
    const r = await runCommand(statePath, argv);
    if (r === "hang") return "hang";
    outcome = r;
  }
  appendJsonLine(exitLog, { pid, exit: outcome.code, at: now() });
  return outcome;
}

async function main(): Promise<number> {
  const statePath = Deno.env.get("FAKE_XE_STATE");
  if (!statePath) {
    await writeAll(Deno.stderr, "fake-xe: FAKE_XE_STATE is not set\n");
    return 1;
  }
  const outcome = await fakeXeCall(statePath, [...Deno.args]);
  if (outcome === "hang") await hangForever();
  const o = outcome as Outcome;
  await writeAll(Deno.stdout, o.stdout);
  await writeAll(Deno.stderr, o.stderr);
  return o.code;
}

if (import.meta.main) Deno.exit(await main());

/**
 * State of the fake `xe` (tests/fake-xe/xe): its types and the helpers tests use to create, read
 * and modify the JSON state file. Importing this module has no side effects.
 *
 * The fake reads the state file named by the environment variable `FAKE_XE_STATE` on every call,
 * under an flock on `<state>.lock`, and writes it back atomically (temp file + rename).
 *
 * Field names below are the TypeScript names stored in the JSON file; what `xe` prints for them is
 * given in each comment.
 */

export type PowerState = "halted" | "running" | "paused" | "suspended";

export interface FakeHost {
  /** `uuid ( RO)` */
  uuid: string;
  /** `name-label ( RW)` */
  nameLabel: string;
  /** `name-description ( RW)`; default "". */
  nameDescription?: string;
  /** `hostname ( RO)`; default: the state's `hostname`, else "xcp-host". */
  hostname?: string;
  /** `enabled ( RO)`; default true. */
  enabled?: boolean;
  /** `host-metrics-live ( RO)`: false once the pool thinks the host is dead; default true. */
  live?: boolean;
  /** `other-config (MRW)`; default {}. */
  otherConfig?: Record<string, string>;
  /**
   * Pool fakes: this host's `/etc/xapi.d`. vm-start on this host runs `<hookRoot>/vm-pre-start/*`,
   * vm-resume `vm-pre-resume/*`, a migration from it `vm-pre-migrate/*` and to it
   * `vm-post-migrate/*` (xenops_hooks.ml). Unset: vm-start falls back to `FakeState.hookDir`.
   */
  hookRoot?: string;
  /**
   * Pool fakes: xapi on this host restarted without its master (emergency mode): `xe` called on
   * this host fails at once (HOST_IS_SLAVE).
   */
  emergency?: boolean;
}

/**
 * The XCP-ng pool record (`xe pool-list`). A single host is a pool of one: when a state has no
 * pool, the pool verbs answer for a default one (uuid DEFAULT_POOL_UUID, master = first host)
 * and create it in the state when they write.
 */
export interface FakePool {
  /** `uuid ( RO)` */
  uuid: string;
  /** `name-label ( RW)`; default "". */
  nameLabel?: string;
  /** `master ( RO)`: a host uuid. */
  master: string;
  /** `other-config (MRW)` */
  otherConfig: Record<string, string>;
  /** `ha-enabled ( RO)`; default false. */
  haEnabled?: boolean;
}

export interface FakeVm {
  /** `uuid ( RO)` */
  uuid: string;
  /** `name-label ( RW)` */
  nameLabel: string;
  /** `name-description ( RW)`; default "". */
  nameDescription?: string;
  /** `user-version ( RW)`; default 1. */
  userVersion?: number;
  /** `power-state ( RO)` */
  powerState: PowerState;
  /** `is-control-domain ( RO)`: dom0. `vm-list` shows it; `vm-shutdown` never selects it. */
  isControlDomain?: boolean;
  /** `is-a-template ( RW)`. Hidden by `vm-list`'s default filter `is-a-template=false`. */
  isTemplate?: boolean;
  /**
   * `is-a-snapshot ( RO)`. As in xapi, a snapshot is also a template: `is-a-template` prints `true`
   * for it, so `vm-list` hides it too.
   */
  isSnapshot?: boolean;
  /** `memory-actual ( RO)` in bytes; default 0. */
  memoryActual?: number;
  /** `VCPUs-number ( RO)`; default 1. */
  vcpus?: number;
  /** `resident-on ( RO)`: host uuid when running/paused; null (prints `<not in database>`) when halted. */
  residentOn?: string | null;
  /** `dom-id ( RO)`: -1 when halted; dom0 has 0; vm-start takes the lowest free integer >= 1. */
  domid?: number;
  /** `platform (MRW)` */
  platform: Record<string, string>;
  /** `other-config (MRW)`; default {}. */
  otherConfig?: Record<string, string>;

  // ---- bookkeeping by the fake (not xe fields) ----

  /**
   * Set by a successful vm-start: the value of `platform:<state.bootKey>` read BEFORE the
   * vm-pre-start hooks ran, i.e. what the VM really booted with; null when the key was absent.
   */
  bootedArgs?: string | null;
  /** Set by a successful vm-start: epoch ms. */
  startedAt?: number;
  /**
   * A late clean shutdown completes at this epoch ms: every later call first turns a running VM
   * whose haltAt has passed into a halted one (residentOn null, domid -1) and clears haltAt.
   */
  haltAt?: number;
  /** Per-VM override of `FakeState.ignoreCleanShutdown`. */
  ignoreCleanShutdown?: boolean;
  /** Per-VM override of `FakeState.lateShutdownMs`. */
  lateShutdownMs?: number;
}

/**
 * An injected failure for one verb (the key of `FakeState.faults`, e.g. "vm-list").
 * `times`: how many calls it affects (default: all); decremented and saved by each affected call,
 * and the fault is deleted when it reaches 0.
 * `match`: the fault only affects calls whose argument list contains every one of these strings
 * exactly (e.g. `["param-name=power-state"]`).
 * Affected calls are still logged to `callLog`, and due `haltAt`s are still applied.
 */
export type FakeFault =
  /** Print `stderr` (give it its trailing newline), exit `exitCode` (default 1), change nothing. */
  | { mode: "fail"; stderr: string; exitCode?: number; times?: number; match?: string[] }
  /** Sleep until killed, without holding the state lock. */
  | { mode: "hang"; times?: number; match?: string[] }
  /** Print `stdout` verbatim (and `stderr` if given), exit `exitCode` (default 0), change nothing. */
  | {
    mode: "garbage";
    stdout: string;
    stderr?: string;
    exitCode?: number;
    times?: number;
    match?: string[];
  }
  /**
   * Run the call normally (its change happens, as xapi's task goes on), then never answer: the
   * client's answer is lost, as when xe is killed or times out after xapi took the request.
   */
  | { mode: "lost"; times?: number; match?: string[] }
  /**
   * Sleep `ms` without holding the lock, then run the call normally. With `release`, the sleep
   * also ends as soon as a file exists at that path: a test holds the call for as long as it
   * needs (`ms` is then only the bound) and lets it go at once.
   */
  | { mode: "delay"; ms: number; times?: number; match?: string[]; release?: string };

export interface FakeState {
  /** Pool hosts; the first one is where vm-start puts a VM unless `on=` says otherwise. */
  hosts: FakeHost[];
  /** VMs in database order (the order vm-list prints). Include a dom0 (see `makeDom0`). */
  vms: FakeVm[];
  /** Default hostname for hosts without one (dom0's label is `Control domain on host: <hostname>`). */
  hostname?: string;
  /**
   * The vm-pre-start hook directory. vm-start runs EVERY entry of it in byte order of the name,
   * one after the other, like xenopsd (`/etc/xapi.d/vm-pre-start/`): args `-vmuuid <uuid> -reason
   * none`, environment exactly `PATH=/sbin:/usr/sbin:/bin:/usr/bin`, cwd `/`, stdin /dev/null.
   * Exit 0 or 1: next hook. Any other exit code: the start fails with XAPI_HOOK_FAILED and the VM
   * stays halted. An entry that cannot be executed (not executable, a directory) or a hook killed
   * by a signal fails the start with an INTERNAL_ERROR. Missing directory: no hooks.
   * The state lock is NOT held while hooks run (a hook may call this fake again).
   */
  hookDir?: string;
  /** The platform key whose pre-hook value vm-start records in `bootedArgs`; default "device-model-args". */
  bootKey?: string;
  /**
   * Absolute path of a file: every call appends one JSON line `{"argv":[...],"at":<ms>,"pid":<n>}`
   * when it starts (before any fault, so hanging calls are logged too). One line per call.
   */
  callLog?: string;
  /** Absolute path of a file: every call that finishes appends `{"pid":<n>,"exit":<code>,"at":<ms>}`. */
  exitLog?: string;
  /** Absolute path of a file: every hook run appends `{"script","vm","exit","signal","stdout","stderr","at"}`. */
  hookLog?: string;
  /** Injected failures keyed by verb ("vm-list", "vm-param-get", "vm-start", ...). */
  faults?: Record<string, FakeFault>;
  /** A clean vm-shutdown hangs forever and the VM stays running (the guest ignores it). */
  ignoreCleanShutdown?: boolean;
  /**
   * A clean vm-shutdown records `haltAt = now + lateShutdownMs` on the VM, then blocks until that
   * time and completes (exit 0) — unless its client kills it first, which is the point. Any call
   * made after haltAt sees the VM halted.
   */
  lateShutdownMs?: number;

  // ---- pool fakes (leave unset for one standalone host: behaviour exactly as without them) ----

  /**
   * The pool record. When set, the fake is a pool: the calling host is `FAKE_XE_HOST` (a host
   * uuid; default the master), a vm-start without `on=` starts on the calling host, and
   * `param-set` of a map key is two steps (remove, then add) with the lock released between.
   */
  pool?: FakePool;
  /**
   * The master's xapi is down: `xe` on a slave hangs (it retries for ever; the call is logged),
   * `xe` on the master fails at once (connection refused).
   */
  masterDown?: boolean;
  /** ms between the remove and the add of a map `param-set` (pool fakes; default 0). */
  mapGapMs?: number;
}

/** One line of the call log, merged with its exit code when `exitLog` is set. */
export interface CallLogEntry {
  argv: string[];
  at: number;
  pid: number;
  /** Only when `exitLog` is set and the call finished (a killed call has none). */
  exit?: number;
}

export const DEFAULT_HOSTNAME = "xcp-host";
export const DEFAULT_HOST_UUID = "0b1e7c3a-1111-4a5b-8c9d-000000000001";
export const DOM0_UUID = "0b1e7c3a-2222-4a5b-8c9d-000000000000";
export const DEFAULT_POOL_UUID = "0b1e7c3a-3333-4a5b-8c9d-00000000f001";
export const DEFAULT_BOOT_KEY = "device-model-args";
export const HOOK_PATH = "/sbin:/usr/sbin:/bin:/usr/bin";

/** Absolute path of the fake `xe` wrapper script. */
export const FAKE_XE_PATH: string = decodeURIComponent(new URL("./xe", import.meta.url).pathname);
/** Absolute path of the fake's program. */
export const FAKE_XE_PROGRAM: string = decodeURIComponent(
  new URL("./fake-xe.ts", import.meta.url).pathname,
);

export function makeHost(partial: Partial<FakeHost> = {}): FakeHost {
  return {
    uuid: partial.uuid ?? crypto.randomUUID(),
    nameLabel: partial.nameLabel ?? partial.hostname ?? DEFAULT_HOSTNAME,
    ...partial,
  };
}

/** A guest VM: halted, not on a host, empty platform map unless `partial` says otherwise. */
export function makeVm(partial: Partial<FakeVm> = {}): FakeVm {
  const powerState = partial.powerState ?? "halted";
  const halted = powerState === "halted" || powerState === "suspended";
  return {
    uuid: partial.uuid ?? crypto.randomUUID(),
    nameLabel: partial.nameLabel ?? "vm",
    powerState,
    residentOn: halted ? null : DEFAULT_HOST_UUID,
    domid: halted ? -1 : 1,
    ...partial,
    platform: { ...(partial.platform ?? {}) },
  };
}

/** The control domain of `host`: running, dom-id 0, named `Control domain on host: <hostname>`. */
export function makeDom0(host: FakeHost, partial: Partial<FakeVm> = {}): FakeVm {
  const hostname = host.hostname ?? DEFAULT_HOSTNAME;
  return makeVm({
    uuid: DOM0_UUID,
    nameLabel: `Control domain on host: ${hostname}`,
    powerState: "running",
    isControlDomain: true,
    residentOn: host.uuid,
    domid: 0,
    memoryActual: 4294967296,
    vcpus: 16,
    ...partial,
  });
}

/** One host (uuid DEFAULT_HOST_UUID) with its dom0 (uuid DOM0_UUID), no guests, no hooks. */
export function defaultState(
  opts: { hostname?: string; hostUuid?: string; vms?: FakeVm[] } = {},
): FakeState {
  const hostname = opts.hostname ?? DEFAULT_HOSTNAME;
  const host = makeHost({
    uuid: opts.hostUuid ?? DEFAULT_HOST_UUID,
    nameLabel: hostname,
    hostname,
  });
  return {
    hostname,
    hosts: [host],
    vms: [makeDom0(host), ...(opts.vms ?? [])],
  };
}

/**
 * A pool of `n` hosts (`host1`…`hostN`, uuids `0b1e7c3a-1111-4a5b-8c9d-00000000000<i>`, the first
 * is DEFAULT_HOST_UUID and the master), each with its own dom0, plus `vms`.
 */
export function poolState(n: number, opts: { vms?: FakeVm[] } = {}): FakeState {
  const hosts: FakeHost[] = [];
  const dom0s: FakeVm[] = [];
  for (let i = 1; i <= n; i++) {
    const hostname = `host${i}`;
    const host = makeHost({
      uuid: `0b1e7c3a-1111-4a5b-8c9d-${String(i).padStart(12, "0")}`,
      nameLabel: hostname,
      hostname,
    });
    hosts.push(host);
    dom0s.push(makeDom0(host, { uuid: `0b1e7c3a-2222-4a5b-8c9d-${String(i).padStart(12, "0")}` }));
  }
  return {
    hostname: "host1",
    hosts,
    vms: [...dom0s, ...(opts.vms ?? [])],
    pool: {
      uuid: DEFAULT_POOL_UUID,
      nameLabel: "gpu-pool",
      master: hosts[0].uuid,
      otherConfig: {},
    },
  };
}

export function findVm(state: FakeState, uuid: string): FakeVm | undefined {
  return state.vms.find((vm) => vm.uuid === uuid);
}

/** Guests only: no dom0, no templates, no snapshots. */
export function guests(state: FakeState): FakeVm[] {
  return state.vms.filter((vm) => !vm.isControlDomain && !vm.isTemplate && !vm.isSnapshot);
}

// ---------------------------------------------------------------------------------------------
// Reading and writing

export function readStateSync(path: string): FakeState {
  return JSON.parse(Deno.readTextFileSync(path)) as FakeState;
}

export function readState(path: string): Promise<FakeState> {
  return Deno.readTextFile(path).then((text) => JSON.parse(text) as FakeState);
}

function tempPathFor(path: string): string {
  return `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
}

/** Atomic: write a temp file next to `path`, then rename it over `path`. */
export function writeStateSync(path: string, state: FakeState): void {
  const tmp = tempPathFor(path);
  Deno.writeTextFileSync(tmp, JSON.stringify(state));
  Deno.renameSync(tmp, path);
}

/** Atomic: write a temp file next to `path`, then rename it over `path`. */
export async function writeState(path: string, state: FakeState): Promise<void> {
  const tmp = tempPathFor(path);
  await Deno.writeTextFile(tmp, JSON.stringify(state));
  await Deno.rename(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// Lock (shared with the fake, so tests can modify the state while fake xe processes run)

/**
 * Run `fn` holding an exclusive flock(2) on `<statePath>.lock`. The kernel releases it when the
 * holder exits or is killed, so there is no stale lock to break (breaking one by pid raced:
 * a waiter could remove a lock a new holder had just taken, and two writers lost updates).
 */
export async function withStateLock<T>(
  statePath: string,
  fn: () => T | Promise<T>,
  o: { shared?: boolean } = {},
): Promise<T> {
  const file = await Deno.open(`${statePath}.lock`, { read: true, write: true, create: true });
  try {
    // shared: readers that write nothing (xapi answers read calls in parallel)
    await file.lock(o.shared !== true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}

/** Read-modify-write under the lock. `fn` may mutate the state in place or return a new one. */
export function updateState(
  path: string,
  fn: (state: FakeState) => FakeState | void,
): Promise<FakeState> {
  return withStateLock(path, () => {
    const state = readStateSync(path);
    const next = fn(state) ?? state;
    writeStateSync(path, next);
    return next;
  });
}

// ---------------------------------------------------------------------------------------------
// Logs

function readJsonLines(path: string | undefined): Record<string, unknown>[] {
  if (!path) return [];
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

/** The calls logged so far (one per call, in start order), with exit codes when `exitLog` is set. */
export function readCallLog(state: FakeState): CallLogEntry[] {
  const exits = new Map<number, number>();
  for (const line of readJsonLines(state.exitLog)) {
    exits.set(line.pid as number, line.exit as number);
  }
  return readJsonLines(state.callLog).map((line) => {
    const entry: CallLogEntry = {
      argv: line.argv as string[],
      at: line.at as number,
      pid: line.pid as number,
    };
    const exit = exits.get(entry.pid);
    if (exit !== undefined) entry.exit = exit;
    return entry;
  });
}

/** The verbs (first argument) of the logged calls, in order. */
export function readCallVerbs(state: FakeState): string[] {
  return readCallLog(state).map((entry) => entry.argv[0] ?? "");
}

export interface HookLogEntry {
  script: string;
  vm: string;
  exit: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  at: number;
}

export function readHookLog(state: FakeState): HookLogEntry[] {
  return readJsonLines(state.hookLog) as unknown as HookLogEntry[];
}

// ---------------------------------------------------------------------------------------------
// Pointing programs at the fake

/**
 * Environment for a process that should use the fake as its `xe`: FAKE_XE_STATE, FAKE_XE_DENO
 * (this Deno, so the wrapper works without `deno` on PATH) and VGPU_XE (vgpu-admin's xe override).
 */
export function fakeXeEnv(statePath: string, callingHost?: string): Record<string, string> {
  return {
    FAKE_XE_STATE: statePath,
    FAKE_XE_DENO: Deno.execPath(),
    VGPU_XE: FAKE_XE_PATH,
    // pool fakes: the host this process runs on (xe always talks to its own host's xapi)
    ...(callingHost === undefined ? {} : { FAKE_XE_HOST: callingHost }),
  };
}

function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Write an executable POSIX sh script to `path` that exports `env` and then runs `command` (argv
 * array) with the script's own arguments appended (unless `passArgs: false`), then exits with
 * `exitCode` if given, else with the command's status. Meant for hook directories: xenopsd (and
 * the fake) run hooks with PATH only, so a hook that must reach the fake needs its environment
 * spelled out, e.g. wrapping the project's hook script:
 * `writeHookScript(dir + "/10-vgpu", ["/abs/hooks/vm-pre-start/vgpu"], {...fakeXeEnv(statePath), VGPU_DB: db})`.
 */
export async function writeHookScript(
  path: string,
  command: string[],
  env: Record<string, string> = {},
  opts: { exitCode?: number; passArgs?: boolean } = {},
): Promise<void> {
  const lines = ["#!/bin/sh"];
  for (const [k, v] of Object.entries(env)) lines.push(`${k}=${shQuote(v)}; export ${k}`);
  const cmd = [...command.map(shQuote), ...(opts.passArgs === false ? [] : ['"$@"'])].join(" ");
  if (opts.exitCode === undefined) {
    lines.push(`exec ${cmd}`);
  } else {
    lines.push(cmd, `exit ${opts.exitCode}`);
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  await Deno.chmod(path, 0o755);
}

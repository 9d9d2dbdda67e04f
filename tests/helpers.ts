// Shared test harness: run vgpu-admin in-process (main() with buffered IO) or as a subprocess
// with the product's own permission flags, against a temporary database and the fake xe host.
import { bufferIo } from "../src/cli/io.ts";
import { cliRunFlags } from "../scripts/cli-flags.ts";
import { main } from "../src/cli/dispatch.ts";
import { fakeOrRealRunner } from "./fake-xe/in-process.ts";
import type { Clock } from "../src/domain/clock.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import {
  DEFAULT_HOST_UUID,
  defaultState,
  type FakeState,
  type FakeVm,
  fakeXeEnv,
  findVm,
  HOOK_PATH,
  readStateSync,
  writeStateSync,
} from "./fake-xe/state.ts";

export const ROOT: string = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
export const MAIN_TS = `${ROOT}/main.ts`;

/** The permission flags of `deno task cli` (the compiled binary's), read from deno.json. */
export const CLI_PERMISSIONS: string[] = cliRunFlags(
  JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)),
);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A CLI subprocess's whole environment: PATH, HOME, DENO_DIR (when set), NO_COLOR, and `extra`. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    NO_COLOR: "1",
    ...extra,
  };
}

const madeDirs: string[] = [];
// Every test module removes the directories it made once its tests have run (Deno dispatches
// "unload" per module, also under --parallel): a suite run used to leave ~10,000 behind in /tmp.
globalThis.addEventListener("unload", () => {
  for (const dir of madeDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // a test may have left a mount or an unremovable entry: leave it, never fail the module
    }
  }
});

/** A fresh temporary directory, removed when the test module ends. */
export function tempDir(prefix = "vgpu-test-"): string {
  const dir = Deno.makeTempDirSync({ prefix });
  madeDirs.push(dir);
  return dir;
}

/** True when this process may mount a tmpfs (root, mount permitted): the full-disk tests. */
export function canMountTmpfs(): boolean {
  if (Deno.uid() !== 0) return false;
  try {
    const d = tempDir("vgpu-mount-probe-");
    const ok = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", d] })
      .outputSync().success;
    if (ok) new Deno.Command("umount", { args: [d] }).outputSync();
    return ok;
  } catch {
    return false;
  }
}

/** The argv that starts vgpu-admin: VGPU_ADMIN_BIN when set (a compiled binary), else deno run. */
export function cliCommand(): string[] {
  const bin = Deno.env.get("VGPU_ADMIN_BIN");
  if (bin) return [bin];
  return [Deno.execPath(), "run", "--quiet", "--no-prompt", ...CLI_PERMISSIONS, MAIN_TS];
}

/** Runs the CLI as a subprocess with a clean environment (PATH, HOME, plus `env`). */
export async function runCli(
  args: string[],
  o: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  const [cmd, ...pre] = cliCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    clearEnv: true,
    env: cliEnv(o.env),
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Runs main() in this process with buffered IO: the fast path for most command tests. */
export async function runInProcess(
  argv: string[],
  o: {
    env?: Record<string, string>;
    input?: string[];
    interactive?: boolean;
    answers?: string[];
    now?: () => Date;
    /** Runs while a terminal question is open (before its answer is given). */
    onAsk?: () => Promise<unknown>;
    /** The argv-keyed in-process xe (tests/fake-runner.ts) instead of the fake host's. */
    xe?: XeRunner;
    /**
     * The fake host's xe as a process per call (tests/fake-xe/xe), not in this process
     * (tests/fake-xe/in-process.ts, the default): for the kills, orphans and process trees.
     */
    subprocessXe?: boolean;
    /** A clock that never waits (tests/fake-runner.ts fakeClock). */
    clock?: Clock;
    /** SQLite's wait for another writer (default 5 s): short when a test holds the lock. */
    busyTimeoutMs?: number;
  } = {},
): Promise<CliResult & { questions: string[] }> {
  const io = bufferIo({ input: o.input, interactive: o.interactive });
  const env = { ...o.env };
  const answers = [...(o.answers ?? [])];
  const questions: string[] = [];
  const code = await main({
    argv,
    io,
    // xe (the fake) also needs PATH and HOME to run its own deno.
    env: {
      get: (n) => env[n],
      all: () => ({
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/tmp",
        ...env,
      }),
    },
    prompt: {
      async ask(q) {
        questions.push(q);
        await o.onAsk?.();
        return answers.shift() ?? "no";
      },
    },
    now: o.now,
    xeRunner: o.xe ?? (o.subprocessXe === true ? undefined : fakeOrRealRunner),
    clock: o.clock,
    busyTimeoutMs: o.busyTimeoutMs,
  });
  return { code, stdout: io.stdout(), stderr: io.stderr(), questions };
}

/** SHA-256 of a file's bytes (or "absent"): proves a failed command changed nothing. */
export async function fileHash(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "absent";
    throw e;
  }
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A simulated host: the fake xe's state file, an xapi inventory naming this host, a database. */
export interface FakeHostEnv {
  dir: string;
  statePath: string;
  dbPath: string;
  logPath: string;
  /** Environment for vgpu-admin (in-process or subprocess) to use this host and database. */
  env: Record<string, string>;
}

export function fakeHost(vms: FakeVm[] = [], patch: Partial<FakeState> = {}): FakeHostEnv {
  const dir = tempDir("vgpu-host-");
  const statePath = `${dir}/xe-state.json`;
  const state = { ...defaultState({ vms }), callLog: `${dir}/xe-calls.jsonl`, ...patch };
  writeStateSync(statePath, state);
  const inventory = `${dir}/xensource-inventory`;
  Deno.writeTextFileSync(inventory, `INSTALLATION_UUID='${DEFAULT_HOST_UUID}'\n`);
  const localDb = `${dir}/xapi-local.db`;
  writeXapiLocalDb(localDb, false);
  const dbPath = `${dir}/etc/vgpu/vgpu_config.db`;
  const logPath = `${dir}/vgpu-vm-startup.log`;
  return {
    dir,
    statePath,
    dbPath,
    logPath,
    env: {
      ...fakeXeEnv(statePath),
      VGPU_DB: dbPath,
      VGPU_INVENTORY: inventory,
      VGPU_XAPI_LOCAL_DB: localDb,
      // pool enable records the hooks of <root>/etc/xapi.d: never this machine's own
      VGPU_HOOK_ROOT: `${dir}/root`,
      VGPU_LOG: logPath,
    },
  };
}

/**
 * A host's xapi local database (/var/lib/xcp/local.db) as xapi writes it: an XML hash table.
 * `redoLog` true/false: the `redo_log.enabled` row that `xe pool-enable-redo-log` /
 * `pool-disable-redo-log` set on every host; null: no such row (never enabled).
 */
export function writeXapiLocalDb(path: string, redoLog: boolean | null): void {
  const rows = [
    `<row key="ha.armed" value="false"/>`,
    ...(redoLog === null ? [] : [`<row key="redo_log.enabled" value="${redoLog}"/>`]),
    `<row key="host.master_address" value="10.0.0.1"/>`,
  ];
  Deno.writeTextFileSync(
    path,
    `<?xml version="1.0" encoding="UTF-8"?><config>${rows.join("")}</config>`,
  );
}

/** Writes an executable sh wrapper that runs vgpu-admin with `env` (for hooks: PATH-only env). */
export function writeCliWrapper(path: string, env: Record<string, string>): void {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const lines = ["#!/bin/sh"];
  for (const [k, v] of Object.entries(env)) lines.push(`${k}=${q(v)}; export ${k}`);
  lines.push(`exec ${cliCommand().map(q).join(" ")} "$@"`);
  Deno.writeTextFileSync(path, lines.join("\n") + "\n", { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
}

export const UUID1 = "11111111-1111-4111-8111-111111111111";
export const UUID2 = "22222222-2222-4222-8222-222222222222";
export const UUID3 = "33333333-3333-4333-8333-333333333333";
export const UUID4 = "44444444-4444-4444-8444-444444444444";

/** Runs `sh <script> args…` exactly as xenopsd runs a vm-pre-start hook: PATH only, cwd /. */
export async function runAsXenopsd(script: string, args: string[]): Promise<CliResult> {
  const out = await new Deno.Command("/bin/sh", {
    args: [script, ...args],
    clearEnv: true,
    env: { PATH: HOOK_PATH },
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A VM's platform map as the simulated host holds it now (fails the test if the VM is gone). */
export function platformOf(h: FakeHostEnv, uuid: string): Record<string, string> {
  const vm = findVm(readStateSync(h.statePath), uuid);
  if (vm === undefined) throw new Error(`the simulated host has no VM ${uuid}`);
  return vm.platform;
}

/** Starts vgpu-admin as a subprocess (the product's permissions) that the test can signal. */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  o: { piped?: boolean; detached?: boolean } = {},
): Deno.ChildProcess {
  const [cmd, ...pre] = cliCommand();
  const out = o.piped ? "piped" : "null";
  return new Deno.Command(cmd, {
    args: [...pre, ...args],
    clearEnv: true,
    env: cliEnv(env),
    stdin: "null",
    stdout: out,
    stderr: out,
    // its own process group, as a shell job is: a group signal reaches it, not the test
    detached: o.detached === true,
  }).spawn();
}

/** Polls until `fn` returns a value (not undefined); fails after `limitMs` (a hang, not a timing). */
export async function until<T>(
  what: string,
  fn: () => T | undefined,
  limitMs = 30_000,
): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The live processes whose environment holds `name=value` (e.g. the fake xe calls, their hooks
 * and a vgpu-admin of one simulated host: FAKE_XE_STATE=<its state file>), read from /proc.
 * A process forked by a killed vgpu-admin that has not yet exec'd xe carries its parent's
 * environment, so it counts too.
 */
export function processesWithEnv(name: string, value: string): number[] {
  const want = `${name}=${value}`;
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    try {
      const env = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
      if (env.includes(want) && !processGone(pid)) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** True when `pid` has exited (gone, or a zombie nobody reaps: an orphan in a container). */
export function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

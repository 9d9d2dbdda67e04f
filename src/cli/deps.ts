// What a command's run(opts, deps) may use (style.md rule 3). Built once by dispatch.ts (or a
// test); the store and xe open lazily, so a command that needs neither pays for neither.
import { UsageError, VgpuError, XeError, XeTimeoutError } from "../domain/errors.ts";
import { resolveSettings, type Settings } from "../domain/settings.ts";
import { DEFAULT_DB_PATH, isMissing, openDatabase, openEmptyInMemory } from "../store/open.ts";
import { Store } from "../store/store.ts";
import { createXeRunner, type EarlyCall, type XeRunner } from "../xe/runner.ts";
import { endReadsOnSignal, settleSignals } from "./signal-exit.ts";
import { trackRead } from "../xe/live-reads.ts";
import { holdSignals } from "./signal-hold.ts";
import { type PowerEvent, Xe } from "../xe/client.ts";
import { DEFAULT_INVENTORY, readLocalHostUuid } from "../xe/inventory.ts";
import { DEFAULT_XAPI_LOCAL_DB, readRedoLog, type RedoLog } from "../xe/xapi-local.ts";
import type { Clock } from "../domain/clock.ts";
import type { Prompt } from "./confirm.ts";
import type { IO } from "./io.ts";
import type { CaughtSignal } from "./exit-code.ts";
import type { VmLocks } from "../locks/vm-lock.ts";

export interface Env {
  get(name: string): string | undefined;
  /** Every variable: what child processes (xe) get. */
  all(): Record<string, string>;
}

export interface Deps {
  io: IO;
  env: Env;
  /** The clock's now (kept for the many readers of the time). */
  now: () => Date;
  /** Time and waiting: every wait of a command or op goes through it (tests never wait). */
  clock: Clock;
  prompt: Prompt;
  /** The database path in use: --db, else VGPU_DB, else /etc/vgpu/vgpu_config.db. */
  dbPath: string;
  /** The path or name of xe: VGPU_XE, else `xe` on PATH. */
  xePath: string;
  /**
   * The database, opened once. A missing one is created only with `create` (commands that
   * write); otherwise "no database at PATH" (design.md §7).
   */
  store(o?: { create?: boolean; emptyIfMissing?: boolean }): Promise<Store>;
  settings(): Promise<Settings>;
  xe(): Promise<Xe>;
  /** An xe client for these settings, without opening the database (doctor, --root). */
  xeWith(s: Settings): Xe;
  /** An xe client whose every call ends by `deadline` (epoch ms): the start hook's 15 s bound. */
  xeUntil(deadline: number): Promise<Xe>;
  /** This host's uuid from the xapi inventory (VGPU_INVENTORY overrides its path), or null. */
  localHost(): string | null;
  /** The pool's redo log from xapi's local database (VGPU_XAPI_LOCAL_DB overrides its path). */
  redoLog(): RedoLog;
  /** Where this host's /etc/xapi.d is looked at for the hooks it has: VGPU_HOOK_ROOT, or / (null). */
  hookRoot(): string | null;
  /** The per-VM operation locks (files beside the database), taken by commands that change VMs. */
  locks(): VmLocks;
  /** The per-VM operation locks of another database (doctor --root). */
  locksFor(dbPath: string): Promise<VmLocks>;
  /**
   * The same seam (io, clock, xe runner, prompt) on another database (install-hook's --db and
   * --root): a command never builds Deps of its own. The caller closes what it returns.
   */
  at(dbPath: string): Deps;
  /** Signals caught during a change's apply phase (src/cli/interrupts.ts, loaded when used). */
  interrupts: {
    /** Runs `fn` with SIGINT, SIGTERM, SIGHUP and SIGQUIT caught. */
    guard<T>(fn: () => Promise<T>): Promise<T>;
    /** The first signal caught, or null. */
    received(): CaughtSignal | null;
  };
  /** The command being run (journal entries and lock holders name it). */
  command: string;
  /**
   * Lets a signal that came while the command waited for nothing end vgpu-admin now (the
   * process only; src/cli/signal-exit.ts): dispatch.ts calls it once the command ends.
   */
  settleSignals(): Promise<void>;
  /** Releases what was opened (dispatch.ts calls it once the command ends). */
  close(): void;
}

export interface DepsInput {
  io: IO;
  env: Env;
  prompt: Prompt;
  command: string;
  dbOption?: string;
  now?: () => Date;
  /** Tests may inject a clock that never waits; otherwise the system's. */
  clock?: Clock;
  /**
   * Tests may inject a runner (tests/fake-runner.ts), or one made from the settings' time bound
   * and the environment (tests/fake-xe/in-process.ts); otherwise xe is spawned at `xePath`.
   */
  xeRunner?: XeRunnerSource;
  /** A call main.ts spawned before the command loaded (src/xe/early.ts): xe's runner takes it over. */
  early?: EarlyCall;
  /** The process itself (main.ts), not an in-process caller: signals end xe's reads (signal-exit.ts). */
  process?: boolean;
  /** Tests only: SQLite's wait for another writer's lock (default BUSY_TIMEOUT_MS). */
  busyTimeoutMs?: number;
}

/** The system clock: the only place where vgpu-admin reads the time or waits on a timer. */
export function systemClock(now: () => Date = () => new Date()): Clock {
  return {
    now,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    every(ms, fn) {
      const timer = setInterval(fn, ms);
      Deno.unrefTimer(timer);
      return () => clearInterval(timer);
    },
    after(ms, fn) {
      const timer = setTimeout(fn, ms);
      return () => clearTimeout(timer);
    },
  };
}

/**
 * --db, else VGPU_DB, else the default. An empty value (`--db="$UNSET"`) is a usage error: it
 * must never silently mean the production database.
 */
export function resolveDbPath(dbOption: string | undefined, env: Env): string {
  if (dbOption !== undefined) {
    if (dbOption.trim() === "") {
      throw new UsageError(
        "--db is empty; give the database path, or leave --db out for /etc/vgpu/vgpu_config.db",
      );
    }
    return dbOption;
  }
  const v = env.get("VGPU_DB");
  if (v === undefined) return DEFAULT_DB_PATH;
  if (v.trim() === "") {
    throw new UsageError(
      "VGPU_DB is set but empty; give the database path, or unset VGPU_DB for /etc/vgpu/vgpu_config.db",
    );
  }
  return v;
}

/**
 * The actor recorded in history: the human behind sudo when there is one, else $USER, else the
 * name of the process's uid (xapi runs the hook with no environment).
 */
export function actorFrom(env: Env, uidName: () => string | null = processUserName): string {
  return env.get("SUDO_USER") || env.get("USER") || uidName() || "unknown";
}

/** The user name of `uid` in passwd-format text (`name:x:uid:gid:…`), or null. */
export function userNameOf(passwd: string, uid: number): string | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && f[2] === String(uid) && f[0] !== "") return f[0];
  }
  return null;
}

/** This process's user name from /etc/passwd; `uid N` when it has no entry (needs --allow-sys=uid). */
function processUserName(): string | null {
  try {
    const uid = Deno.uid();
    if (uid === null) return null;
    let passwd = "";
    try {
      passwd = Deno.readTextFileSync("/etc/passwd");
    } catch {
      // unreadable: the uid alone still says who
    }
    return userNameOf(passwd, uid) ?? `uid ${uid}`;
  } catch {
    return null;
  }
}

/** Tests only: a runner, or how to make one from the time bound and environment. */
export type XeRunnerSource =
  | XeRunner
  | ((cfg: { defaultTimeoutMs: number; env: Record<string, string> }) => XeRunner);

export function createDeps(input: DepsInput): Deps {
  const clock = input.clock ?? systemClock(input.now);
  const now = () => clock.now();
  const dbPath = resolveDbPath(input.dbOption, input.env);
  const xePath = input.env.get("VGPU_XE") || "xe";
  let store: Promise<Store> | null = null;
  let settings: Promise<Settings> | null = null;
  let xe: Promise<Xe> | null = null;
  let locks: VmLocks | null = null;
  let lockModule: typeof import("../locks/vm-lock.ts") | null = null;
  let caught: CaughtSignal | null = null;
  // pool mode: once the master proved out of reach, later xe calls fail at once (design.md §8)
  let masterDown: Error | null = null;
  const runnerFor = (s: Settings): XeRunner => {
    // a signal outside a change ends the reads under way first (the process only, never a test's)
    if (input.process === true) endReadsOnSignal();
    const base = typeof input.xeRunner === "function"
      ? input.xeRunner({ defaultTimeoutMs: s.xeTimeoutS * 1000, env: input.env.all() })
      : input.xeRunner ??
        createXeRunner({
          xePath,
          defaultTimeoutMs: s.xeTimeoutS * 1000,
          env: input.env.all(),
          early: input.early,
          // the process keeps its reads, for a signal to end them (signal-exit.ts)
          onSpawn: input.process === true ? trackRead : undefined,
        });
    const down = (args: readonly string[]) =>
      Promise.reject(new XeError(`xe ${args[0]}: ${masterDown!.message}`, args));
    const stream = base.stream?.bind(base);
    return {
      run: (args, o) => masterDown === null ? base.run(args, o) : down(args),
      stream: stream &&
        ((args, each, o) => masterDown === null ? stream(args, each, o) : down(args)),
    };
  };
  // Every stop and start goes into history; a history row that cannot be written (a locked
  // database) must not turn a VM that did start into a failed command.
  const recordPower = async (e: PowerEvent) => {
    try {
      (await deps.store()).recordPower(e.vmUuid, e.from, e.to, e.how);
    } catch (err) {
      if (!(err instanceof VgpuError)) throw err;
    }
  };
  const deps: Deps = {
    io: input.io,
    env: input.env,
    now,
    clock,
    prompt: input.prompt,
    dbPath,
    xePath,
    store(o) {
      if (store !== null) return store;
      const open = o?.emptyIfMissing === true && isMissing(dbPath)
        ? Promise.resolve().then(() => openEmptyInMemory(now))
        : openDatabase(dbPath, { now, create: o?.create === true });
      store = open.then(async (opened) => {
        if (opened.backupPath !== null) {
          input.io.err.write(
            `Migrated the database schema; a copy of the previous database is at ${opened.backupPath}\n`,
          );
        }
        const st = new Store(opened.db, dbPath, {
          actor: actorFrom(input.env),
          command: input.command,
        }, now);
        if (input.busyTimeoutMs !== undefined) st.setBusyTimeout(input.busyTimeoutMs);
        if (READS_EVERY_VM.has(input.command)) st.setCacheKiB(READ_CACHE_KIB);
        // the start hook runs inside our own vm-start: nothing of the journal is on its path
        const loadLocks = async () => {
          lockModule ??= await import("../locks/vm-lock.ts");
        };
        // loaded with the store for the commands that lock; the others load it only when the
        // warning below has an entry to check (start-up: issue 19)
        if (!NO_LOCKS.has(input.command)) await loadLocks();
        if (!NO_WARNING.has(input.command)) await warnInterrupted(st, deps, loadLocks);
        // pool mode only: standalone costs one settings lookup here
        if (
          POOL_READS.has(input.command) &&
          (await import("../store/pool-cache.ts")).readPoolState(st) !== null
        ) {
          const { refreshForRead } = await import("../ops/pool-read.ts");
          // deps.xe() would wait for this very store: build the client from its settings
          const s = resolveSettings(st.listSettings());
          const client = () =>
            Promise.resolve(new Xe(runnerFor(s), { platformKey: s.platformKey }));
          masterDown = await refreshForRead(st, client, now, (l) => input.io.err.write(`${l}\n`));
        }
        return st;
      });
      return store;
    },
    settings() {
      settings ??= deps.store().then((s) => resolveSettings(s.listSettings()));
      return settings;
    },
    xe() {
      xe ??= deps.settings().then((s) => deps.xeWith(s));
      return xe;
    },
    xeWith(s) {
      return new Xe(runnerFor(s), { platformKey: s.platformKey, onPower: recordPower });
    },
    async xeUntil(deadline) {
      const s = await deps.settings();
      const base = runnerFor(s);
      const bounded: XeRunner = {
        run(args, o) {
          const left = deadline - now().getTime();
          const timeoutMs = Math.min(o?.timeoutMs ?? s.xeTimeoutS * 1000, left);
          if (timeoutMs < 100) {
            return Promise.reject(
              new XeTimeoutError(`no time left for xe ${args[0]} within the bound`, args, 0),
            );
          }
          return base.run(args, { timeoutMs });
        },
      };
      return new Xe(bounded, { platformKey: s.platformKey });
    },
    locks() {
      // loaded with the store: every command that locks a VM has opened the database first
      if (lockModule === null) throw new Error("VM locks used before the database was opened");
      locks ??= lockModule.createVmLocks(dbPath, { command: input.command, pid: Deno.pid, now });
      return locks;
    },
    async locksFor(path) {
      const m = lockModule ?? await import("../locks/vm-lock.ts");
      return m.createVmLocks(path, { command: input.command, pid: Deno.pid, now });
    },
    at(path) {
      return createDeps({ ...input, clock, dbOption: path });
    },
    interrupts: {
      async guard(fn) {
        const { guardSignals } = await import("./interrupts.ts");
        // a change's apply phase holds the signals (signal-exit.ts leaves them to it)
        const release = holdSignals(["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]);
        try {
          return await guardSignals(input.io, (sig) => (caught ??= sig), fn);
        } finally {
          release();
        }
      },
      received: () => caught,
    },
    command: input.command,
    localHost() {
      return readLocalHostUuid(input.env.get("VGPU_INVENTORY") || DEFAULT_INVENTORY);
    },
    redoLog() {
      return readRedoLog(input.env.get("VGPU_XAPI_LOCAL_DB") || DEFAULT_XAPI_LOCAL_DB);
    },
    hookRoot() {
      return input.env.get("VGPU_HOOK_ROOT") || null;
    },
    settleSignals: () => input.process === true ? settleSignals() : Promise.resolve(),
    close() {
      locks?.releaseAll();
      store?.then((s) => s.close()).catch(() => {});
    },
  };
  return deps;
}

// Read commands whose output is the registry: in pool mode it is refreshed first (design.md §8).
const POOL_READS = new Set([
  "list-pools",
  "show-pool",
  "list-vms",
  "show-vm",
  "status",
  "scan-vms",
  "export",
  "doctor",
  "completions",
  "sync",
]);

// Read commands that go through every VM row once: SQLite's default 2 MB page cache would keep
// those pages for the rest of the run (issue 19: peak RSS at 10,000 VMs); they are read once.
const READS_EVERY_VM = new Set(["scan-vms", "status", "list-vms", "show-vm", "doctor", "export"]);
const READ_CACHE_KIB = 256;

// Commands that never take a VM lock (nor read the journal through cli/interrupted.ts): the lock
// module is not loaded with their store. The start hook runs inside our own vm-start.
const NO_LOCKS = new Set([
  "startup-hook",
  "list-vms",
  "list-pools",
  "show-pool",
  "history",
  "export",
  "completions",
  "settings",
]);

// The start hook runs inside our own vm-start and must stay fast; recover shows entries itself.
// status, scan-vms and show-vm say it themselves, once (cli/interrupted.ts).
const NO_WARNING = new Set(["startup-hook", "recover", "status", "scan-vms", "show-vm"]);

/** One warning line per operation left open by a process that is gone (design.md §5 step 10). */
async function warnInterrupted(
  store: Store,
  deps: Deps,
  loadLocks: () => Promise<void>,
): Promise<void> {
  let entries;
  try {
    entries = store.openJournalEntries();
    if (entries.length === 0) return;
    await loadLocks();
    const locks = deps.locks();
    entries = entries.filter((e) => locks.isFree(e.vmUuid));
  } catch {
    return; // a damaged journal is doctor's to report; it must not stop every command
  }
  const { interruptedLine } = await import("../ops/vm-claim.ts");
  for (const e of entries) deps.io.err.write(`warning: ${interruptedLine(e)}\n`);
}

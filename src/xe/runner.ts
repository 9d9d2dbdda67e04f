// The one runner of `xe` (style.md rule 7): argv array, no shell, every call bounded. Its
// process is made by spawn.ts, which main.ts's early reads (early.ts) reach before this loads.

import { VgpuError, XeError, XeMissingError, XeTimeoutError } from "../domain/errors.ts";
import { classifyXeFailure } from "./parse.ts";
import { killTree, spawnProcess } from "./spawn.ts";

export interface XeRunOptions {
  /** Time bound for this call; the runner's default when absent. */
  timeoutMs?: number;
}

export interface XeRunner {
  /** Runs `xe <args>`; resolves stdout (UTF-8); throws XeError subclasses, or VgpuError for an argument xe would split. */
  run(args: readonly string[], o?: XeRunOptions): Promise<string>;
  /**
   * Like run, but stdout is handed to `each` piece by piece as xe prints it (UTF-8 text, cut
   * anywhere, never inside a character; the pieces joined are run's answer), so a long answer is
   * never held whole (vm-list at 10,000 VMs, issue 19). Resolves once xe ended with 0. When xe
   * fails or times out, that error is thrown as run throws it, whatever `each` was given. When
   * `each` throws, it is given nothing more; xe is still read to its end (its exit code comes
   * first, as with run) and then that exception is thrown. Optional: callers fall back to run.
   */
  stream?(args: readonly string[], each: (text: string) => void, o?: XeRunOptions): Promise<void>;
}

export interface XeRunnerConfig {
  /** "xe" (looked up on PATH) or an absolute path (VGPU_XE). */
  xePath: string;
  defaultTimeoutMs: number;
  /** Added to (not replacing) the inherited environment. */
  env?: Record<string, string>;
  /**
   * The start hooks' plain spawn (issue 19): xe stays in our session and process group (no
   * terminal to shield it from; the hook script's `timeout` then reaches it too).
   */
  plain?: boolean;
  /**
   * Told of every xe it spawns: the process (not the start hook, not a test) keeps its reads so
   * that a signal ends them (src/xe/live-reads.ts, src/cli/signal-exit.ts).
   */
  onSpawn?: (child: Deno.ChildProcess, args: readonly string[]) => void;
  /**
   * A call spawned before this runner existed (src/xe/early.ts): the first run or stream of the
   * same argv takes it over instead of spawning, its time bound counted from its spawn.
   */
  early?: EarlyCall;
}

/** What an early call hands over: its process and when it was spawned (performance.now()). */
export interface EarlyCall {
  /**
   * The call's process when `args` (and xe's path) are its own and nobody took it yet, else
   * null; throws its spawn failure as the spawn threw it (the runner names it).
   */
  take(
    xePath: string,
    args: readonly string[],
  ): { child: Deno.ChildProcess; startedAt: number } | null;
}

/**
 * Creates the XeRunner that spawns `xePath` through spawn.ts (never a shell), stdin null,
 * stdout/stderr piped. Each call is killed (SIGKILL, with its descendants) at its time bound.
 */
export function createXeRunner(o: XeRunnerConfig): XeRunner {
  checkTimeout(o.defaultTimeoutMs);
  return {
    run: (args, ro) => runXe(o, args, ro?.timeoutMs ?? o.defaultTimeoutMs),
    stream: (args, each, ro) => streamXe(o, args, each, ro?.timeoutMs ?? o.defaultTimeoutMs),
  };
}

// Not an XeError: xe never ran, so callers must not report it as an xe/host problem.
function refuseUnsafeArgs(args: readonly string[]): void {
  for (const arg of args) {
    // xe splits a value with a newline into two arguments (xe-reference.md, Arguments).
    // includes(), not a regex: the first regex of a process costs a compile on the hook's path
    if (arg.includes("\n") || arg.includes("\r") || arg.includes("\0")) {
      const name = arg.split("=", 1)[0].replace(/[\n\r\0]/g, "?");
      const what = arg.includes("\0")
        ? "a NUL character (no process can receive it)"
        : "a line break (xe would split it in two)";
      throw new VgpuError(
        `refusing to call xe ${args[0] ?? ""}: argument ${name} contains ${what}`,
      );
    }
  }
}

function checkTimeout(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`bad xe timeout: ${ms} ms`);
}

function spawnXe(
  cfg: Pick<XeRunnerConfig, "xePath" | "env" | "plain">,
  args: readonly string[],
): Deno.ChildProcess {
  try {
    return spawnProcess(cfg.xePath, args, cfg.env, cfg.plain !== true);
  } catch (e) {
    throw spawnFailure(cfg.xePath, args, e);
  }
}

/**
 * The early call of these args (src/xe/early.ts) or a new spawn, with the time left of the
 * bound: an early call's bound counts from its spawn, as if it had been spawned here; when the
 * database alone took longer than that, an answer xe has already printed is still read.
 */
function takeOrSpawn(
  cfg: XeRunnerConfig,
  args: readonly string[],
  timeoutMs: number,
): { child: Deno.ChildProcess; bound: number } {
  let early: { child: Deno.ChildProcess; startedAt: number } | null;
  try {
    early = cfg.early?.take(cfg.xePath, args) ?? null;
  } catch (e) {
    throw spawnFailure(cfg.xePath, args, e);
  }
  if (early === null) {
    const child = spawnXe(cfg, args);
    cfg.onSpawn?.(child, args);
    return { child, bound: timeoutMs };
  }
  const left = timeoutMs - (performance.now() - early.startedAt);
  return { child: early.child, bound: Math.max(left, EARLY_HANDOVER_MS) };
}

async function runXe(
  cfg: XeRunnerConfig,
  args: readonly string[],
  timeoutMs: number,
): Promise<string> {
  checkTimeout(timeoutMs);
  refuseUnsafeArgs(args);
  const { child, bound } = takeOrSpawn(cfg, args, timeoutMs);
  // Deno reads each pipe to its end natively (one op each): far cheaper in a fresh process than
  // stream readers, which is what the start hook is
  const output = child.output();
  output.catch(() => {}); // observed below, or abandoned on timeout: never an unhandled rejection
  const result = await within(output, bound);
  if (result === null) throw await timedOut(child, output, args, timeoutMs);
  if (result.code !== 0) {
    // xe exits 1 for every error, whatever its kind; stderr says which (xe-reference.md)
    throw classifyXeFailure(args, result.code, decode(result.stderr));
  }
  return decode(result.stdout);
}

async function streamXe(
  cfg: XeRunnerConfig,
  args: readonly string[],
  each: (text: string) => void,
  timeoutMs: number,
): Promise<void> {
  checkTimeout(timeoutMs);
  refuseUnsafeArgs(args);
  const { child, bound } = takeOrSpawn(cfg, args, timeoutMs);
  let thrown: { error: unknown } | null = null;
  const give = (text: string) => {
    if (thrown !== null || text === "") return;
    try {
      each(text);
    } catch (e) {
      thrown = { error: e };
    }
  };
  const stdout = child.stdout.getReader();
  const errReader = child.stderr.getReader();
  const ended = (async () => {
    // stderr is read meanwhile: an xe that fills that pipe must not block on it
    const stderr = readAll(errReader);
    stderr.catch(() => {});
    const decoder = new TextDecoder("utf-8");
    for (;;) {
      const { done, value } = await stdout.read();
      if (done) break;
      // pieces of at most PIECE_BYTES: a two-byte string of a whole pipe read (64 KiB) is a large
      // object, freed only by a full collection (vm-list at 10,000 VMs: ~7 MB held, issue 19)
      for (let at = 0; at < value.length; at += PIECE_BYTES) {
        give(decoder.decode(value.subarray(at, at + PIECE_BYTES), { stream: true }));
      }
    }
    give(decoder.decode());
    const [status, err] = await Promise.all([child.status, stderr]);
    return { code: status.code, stderr: err };
  })();
  ended.catch(() => {}); // observed below, or abandoned on timeout: never an unhandled rejection
  const result = await within(ended, bound);
  if (result === null) {
    throw await timedOut(child, ended, args, timeoutMs, () => {
      stdout.cancel().catch(() => {});
      errReader.cancel().catch(() => {});
    });
  }
  if (result.code !== 0) throw classifyXeFailure(args, result.code, decode(result.stderr));
  if (thrown !== null) throw (thrown as { error: unknown }).error;
}

/** Every byte of a pipe, joined. */
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    length += value.length;
  }
  if (parts.length === 1) return parts[0];
  const all = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/**
 * The error of a call that passed its time bound, once its process tree is killed and its pipes
 * closed (or given up on: `abandon` releases what still reads them).
 */
async function timedOut(
  child: Deno.ChildProcess,
  reading: Promise<unknown>,
  args: readonly string[],
  timeoutMs: number,
  abandon: () => void = () => {},
): Promise<XeTimeoutError> {
  // a clean shutdown can hang when the guest ignores it: bound every wait (xe-reference.md)
  killTree(child);
  await child.status;
  // a descendant that escaped the kill may still hold the pipes open: give EOF a moment, then
  // stop waiting for it (unref: the pending reads no longer keep this process alive)
  const closed = reading.then(() => true, () => true);
  if ((await within(closed, PIPE_GRACE_MS)) === null) {
    abandon();
    child.unref();
  }
  return new XeTimeoutError(
    `xe ${args[0] ?? ""} did not answer within ${seconds(timeoutMs)} s`,
    args,
    timeoutMs,
  );
}

/** What an early call whose bound has passed before it was taken over still gets (its answer read). */
const EARLY_HANDOVER_MS = 100;

/** Bytes of stdout decoded into one piece for stream(): at most 32 KiB of string, two bytes a character. */
const PIECE_BYTES = 16384;

/** How long a timed-out call waits for its pipes to close once the child tree is killed. */
const PIPE_GRACE_MS = 200;

/** setTimeout's limit (2^31 - 1 ms, ~24.8 days); a longer delay would fire at once. */
const MAX_DELAY_MS = 2_147_483_647;

/**
 * `p`, or null when `ms` pass first. The timer is AbortSignal.timeout, not setTimeout: in Deno 2.9
 * the first setTimeout of a process sets up the Node-compatible timers (~4 ms), this one is a
 * plain internal timer. The listener keeps the timer (and the process) alive while we wait;
 * removing it lets the timer lapse unnoticed, so a finished call never holds the process up.
 */
async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  const signal = AbortSignal.timeout(Math.min(Math.max(Math.ceil(ms), 1), MAX_DELAY_MS));
  let onAbort = () => {};
  const expired = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

function spawnFailure(xePath: string, args: readonly string[], e: unknown): Error {
  // a missing --allow-run is our bug, not a host problem: let it surface as such
  if (e instanceof Deno.errors.NotCapable) return e;
  const where = xePath.includes("/") ? `at ${xePath}` : `on PATH (as ${xePath})`;
  const hint = "vgpu-admin must run on the XCP-ng dom0; set VGPU_XE to the path of xe";
  if (e instanceof Deno.errors.NotFound) {
    return new XeMissingError(`xe not found ${where}: ${hint}`, args);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new XeMissingError(`xe is not executable ${where}: ${hint}`, args);
  }
  const why = e instanceof Error ? e.message : String(e);
  return new XeError(`could not run xe ${where}: ${why}`, args);
}

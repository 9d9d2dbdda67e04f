// The one place that spawns `xe` (style.md rule 7): argv array, no shell, every call bounded.

import { VgpuError, XeError, XeMissingError, XeTimeoutError } from "../domain/errors.ts";
import { classifyXeFailure } from "./parse.ts";

export interface XeRunOptions {
  /** Time bound for this call; the runner's default when absent. */
  timeoutMs?: number;
}

export interface XeRunner {
  /** Runs `xe <args>`; resolves stdout (UTF-8); throws XeError subclasses, or VgpuError for an argument xe would split. */
  run(args: readonly string[], o?: XeRunOptions): Promise<string>;
}

export interface XeRunnerConfig {
  /** "xe" (looked up on PATH) or an absolute path (VGPU_XE). */
  xePath: string;
  defaultTimeoutMs: number;
  /** Added to (not replacing) the inherited environment. */
  env?: Record<string, string>;
}

/**
 * Creates the XeRunner that spawns `xePath` with Deno.Command (never a shell), stdin null,
 * stdout/stderr piped. Each call is killed (SIGKILL, with its descendants) at its time bound.
 */
export function createXeRunner(o: XeRunnerConfig): XeRunner {
  checkTimeout(o.defaultTimeoutMs);
  return {
    run: (args, ro) => runXe(o, args, ro?.timeoutMs ?? o.defaultTimeoutMs),
  };
}

// Not an XeError: xe never ran, so callers must not report it as an xe/host problem.
function refuseUnsafeArgs(args: readonly string[]): void {
  for (const arg of args) {
    // xe splits a value with a newline into two arguments (xe-reference.md, Arguments)
    if (/[\n\r\0]/.test(arg)) {
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

async function runXe(
  cfg: XeRunnerConfig,
  args: readonly string[],
  timeoutMs: number,
): Promise<string> {
  checkTimeout(timeoutMs);
  refuseUnsafeArgs(args);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cfg.xePath, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: cfg.env,
    }).spawn();
  } catch (e) {
    throw spawnFailure(cfg.xePath, args, e);
  }
  const stdout = drain(child.stdout);
  const stderr = drain(child.stderr);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const done = Promise.all([child.status, stdout.bytes, stderr.bytes]);
  done.catch(() => {}); // observed below, or abandoned on timeout: never an unhandled rejection
  const first = await Promise.race([done, deadline]);
  clearTimeout(timer);
  if (first === "timeout") {
    // a clean shutdown can hang when the guest ignores it: bound every wait (xe-reference.md)
    killTree(child);
    // a grandchild may still hold the pipes open: stop reading rather than wait for EOF
    await Promise.all([stdout.cancel(), stderr.cancel()]);
    await child.status;
    throw new XeTimeoutError(
      `xe ${args[0] ?? ""} did not answer within ${seconds(timeoutMs)} s`,
      args,
      timeoutMs,
    );
  }
  const [status, out, err] = first;
  if (status.code !== 0) {
    // xe exits 1 for every error, whatever its kind; stderr says which (xe-reference.md)
    throw classifyXeFailure(args, status.code, decode(err));
  }
  return decode(out);
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

/** Reads a stream to its end; `cancel` stops early (the pending read then ends). */
function drain(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const bytes = (async () => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return all;
  })();
  const cancel = async () => {
    await reader.cancel().catch(() => {});
    await bytes.catch(() => {});
  };
  return { bytes, cancel };
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

/** SIGKILLs the child and, best effort, every process descended from it (read from /proc). */
function killTree(child: Deno.ChildProcess): void {
  const descendants = descendantsOf(child.pid);
  try {
    child.kill("SIGKILL");
  } catch {
    // already exited
  }
  for (const pid of descendants) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone already, or not ours
    }
  }
}

/** Pids descended from `root`, from each /proc/<pid>/stat's ppid; [] where /proc is unreadable. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const ppid = parentOf(entry.name);
      if (ppid === null) continue;
      const list = children.get(ppid) ?? [];
      list.push(Number(entry.name));
      children.set(ppid, list);
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function parentOf(pid: string): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ")"
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

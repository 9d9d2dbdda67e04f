// How an xe process is started and ended: the one Deno.Command of xe (runner.ts runs it, and
// early.ts starts the reads main.ts makes before anything else loads). No imports: early.ts
// reaches it before any other module of ours (issue 19).

/**
 * The variable that marks every process of one xe call: set in xe's environment, inherited by
 * whatever xe starts, even a child that left its group and parent (a double fork): killTree finds
 * them all by it. Unique to this process and call (the pid alone could be reused).
 */
const MARK = "VGPU_ADMIN_XE_CALL";
const marks = new WeakMap<Deno.ChildProcess, string>();
let run: string | null = null;
let calls = 0;

/**
 * Spawns `xePath args` (never a shell): stdin null, stdout and stderr piped, `env` added to the
 * inherited environment, and the call's mark (MARK). `detached`: its own session and process
 * group, so that the terminal's Ctrl-C or a dropped SSH session's SIGHUP reaches vgpu-admin,
 * which decides, and never kills an xe call mid-way (xapi's task would go on anyway, only its
 * answer would be lost: xe-reference.md). A plain spawn (the reads, the start hooks) stays in our
 * group: a fork of this whole process for a session of its own costs ~3× the wall time of a
 * spawn (~4 ms of scan-vms at 10 VMs). Either way killTree ends the call's every process. Throws
 * what Deno.Command throws (runner.ts names it).
 */
export function spawnProcess(
  xePath: string,
  args: readonly string[],
  env: Record<string, string> | undefined,
  detached: boolean,
): Deno.ChildProcess {
  run ??= `${Deno.pid}.${Math.random().toString(36).slice(2, 10)}`;
  const mark = `${run}.${++calls}`;
  const child = new Deno.Command(xePath, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { ...env, [MARK]: mark },
    detached,
  }).spawn();
  marks.set(child, mark);
  return child;
}

/**
 * SIGKILLs the child, its process group (when it leads one: `detached`), every process descended
 * from it, and every process that carries its call's mark (a double-forked child, whose parent
 * is gone and whose group may be ours), as far as /proc is readable.
 */
export function killTree(child: Deno.ChildProcess): void {
  const rest = processesOf(child.pid, marks.get(child) ?? null);
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // no such group (a plain spawn), or gone already
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // already exited
  }
  for (const pid of rest) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone already, or not ours
    }
  }
}

/**
 * Pids descended from `root` (each /proc/<pid>/stat's ppid), and those whose environment holds
 * `MARK=mark`; [] where /proc is unreadable. Only processes started no earlier than this one have
 * their environment read: a mark can be nowhere else, and reading another process's environment
 * waits for its memory map, which a long-running process stuck in the kernel may hold. Exported
 * for tests (xe_client_test); killTree is its one caller.
 */
export function processesOf(root: number, mark: string | null): number[] {
  const children = new Map<number, number[]>();
  const marked: number[] = [];
  const entry = mark === null ? null : `\0${MARK}=${mark}\0`;
  const since = statOf(String(Deno.pid))?.start ?? Infinity;
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const pid = Number(e.name);
      const stat = statOf(e.name);
      if (pid === Deno.pid || stat === null) continue;
      if (entry !== null && stat.start >= since && environOf(e.name).includes(entry)) {
        marked.push(pid);
      }
      const list = children.get(stat.ppid) ?? [];
      list.push(pid);
      children.set(stat.ppid, list);
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
  return [...new Set([...out, ...marked])];
}

/** `/proc/<pid>/environ` with a NUL before it ("" when unreadable): entries read `\0NAME=value\0`. */
function environOf(pid: string): string {
  try {
    return `\0${new TextDecoder().decode(Deno.readFileSync(`/proc/${pid}/environ`))}`;
  } catch {
    return "";
  }
}

/** A process's parent and start time (clock ticks since boot) from /proc/<pid>/stat; null if gone. */
function statOf(pid: string): { ppid: number; start: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid … starttime …": comm may hold spaces and parentheses, so the fields
    // are counted from the last ")": state is the 3rd field, ppid the 4th, starttime the 22nd
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(f[1]);
    const start = Number(f[19]);
    return Number.isInteger(ppid) && Number.isFinite(start) ? { ppid, start } : null;
  } catch {
    return null;
  }
}

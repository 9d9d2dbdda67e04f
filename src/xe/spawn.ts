// How an xe process is started and ended: the one Deno.Command of xe (runner.ts runs it, and
// early.ts starts the reads main.ts makes before anything else loads). No imports: early.ts
// reaches it before any other module of ours (issue 19).

/**
 * Spawns `xePath args` (never a shell): stdin null, stdout and stderr piped, `env` added to the
 * inherited environment. `detached`: its own session and process group, so that the terminal's
 * Ctrl-C or a dropped SSH session's SIGHUP reaches vgpu-admin, which decides, and never kills
 * an xe call mid-way (xapi's task would go on anyway, only its answer would be lost:
 * xe-reference.md); our own time bound still kills the whole group. A plain spawn (the reads,
 * the start hooks) stays in our group: a fork of this whole process for a session of its own
 * costs ~3× the wall time of a spawn. Throws what Deno.Command throws (runner.ts names it).
 */
export function spawnProcess(
  xePath: string,
  args: readonly string[],
  env: Record<string, string> | undefined,
  detached: boolean,
): Deno.ChildProcess {
  return new Deno.Command(xePath, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
    detached,
  }).spawn();
}

/**
 * SIGKILLs the child's process group (it leads one: `detached`) and, best effort, every process
 * descended from it that left the group (read from /proc where it is readable).
 */
export function killTree(child: Deno.ChildProcess): void {
  const descendants = descendantsOf(child.pid);
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // the group is gone already
  }
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

/**
 * What the empty-root tests (tests/portable_test.ts, tests/rpm_test.ts) share: running a host
 * command, and mounting /proc inside a chroot (Deno needs /proc/self/exe).
 */

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a host command; a missing command is exit 127, as a shell would say. */
export async function exec(
  cmd: string,
  args: string[],
  o: Deno.CommandOptions = {},
): Promise<Result> {
  try {
    const r = await new Deno.Command(cmd, { args, stdin: "null", ...o }).output();
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: `${cmd}: ${e}` };
    throw e;
  }
}

/** Mounts proc at `at` (or binds the host's /proc); null when done, else why not. */
export async function mountProc(at: string): Promise<string | null> {
  const fresh = await exec("mount", ["-t", "proc", "proc", at]);
  if (fresh.code === 0) return null;
  const bind = await exec("mount", ["--bind", "/proc", at]);
  return bind.code === 0 ? null : `mount -t proc: ${fresh.stderr.trim()}; ${bind.stderr.trim()}`;
}

/** Unmounts `at`, lazily when it is busy; false when neither worked. */
export async function unmount(at: string): Promise<boolean> {
  if ((await exec("umount", [at])).code === 0) return true;
  return (await exec("umount", ["-l", at])).code === 0;
}

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

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
/** What a build in dist/ is made from. */
const SOURCES = ["main.ts", "hook.ts", "deno.json", "src", "sql", "hooks", "packaging", "scripts"];

function newestMtime(path: string): number {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory) return st.mtime?.getTime() ?? 0;
  let newest = 0;
  for (const e of Deno.readDirSync(path)) {
    if (path.endsWith("/scripts") && e.name === "bench") continue;
    newest = Math.max(newest, newestMtime(`${path}/${e.name}`));
  }
  return newest;
}

/**
 * Why the build at `artifact` (under dist/) cannot stand for this source tree: older than a source
 * file it is made from (a rebase or an edit since the build), so a failure would be the build's,
 * not the code's. null: it is newer than every source file.
 */
export function staleArtifact(artifact: string, rebuild: string): string | null {
  let built: number;
  try {
    built = Deno.statSync(artifact).mtime?.getTime() ?? 0;
  } catch {
    return null;
  }
  const newest = Math.max(...SOURCES.map((s) => newestMtime(`${ROOT}/${s}`)));
  return built < newest
    ? `${artifact} is older than the source it is built from: run '${rebuild}'`
    : null;
}

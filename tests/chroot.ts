/**
 * What the empty-root tests (tests/portable_test.ts, tests/single_test.ts, tests/rpm_test.ts)
 * share: running a host command, mounting /proc inside a chroot (Deno needs /proc/self/exe),
 * deciding whether such a test can run here, and making the root.
 */

/** A static busybox: the only /bin/sh of an empty root. */
export const BUSYBOX = "/bin/busybox";
/** All the PATH xenopsd gives a vm-pre-start hook. */
export const HOOK_PATH = "/sbin:/usr/sbin:/bin:/usr/bin";
const IN_CI = Deno.env.get("CI") === "true";

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

/** This repository's root, and the version its deno.json names (the builds' file names). */
export const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
export const VERSION: string = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version;
/** What a build in dist/ is made from. */
const SOURCES = [
  "main.ts",
  "cli.ts",
  "hook.ts",
  "deno.json",
  "src",
  "sql",
  "hooks",
  "packaging",
  "scripts",
];

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

/** True when the file is an ELF executable without a PT_INTERP header (statically linked). */
export function isStaticElf(path: string): boolean {
  let b: Uint8Array;
  try {
    b = Deno.readFileSync(path);
  } catch {
    return false;
  }
  if (b.length < 64 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) {
    return false;
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    if (v.getUint32(phoff + i * phentsize, true) === 3) return false; // PT_INTERP
  }
  return true;
}

/**
 * Whether an empty-root test of `artifact` (a build in dist/) can run here. `skip`: why not (the
 * test is ignored and says so). In CI (CI=true) what .ci/run provides (busybox-static, a fresh
 * build) must be there: its absence is `missingInCi`, a failure of the test, not a skip.
 */
export async function emptyRootCheck(
  artifact: string,
  build: string,
  o: { tmpfs?: boolean } = {},
): Promise<{ skip: string | null; missingInCi: string | null }> {
  const ci = (why: string, fix: string) =>
    IN_CI ? { skip: null, missingInCi: `${why} (${fix})` } : { skip: why, missingInCi: null };
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return { skip: "not linux x86_64", missingInCi: null };
  }
  if (Deno.uid() !== 0) return { skip: "not root (chroot and mount need root)", missingInCi: null };
  if (!isStaticElf(BUSYBOX)) {
    return ci(
      `${BUSYBOX} is not a static busybox: apt-get install busybox-static`,
      ".ci/run installs it",
    );
  }
  try {
    Deno.statSync(artifact);
  } catch {
    return ci(`${artifact} is not built: run '${build}'`, ".ci/run builds it before the tests");
  }
  const stale = staleArtifact(artifact, build);
  if (stale !== null) {
    return IN_CI ? { skip: null, missingInCi: stale } : { skip: stale, missingInCi: null };
  }
  return { skip: await chrootProbe(o.tmpfs === true), missingInCi: null };
}

/** Why chroot, a /proc mount in it (or a tmpfs) cannot be used here, tried for real; null: they can. */
async function chrootProbe(tmpfs: boolean): Promise<string | null> {
  const probe = Deno.makeTempDirSync({ prefix: "vgpu-chroot-probe-" });
  try {
    for (const d of ["bin", "proc", "mnt"]) Deno.mkdirSync(`${probe}/${d}`);
    Deno.copyFileSync(BUSYBOX, `${probe}/bin/sh`);
    const r = await exec("chroot", [probe, "/bin/sh", "-c", "true"], {
      clearEnv: true,
      env: { PATH: HOOK_PATH },
    });
    if (r.code !== 0) return `chroot not permitted: ${r.stderr.trim() || `exit ${r.code}`}`;
    const m = await mountProc(`${probe}/proc`);
    if (m !== null) return `cannot mount /proc in a chroot (Deno needs /proc/self/exe): ${m}`;
    if (!(await unmount(`${probe}/proc`))) return `cannot unmount ${probe}/proc`;
    if (tmpfs) {
      const t = await exec("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", `${probe}/mnt`]);
      if (t.code !== 0) return `cannot mount a tmpfs (the full-disk case needs one): ${t.stderr}`;
      if (!(await unmount(`${probe}/mnt`))) return `cannot unmount ${probe}/mnt`;
    }
    Deno.removeSync(probe, { recursive: true });
    return null;
  } catch (e) {
    return `chroot probe failed: ${e instanceof Error ? e.message : e}`;
  }
}

/**
 * A new empty root (a temporary directory named `prefix`…) holding only `dirs`, a world-writable
 * sticky /tmp and the static busybox as /bin/sh; returns its path.
 */
export function emptyRoot(prefix: string, dirs: string[]): string {
  const root = Deno.makeTempDirSync({ prefix });
  for (const d of ["bin", "tmp", ...dirs]) Deno.mkdirSync(`${root}/${d}`, { recursive: true });
  Deno.chmodSync(`${root}/tmp`, 0o1777);
  Deno.copyFileSync(BUSYBOX, `${root}/bin/sh`);
  Deno.chmodSync(`${root}/bin/sh`, 0o755);
  return root;
}

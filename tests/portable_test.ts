/**
 * The portable build (issue 6), end to end: dist/vgpu-admin-<version>-linux-x64.tar.gz unpacked
 * into an otherwise empty root (no /lib, no /usr/lib, no libc: only opt/vgpu-admin, a static
 * busybox as /bin/sh for the launcher, /tmp, /var/log for the hook's log, and /proc, which Deno
 * needs for /proc/self/exe) and run there with chroot, through the /usr/local/bin symlink.
 *
 * Ignored, with a line saying why, when this cannot run here: not root, no chroot or /proc mount
 * allowed, no busybox-static, or the archive not built (`deno task build:portable`). With CI=true
 * a missing archive or busybox-static is a failure instead: .ci/run installs and builds them.
 */
import assert from "node:assert/strict";
import {
  emptyRoot,
  emptyRootCheck,
  exec,
  HOOK_PATH,
  mountProc,
  type Result,
  ROOT,
  unmount,
  VERSION,
} from "./chroot.ts";

const ARCHIVE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64.tar.gz`;
const UUID1 = "7d1e2f00-aaaa-bbbb-cccc-ddddeeee0001";
const UUID_UNREGISTERED = "7d1e2f00-aaaa-bbbb-cccc-ddddeeee0002";
const DB = "/tmp/vgpu_config.db";

const { skip, missingInCi } = await emptyRootCheck(ARCHIVE, "deno task build:portable");
if (skip !== null) {
  // deno-lint-ignore no-console
  console.log(`portable_test: IGNORED: ${skip}`);
}

/** Every path under dir (relative), with size and mtime for files: to see nothing changed. */
function snapshot(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(`${dir}${rel}`)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    const p = `${rel}/${e.name}`;
    const st = Deno.lstatSync(`${dir}${p}`);
    out.push(`${p} ${st.isFile ? `${st.size} ${st.mtime?.getTime()}` : e.isSymlink ? "->" : "/"}`);
    if (e.isDirectory) out.push(...snapshot(dir, p));
  }
  return out;
}

Deno.test({
  name: "portable build: runs in an empty chroot with its own libc, launcher and bundle",
  ignore: skip !== null,
  async fn() {
    if (missingInCi !== null) assert.fail(missingInCi);
    // The root: nothing from the host but a static /bin/sh and the kernel's /proc.
    const root = emptyRoot("vgpu-portable-root-", ["proc", "var/log", "usr/local/bin"]);
    let procMounted = false;
    try {
      const list = await exec("tar", ["-tzf", ARCHIVE]);
      assert.equal(list.code, 0, list.stderr);
      const outside = list.stdout.trim().split("\n").filter((p) => !/^(\.\/)?opt\//.test(p));
      assert.deepEqual(outside, [], "the archive holds nothing but opt/");
      const untar = await exec("tar", ["-xzf", ARCHIVE, "-C", root]);
      assert.equal(untar.code, 0, untar.stderr);
      const opt = `${root}/opt/vgpu-admin`;
      for (
        const f of [
          "bin/deno",
          "bin/vgpu-admin",
          "lib/app/main.js",
          "lib/ld-linux-x86-64.so.2",
          "lib/libc.so.6",
          "licenses/deno/LICENSE",
          "licenses/LGPL-source-offer.txt",
        ]
      ) {
        assert.ok(Deno.statSync(`${opt}/${f}`).isFile, `${f} in the archive`);
      }

      Deno.symlinkSync("/opt/vgpu-admin/bin/vgpu-admin", `${root}/usr/local/bin/vgpu-admin`);
      for (const absent of ["lib", "lib64", "usr/lib", "etc", "dev"]) {
        assert.throws(() => Deno.lstatSync(`${root}/${absent}`), `no /${absent} in the root`);
      }
      const before = snapshot(opt);
      assert.equal(await mountProc(`${root}/proc`), null);
      procMounted = true;

      // The way an admin runs it (a HOME), and the way xenopsd runs the hook (PATH only).
      const cli = (args: string[], o: { hook?: boolean; stdin?: string } = {}) =>
        run(root, ["/usr/local/bin/vgpu-admin", ...args], o);

      const version = await cli(["--version"]);
      assert.deepEqual(version, { code: 0, stdout: `${VERSION}\n`, stderr: "" });

      // a read command creates no database (design.md §7); a write creates it
      const missing = await cli(["list-pools", `--db=${DB}`]);
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, /^error: no database at /);
      const created = await cli(["settings", "xe-timeout", "30", `--db=${DB}`]);
      assert.equal(created.code, 0, created.stderr);
      const pools = await cli(["list-pools", `--db=${DB}`]);
      assert.deepEqual(pools, {
        code: 0,
        stdout: [
          "=== Pools (2) ===",
          'Pool A: "Pool A" | Enabled | VMs: 0',
          'Pool B: "Pool B" | Enabled | VMs: 0',
          "",
        ].join("\n"),
        stderr: "",
      });
      assert.ok(Deno.statSync(`${root}${DB}`).isFile, "the database is in the root's /tmp");

      const reg = await cli(["register-vm", "--offline", `--vm-uuid=${UUID1}`, `--db=${DB}`]);
      assert.equal(reg.code, 0, reg.stderr);
      assert.match(
        reg.stdout,
        new RegExp(`^Registered VM ${UUID1} .*vGPU pool A, .*VM ID 1$`, "m"),
      );

      // --help is laid out by src/cli/help.ts (no npm package since issue 19), the table
      // renderer its own chunk.
      const help = await cli(["--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^Usage: vgpu-admin .*<command>/);
      const table = await cli(["list-vms", `--db=${DB}`]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`│ 1 +│ ${UUID1} │`));

      const status = await cli(["status", "--format=json", "--offline", `--db=${DB}`]);
      assert.equal(status.code, 0, status.stderr);
      const json = JSON.parse(status.stdout);
      assert.equal(json.schema_version, 1);
      assert.equal(json.summary.vms_registered, 1);
      assert.equal(json.pools[0].pool_id, "A");
      assert.equal(json.pools[0].vms[0].vm_uuid, UUID1);
      assert.equal(
        json.pools[0].vms[0].registered.device,
        "-device vgpu-stub,pool_id=A,priority=medium,vm_id=1",
      );

      // Exit codes and stdin pass through the launcher unchanged.
      const usage = await cli(["show-vm", "--vm-uuid=nope", `--db=${DB}`]);
      assert.deepEqual([usage.code, usage.stdout], [2, ""]);
      assert.match(usage.stderr, /^error: invalid --vm-uuid "nope"/);
      const declined = await cli(["remove-vm", "--offline", `--vm-uuid=${UUID1}`, `--db=${DB}`], {
        stdin: "no\n",
      });
      assert.equal(declined.code, 1, declined.stderr);
      assert.match(declined.stderr, /Cancelled; nothing changed\.\n$/);

      // The start hook of a VM that is not registered: no xe in the root, so it cannot read the
      // VM: exit 1 (the start goes on), never 2, with one line in the hook log.
      const hook = await cli(["startup-hook", `--vm-uuid=${UUID_UNREGISTERED}`, `--db=${DB}`], {
        hook: true,
      });
      assert.equal(hook.code, 1, `startup-hook exit ${hook.code}: ${hook.stderr}`);
      assert.equal(hook.stdout, "");
      assert.match(hook.stderr, /xe not found/);
      const log = Deno.readTextFileSync(`${root}/var/log/vgpu-vm-startup.log`);
      assert.equal(log.split("\n").filter((l) => l.includes(UUID_UNREGISTERED)).length, 1, log);

      // Nothing was written under /opt; Deno's cache went to $HOME/.cache, or /var/cache for the
      // hook, which has no HOME.
      assert.deepEqual(snapshot(opt), before);
      assert.throws(
        () => Deno.statSync(`${root}/tmp/.cache/vgpu-admin`),
        "root caches in /var/cache",
      );
      assert.ok(Deno.statSync(`${root}/var/cache/vgpu-admin`).isDirectory);
    } finally {
      // Never delete through a mounted /proc.
      const unmounted = !procMounted || await unmount(`${root}/proc`);
      if (unmounted) Deno.removeSync(root, { recursive: true });
    }
  },
});

async function run(
  root: string,
  argv: string[],
  o: { hook?: boolean; stdin?: string },
): Promise<Result> {
  const env: Record<string, string> = o.hook
    ? { PATH: HOOK_PATH }
    : { PATH: HOOK_PATH, HOME: "/tmp", NO_COLOR: "1" };
  const child = new Deno.Command("chroot", {
    args: [root, ...argv],
    clearEnv: true,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  if (o.stdin) await w.write(new TextEncoder().encode(o.stdin));
  await w.close();
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

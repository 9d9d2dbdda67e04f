/**
 * The RPM (issue 12), end to end in an empty root: `rpm --root=<dir> --initdb`, a static busybox
 * as /bin/sh (the scriptlets' shell), nothing else; `rpm -i` of dist/vgpu-admin-<v>-1.x86_64.rpm,
 * `rpm -V` clean, the program run inside the root with chroot (--version, register-vm --offline,
 * list-pools, status --offline) on the default database /etc/vgpu/vgpu_config.db; install-hook
 * agrees with the packaged hook; an uninstall-hook survives `rpm -U` to a rebuilt release 2
 * (database kept byte for byte, rows intact); `rpm -e` removes program and hook, keeps the
 * database.
 *
 * Ignored, with a line saying why, when this cannot run here: not root, no rpm/rpmbuild, no
 * chroot or /proc mount, no busybox-static, or the rpm not built (`deno task build:rpm`). With
 * CI=true a missing rpm, package or busybox-static is a failure instead: .ci/run provides them.
 */
import assert from "node:assert/strict";
import { exec, mountProc, type Result, staleArtifact, unmount } from "./chroot.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const VERSION: string = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version;
const RPM = `${ROOT}/dist/vgpu-admin-${VERSION}-1.x86_64.rpm`;
const ARCHIVE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64.tar.gz`;
const BUSYBOX = "/bin/busybox";
const PATH = "/sbin:/usr/sbin:/bin:/usr/bin";
const UUID1 = "7d1e2f00-aaaa-bbbb-cccc-ddddeeee0001";
const DB = "/etc/vgpu/vgpu_config.db";
const HOOK = "/etc/xapi.d/vm-pre-start/10-vgpu-admin";
/** The four hooks the package carries (issue 17 item 5), vm-pre-start first. */
const HOOKS = ["vm-pre-start", "vm-pre-resume", "vm-pre-migrate", "vm-post-migrate"].map((e) =>
  `/etc/xapi.d/${e}/10-vgpu-admin`
);
const LOGROTATE = "/etc/logrotate.d/vgpu-admin";
const IN_CI = Deno.env.get("CI") === "true";
let missingInCi: string | null = null;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function skipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return "not linux x86_64";
  if (Deno.uid() !== 0) return "not root (rpm --root, chroot and mount need root)";
  const needs: [boolean, string][] = [
    [(await exec("rpm", ["--version"])).code === 0, "rpm is not installed: apt-get install rpm"],
    [
      (await exec("rpmbuild", ["--version"])).code === 0,
      "rpmbuild is missing: apt-get install rpm",
    ],
    [exists(BUSYBOX), `${BUSYBOX} is missing: apt-get install busybox-static`],
    [exists(RPM), `${RPM} is not built: run 'deno task build:rpm'`],
    [exists(ARCHIVE), `${ARCHIVE} is not built: run 'deno task build:portable'`],
    ...[
      staleArtifact(ARCHIVE, "deno task build:portable"),
      staleArtifact(RPM, "deno task build:rpm"),
    ].filter((w) => w !== null).map((w): [boolean, string] => [false, w!]),
  ];
  for (const [ok, why] of needs) {
    if (ok) continue;
    if (!IN_CI) return why;
    missingInCi = `${why} (.ci/run provides it)`;
    return null;
  }
  const probe = Deno.makeTempDirSync({ prefix: "vgpu-rpm-probe-" });
  try {
    Deno.mkdirSync(`${probe}/bin`);
    Deno.copyFileSync(BUSYBOX, `${probe}/bin/sh`);
    const r = await exec("chroot", [probe, "/bin/sh", "-c", "true"], {
      clearEnv: true,
      env: { PATH },
    });
    return r.code === 0 ? null : `chroot not permitted: ${r.stderr.trim() || `exit ${r.code}`}`;
  } finally {
    Deno.removeSync(probe, { recursive: true });
  }
}

const skip = await skipReason();
if (skip !== null) {
  // deno-lint-ignore no-console
  console.log(`rpm_test: IGNORED: ${skip}`);
}

Deno.test({
  name: "rpm: installs into an empty root, runs there, upgrades keeping the database, erases",
  ignore: skip !== null,
  async fn() {
    if (missingInCi !== null) assert.fail(missingInCi);
    const root = Deno.makeTempDirSync({ prefix: "vgpu-rpm-root-" });
    const out = Deno.makeTempDirSync({ prefix: "vgpu-rpm-out-" });
    let procMounted = false;
    const rpm = (...args: string[]) =>
      exec("rpm", [`--root=${root}`, ...args], { env: { LC_ALL: "C" } });
    const cli = async (...args: string[]) => {
      const r = await exec("chroot", [root, "/usr/local/bin/vgpu-admin", ...args], {
        clearEnv: true,
        env: { PATH, HOME: "/root", NO_COLOR: "1" },
      });
      return r;
    };
    const ok = (r: Result, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    try {
      ok(await rpm("--initdb"), "rpm --initdb");
      for (const d of ["bin", "proc", "tmp", "root", "var/log"]) {
        Deno.mkdirSync(`${root}/${d}`, { recursive: true });
      }
      Deno.copyFileSync(BUSYBOX, `${root}/bin/sh`);
      Deno.chmodSync(`${root}/bin/sh`, 0o755);

      // Install: the scriptlets run in the root with busybox as /bin/sh; %post runs the program
      // (install-hook), which needs /proc.
      assert.equal(await mountProc(`${root}/proc`), null, "mount /proc in the root");
      procMounted = true;
      const installed = await rpm("-i", "--nodeps", RPM);
      ok(installed, "rpm -i");
      assert.match(installed.stdout, /database .*vgpu_config\.db: created/);
      assert.equal((await rpm("-q", "vgpu-admin")).stdout, `vgpu-admin-${VERSION}-1.x86_64\n`);
      assert.deepEqual(await rpm("-V", "--nodeps", "vgpu-admin"), {
        code: 0,
        stdout: "",
        stderr: "",
      });
      const hookText = Deno.readTextFileSync(`${root}${HOOK}`);
      assert.equal(hookText, Deno.readTextFileSync(`${ROOT}/hooks/vm-pre-start/10-vgpu-admin`));
      assert.equal(Deno.statSync(`${root}${HOOK}`).mode! & 0o7777, 0o755);
      for (const h of HOOKS) {
        const event = h.split("/")[3];
        assert.equal(
          Deno.readTextFileSync(`${root}${h}`),
          hookText.replace(/^VGPU_HOOK=.*$/m, `VGPU_HOOK=${event}`),
        );
        assert.equal(Deno.statSync(`${root}${h}`).mode! & 0o7777, 0o755);
      }
      assert.ok(Deno.statSync(`${root}/usr/share/bash-completion/completions/vgpu-admin`).size);
      // seed 004's init_db.sql is shipped: the same text `vgpu-admin schema` prints (issue 18 D16)
      const schema = await cli("schema");
      ok(schema, "schema");
      assert.ok(schema.stdout.includes("CREATE TABLE"), schema.stdout);
      assert.equal(
        Deno.readTextFileSync(`${root}/usr/share/vgpu-admin/init_db.sql`),
        schema.stdout,
      );
      // %post created the database; the package does not own it.
      assert.ok(Deno.statSync(`${root}${DB}`).isFile, "%post created no database");
      // Asked by the package's file list, never by `rpm -qf PATH`: with --root, Debian's rpm 4.18
      // looks PATH up on the build machine, so that check passed only where /etc/vgpu existed.
      const files = await rpm("-ql", "vgpu-admin");
      ok(files, "rpm -ql");
      assert.ok(files.stdout.includes("/usr/local/bin/vgpu-admin\n"), files.stdout);
      assert.ok(!files.stdout.split("\n").includes(DB), `the package owns ${DB}`);
      assert.ok(!files.stdout.split("\n").includes("/etc/vgpu"), "the package owns /etc/vgpu");

      assert.deepEqual(await cli("--version"), { code: 0, stdout: `${VERSION}\n`, stderr: "" });
      const reg = await cli("register-vm", "--offline", `--vm-uuid=${UUID1}`, "--vm-name=vm one");
      ok(reg, "register-vm");
      assert.match(
        reg.stdout,
        new RegExp(`^Registered VM ${UUID1} .*vGPU pool A, .*VM ID 1$`, "m"),
      );
      const pools = await cli("list-pools");
      ok(pools, "list-pools");
      assert.match(pools.stdout, /^Pool A: "Pool A" \| Enabled \| VMs: 1\b/m);
      const status = await cli("status", "--offline", "--format=json");
      ok(status, "status");
      assert.equal(JSON.parse(status.stdout).pools[0].vms[0].vm_uuid, UUID1);

      // install-hook finds the packaged files current and leaves them (and rpm -V) as they are.
      const install = await cli("install-hook");
      ok(install, "install-hook");
      assert.match(install.stdout, /hook .*10-vgpu-admin: already installed/);
      assert.equal(Deno.readTextFileSync(`${root}${HOOK}`), hookText);
      assert.deepEqual(await rpm("-V", "--nodeps", "vgpu-admin"), {
        code: 0,
        stdout: "",
        stderr: "",
      });

      // The admin removes the hook; an upgrade must not bring it back.
      ok(await cli("uninstall-hook"), "uninstall-hook");
      assert.ok(!exists(`${root}${HOOK}`));
      const rows = (await cli("list-vms", "--format=json")).stdout;
      const dbBytes = Deno.readFileSync(`${root}${DB}`);

      // Upgrade to a rebuilt release 2 of the same archive.
      const build = await exec(Deno.execPath(), [
        "run",
        "--allow-all",
        `${ROOT}/scripts/build-rpm.ts`,
        "--release=2",
        `--archive=${ARCHIVE}`,
        `--outdir=${out}`,
        "--fast",
      ]);
      ok(build, "build:rpm --release=2");
      ok(await rpm("-U", "--nodeps", `${out}/vgpu-admin-${VERSION}-2.x86_64.rpm`), "rpm -U");
      assert.equal((await rpm("-q", "vgpu-admin")).stdout, `vgpu-admin-${VERSION}-2.x86_64\n`);
      for (const h of HOOKS) {
        assert.ok(!exists(`${root}${h}`), `rpm -U restored ${h}, which the admin had removed`);
      }
      assert.ok(!exists(`${root}${LOGROTATE}`), "rpm -U restored the logrotate snippet");
      assert.deepEqual(Deno.readFileSync(`${root}${DB}`), dbBytes, "rpm -U touched the database");
      assert.equal((await cli("list-vms", "--format=json")).stdout, rows);
      // install-hook puts the files back as rpm has them: same digest, size, mode and owner
      // (rpm -V sees only their new mtime).
      ok(await cli("install-hook"), "install-hook after the upgrade");
      const verify = await rpm("-V", "--nodeps", "vgpu-admin");
      assert.deepEqual(
        verify.stdout.split("\n").filter((l) => l !== "").sort(),
        [LOGROTATE, ...HOOKS].map((f) => `.......T.  c ${f}`).sort(),
      );

      // Deno's code cache of root's runs is under /var/cache/vgpu-admin; an older version's in
      // /root/.cache/vgpu-admin (issue 18 C15): both go with the package.
      assert.ok(exists(`${root}/var/cache/vgpu-admin`), "root's runs cache in /var/cache");
      Deno.mkdirSync(`${root}/root/.cache/vgpu-admin/deno-old`, { recursive: true });
      Deno.writeTextFileSync(`${root}/root/.cache/vgpu-admin/deno-old/x`, "cache");

      // Erase: program, hook and runtime gone; the database stays.
      ok(await rpm("-e", "vgpu-admin"), "rpm -e");
      for (
        const gone of [
          "/usr/local/bin/vgpu-admin",
          "/opt/vgpu-admin",
          ...HOOKS,
          LOGROTATE,
          "/var/cache/vgpu-admin",
          "/root/.cache/vgpu-admin",
          "/var/lib/vgpu-admin",
        ]
      ) {
        assert.ok(!exists(`${root}${gone}`), `${gone} left after rpm -e`);
      }
      assert.deepEqual(Deno.readFileSync(`${root}${DB}`), dbBytes, "rpm -e touched the database");
      assert.equal((await rpm("-q", "vgpu-admin")).code, 1);
    } finally {
      Deno.removeSync(out, { recursive: true });
      const unmounted = !procMounted || await unmount(`${root}/proc`);
      if (unmounted) Deno.removeSync(root, { recursive: true });
    }
  },
});

/**
 * The single-file build (issue 19 item 4), end to end in an otherwise empty root (a static
 * busybox as /bin/sh, /proc, /tmp, /var/log, /dev/null for the hook script; no libc, no tar, no
 * coreutils): dist/vgpu-admin-<version>-linux-x64 copied to /usr/local/bin/vgpu-admin and run as
 * root with chroot: two first runs at once, commands, the installed hooks calling it, a tampered
 * cache, a cache directory others can write, and a full disk while unpacking.
 *
 * Ignored, with a line saying why, when this cannot run here: not root, no chroot or /proc mount
 * allowed, no busybox-static, or the file not built (`deno task build:single`). With CI=true a
 * missing file or busybox-static is a failure instead: .ci/run installs and builds them.
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

const SINGLE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64`;
const UUID1 = "7d1e2f00-aaaa-bbbb-cccc-ddddeeee0001";
const DEVICE = "-device vgpu-stub,pool_id=A,priority=medium,vm_id=1";
const RUNTIME = "/var/lib/vgpu-admin/runtime";

const { skip, missingInCi } = await emptyRootCheck(
  SINGLE,
  "deno task build:portable && deno task build:single",
  { tmpfs: true },
);
if (skip !== null) {
  // deno-lint-ignore no-console
  console.log(`single_test: IGNORED: ${skip}`);
}

function run(
  root: string,
  argv: string[],
  env: Record<string, string> = { PATH: HOOK_PATH, HOME: "/root", NO_COLOR: "1" },
): Promise<Result> {
  return exec("chroot", [root, ...argv], { clearEnv: true, env });
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test({
  name: "single file: one executable runs in an empty chroot, unpacks once, safely",
  ignore: skip !== null,
  async fn() {
    if (missingInCi !== null) assert.fail(missingInCi);
    const root = emptyRoot("vgpu-single-root-", [
      "proc",
      "var/log",
      "usr/local/bin",
      "usr/bin",
      "root",
      "dev",
    ]);
    const mounts: string[] = [];
    try {
      // the hook script redirects from /dev/null, as every dom0 has it
      assert.equal((await exec("mknod", ["-m", "666", `${root}/dev/null`, "c", "1", "3"])).code, 0);
      const bin = `${root}/usr/local/bin/vgpu-admin`;
      Deno.copyFileSync(SINGLE, bin);
      Deno.chmodSync(bin, 0o755);
      for (const absent of ["lib", "lib64", "usr/lib", "etc", "bin/tar", "usr/bin/tar"]) {
        assert.throws(() => Deno.lstatSync(`${root}/${absent}`), `no /${absent} in the root`);
      }
      assert.equal(await mountProc(`${root}/proc`), null);
      mounts.push(`${root}/proc`);
      const cli = (...args: string[]) => run(root, ["/usr/local/bin/vgpu-admin", ...args]);

      // Two first runs at once: both work, one copy is kept, nothing half-done is left.
      const [a, b] = await Promise.all([cli("--version"), cli("--version")]);
      assert.deepEqual([a.code, a.stdout, b.code, b.stdout], [
        0,
        `${VERSION}\n`,
        0,
        `${VERSION}\n`,
      ]);
      const hashes = entries(`${root}${RUNTIME}`);
      assert.equal(hashes.length, 1, `one runtime copy, not ${hashes.join(" ")}`);
      const cache = `${root}${RUNTIME}/${hashes[0]}`;
      assert.ok(Deno.statSync(`${cache}/.seal`).isFile);
      assert.equal(Deno.statSync(`${root}${RUNTIME}`).mode! & 0o777, 0o755);
      assert.equal(Deno.statSync(cache).uid, 0);

      // The second run uses the sealed copy as it is (nothing rewritten).
      const sealMtime = Deno.statSync(`${cache}/.seal`).mtime?.getTime();
      const again = await cli("--version");
      assert.deepEqual([again.code, again.stderr], [0, ""]);
      assert.equal(Deno.statSync(`${cache}/.seal`).mtime?.getTime(), sealMtime);
      // The seal is written in UTC whatever TZ says: a run under another zone (an admin's shell
      // and the hook's environment differ) uses the same copy, nothing unpacked again.
      const zoned = await run(root, ["/usr/local/bin/vgpu-admin", "--version"], {
        PATH: HOOK_PATH,
        HOME: "/root",
        TZ: "JST-9",
      });
      assert.deepEqual([zoned.code, zoned.stdout, zoned.stderr], [0, `${VERSION}\n`, ""]);
      assert.equal(Deno.statSync(`${cache}/.seal`).mtime?.getTime(), sealMtime);

      // A copy of the file cut short in its list of files (read only when unpacking, after the
      // script): one line naming it, nothing unpacked, nothing run.
      const head = new TextDecoder().decode(Deno.readFileSync(SINGLE).subarray(0, 4096));
      const listAt = Number(/^manifest=(\d+)/m.exec(head)?.[1]);
      assert.ok(listAt > 0, "the script says where its list of files starts");
      const short = `${root}/usr/local/bin/short`;
      Deno.writeFileSync(short, Deno.readFileSync(SINGLE).subarray(0, listAt + 400));
      Deno.chmodSync(short, 0o755);
      const cutShort = await run(root, ["/usr/local/bin/short", "--version"], {
        PATH: HOOK_PATH,
        HOME: "/root",
        VGPU_RUNTIME_DIR: "/tmp/short",
      });
      assert.deepEqual([cutShort.code, cutShort.stdout], [1, ""]);
      assert.match(cutShort.stderr, /^vgpu-admin: the list of files in .* is cut short/);
      assert.equal(cutShort.stderr.trim().split("\n").length, 1, cutShort.stderr);
      assert.deepEqual(entries(`${root}/tmp/short/runtime`), [], "nothing left unpacked");
      Deno.removeSync(short);

      // Commands, and the installed hooks calling it (a stand-in xe on the hook's PATH).
      const made = await cli("install-hook");
      assert.equal(made.code, 0, made.stderr);
      assert.equal((await cli("register-vm", "--offline", `--vm-uuid=${UUID1}`)).code, 0);
      Deno.writeTextFileSync(`${root}/usr/bin/xe`, `#!/bin/sh\necho '${DEVICE}'\n`);
      Deno.chmodSync(`${root}/usr/bin/xe`, 0o755);
      for (const event of ["vm-pre-start", "vm-pre-resume", "vm-pre-migrate", "vm-post-migrate"]) {
        const reason = event === "vm-pre-migrate"
          ? "source"
          : event === "vm-post-migrate"
          ? "destination"
          : "none";
        const hook = await run(root, [
          `/etc/xapi.d/${event}/10-vgpu-admin`,
          "-vmuuid",
          UUID1,
          "-reason",
          reason,
        ], { PATH: HOOK_PATH });
        assert.equal(hook.code, 0, `${event}: ${hook.stdout}${hook.stderr}`);
      }
      const log = Deno.readTextFileSync(`${root}/var/log/vgpu-vm-startup.log`).trim().split("\n");
      assert.equal(log.length, 4, log.join("\n"));
      assert.match(log[0], /reason=none action=in-sync result=ok/);
      assert.match(log[3], /hook=vm-post-migrate reason=destination action=arrived result=ok/);

      // The hook's rare paths, in the bundle's second entry (lib/hook/src/hook/slow.js): a repair
      // (the full xe client and the verified write) and a database that is not there (the full
      // open, which names it).
      // a stand-in xe that keeps what vm-param-set writes (every write is read back)
      Deno.writeTextFileSync(
        `${root}/usr/bin/xe`,
        [
          "#!/bin/sh",
          "f=/tmp/xe-args",
          'case "$1" in',
          "  vm-param-get)",
          `    if [ -f "$f" ]; then read -r a <"$f"; echo "$a"; else echo '${
            DEVICE.replace("pool_id=A", "pool_id=B")
          }'; fi ;;`,
          "  vm-param-set)",
          '    for a in "$@"; do case "$a" in platform:*=*) printf \'%s\\n\' "${a#*=}" >"$f" ;; esac; done ;;',
          "esac",
          "",
        ].join("\n"),
      );
      const repair = await run(root, [
        "/etc/xapi.d/vm-pre-start/10-vgpu-admin",
        "-vmuuid",
        UUID1,
        "-reason",
        "none",
      ], { PATH: HOOK_PATH });
      assert.equal(repair.code, 0, `${repair.stdout}${repair.stderr}`);
      const last = Deno.readTextFileSync(`${root}/var/log/vgpu-vm-startup.log`).trim().split("\n")
        .at(-1)!;
      assert.match(last, /action=repaired result=warning args were "-device vgpu-stub,pool_id=B/);
      const noDb = await cli("startup-hook", `--vm-uuid=${UUID1}`, "--db=/tmp/none.db");
      assert.equal(noDb.code, 1);
      assert.match(noDb.stderr, /^error: no database at \/tmp\/none\.db; /);

      // A tampered copy is detected and unpacked again.
      const hookJs = `${cache}/lib/hook/hook.js`;
      const original = Deno.readTextFileSync(hookJs);
      Deno.writeTextFileSync(hookJs, `${original}\n// changed\n`);
      const tampered = await cli("--version");
      assert.equal(tampered.code, 0, tampered.stderr);
      assert.equal(tampered.stdout, `${VERSION}\n`);
      assert.match(tampered.stderr, /is not as it was unpacked .*; unpacking it again/);
      assert.equal(Deno.readTextFileSync(hookJs), original);
      assert.deepEqual(entries(`${root}${RUNTIME}`), hashes, "no leftovers");

      // The seal is a shell assignment read by `.`: one that another user could have written is
      // never read (nothing in it runs), and one cut short is a mismatch, not the script's end.
      const seal = `${cache}/.seal`;
      Deno.writeTextFileSync(seal, `: >/tmp/seal-ran\n${Deno.readTextFileSync(seal)}`);
      Deno.chmodSync(seal, 0o666);
      const writable = await cli("--version");
      assert.deepEqual([writable.code, writable.stdout], [0, `${VERSION}\n`], writable.stderr);
      assert.match(writable.stderr, /is not as it was unpacked .*; unpacking it again/);
      assert.throws(() => Deno.lstatSync(`${root}/tmp/seal-ran`), "the seal's content ran");
      assert.equal(Deno.statSync(seal).mode! & 0o777, 0o644);
      Deno.writeTextFileSync(seal, Deno.readTextFileSync(seal).slice(0, 100));
      const cut = await cli("--version");
      assert.deepEqual([cut.code, cut.stdout], [0, `${VERSION}\n`], cut.stderr);
      assert.match(cut.stderr, /^vgpu-admin: the runtime in .* is not as it was unpacked/);
      assert.equal(cut.stderr.trim().split("\n").length, 1, cut.stderr);
      assert.deepEqual(entries(`${root}${RUNTIME}`), hashes, "no leftovers");

      // A cache directory others can write is never used, nor anything in it touched: one line.
      Deno.chmodSync(`${root}${RUNTIME}`, 0o777);
      const open = await cli("--version");
      assert.equal(open.code, 1);
      assert.equal(open.stdout, "");
      assert.match(open.stderr, /^vgpu-admin: .*runtime is not a private directory of this user/);
      assert.equal(open.stderr.trim().split("\n").length, 1, open.stderr);
      assert.deepEqual(entries(`${root}${RUNTIME}`), hashes, "the copy in it was touched");
      Deno.chmodSync(`${root}${RUNTIME}`, 0o755);

      // Unpacked under umask 000: every mode is set, none left to the umask.
      Deno.removeSync(`${root}${RUNTIME}`, { recursive: true });
      const loose = await run(root, [
        "/bin/sh",
        "-c",
        "umask 000; exec /usr/local/bin/vgpu-admin --version",
      ]);
      assert.deepEqual([loose.code, loose.stdout], [0, `${VERSION}\n`], loose.stderr);
      const fresh = `${root}${RUNTIME}/${entries(`${root}${RUNTIME}`)[0]}`;
      const mode = (p: string) => (Deno.statSync(p).mode! & 0o777).toString(8);
      assert.deepEqual(
        [
          `${root}/var/lib/vgpu-admin`,
          `${root}${RUNTIME}`,
          fresh,
          `${fresh}/lib`,
          `${fresh}/lib/app`,
          `${fresh}/bin/deno`,
          `${fresh}/lib/app/main.js`,
          `${fresh}/.seal`,
        ].map(mode),
        ["755", "755", "755", "755", "755", "755", "644", "644"],
      );
      // Deno's code cache of root's runs: created private whatever the umask
      Deno.removeSync(`${root}/var/cache/vgpu-admin`, { recursive: true });
      const again2 = await run(root, [
        "/bin/sh",
        "-c",
        "umask 000; exec /usr/local/bin/vgpu-admin --version",
      ]);
      assert.equal(again2.code, 0, again2.stderr);
      assert.equal(mode(`${root}/var/cache/vgpu-admin`), "700");

      // A full disk while unpacking: one clear line, nothing half-unpacked left or run.
      Deno.removeSync(`${root}${RUNTIME}`, { recursive: true });
      Deno.mkdirSync(`${root}${RUNTIME}`);
      const mnt = await exec("mount", [
        "-t",
        "tmpfs",
        "-o",
        "size=8m,mode=0755",
        "tmpfs",
        `${root}${RUNTIME}`,
      ]);
      assert.equal(mnt.code, 0, mnt.stderr);
      mounts.push(`${root}${RUNTIME}`);
      const full = await cli("--version");
      assert.equal(full.code, 1);
      assert.equal(full.stdout, "");
      assert.match(
        full.stderr,
        /^vgpu-admin: cannot unpack the runtime into \/var\/lib\/vgpu-admin\/runtime \(it needs about \d+ MB\): .*; free space there and run vgpu-admin again/,
      );
      assert.equal(full.stderr.trim().split("\n").length, 1, full.stderr);
      assert.deepEqual(entries(`${root}${RUNTIME}`), [], "nothing left in the cache");
    } finally {
      let unmounted = true;
      for (const m of mounts.reverse()) unmounted = (await unmount(m)) && unmounted;
      if (unmounted) Deno.removeSync(root, { recursive: true });
    }
  },
});

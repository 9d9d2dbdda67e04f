// deno task build:rpm [--release=N] [--archive=PATH] [--outdir=DIR] [--fast]: the RPM for
// XCP-ng 8.x dom0 (issue 12), dist/vgpu-admin-<version>-<N>.x86_64.rpm (N defaults to 1), made
// offline with the rpmbuild of Debian's `rpm` package from packaging/vgpu-admin.spec and the
// portable archive (`deno task build:portable`, run first unless --archive names one already
// built). --fast: gzip level 1 instead of 9 (the release tests/rpm_test.ts rebuilds).
//
// The result must install with the rpm 4.11 of CentOS 7 / XCP-ng 8.2-8.3, so it is checked
// before it is written: gzip payload (Debian's rpmbuild defaults to zstd, which 4.11 cannot
// read), no rpmlib() requirement that 4.11 does not provide, and no requirement on the host's
// libraries (the runtime carries its own).
// deno-lint-ignore-file no-console
import { DEFAULT_BINARY, renderHook } from "../src/ops/install.ts";
import { HOOK_EVENTS } from "../src/ops/startup-hook.ts";
import {
  buildMain,
  fail,
  fillTemplate,
  portableArchive,
  ROOT,
  run as runTool,
  VERSION,
} from "./build-common.ts";

/** The rpmlib() features rpm 4.11 provides (rpm-4.11.x lib/rpmds.c, rpmlibProvides). */
export const RPMLIB_4_11 = new Set([
  "BuiltinLuaScripts",
  "CompressedFileNames",
  "ConcurrentAccess",
  "ExplicitPackageProvide",
  "FileCaps",
  "FileDigests",
  "HeaderLoadSortsTags",
  "PartialHardlinkSets",
  "PayloadFilesHavePrefix",
  "PayloadIsBzip2",
  "PayloadIsLzma",
  "PayloadIsXz",
  "ScriptletExpansion",
  "ScriptletInterpreterArgs",
  "TildeInVersions",
  "VersionedDependencies",
]);

function run(cmd: string, args: string[], o: Deno.CommandOptions = {}): Promise<string> {
  return runTool(cmd, args, { ...o, hint: "Debian: apt-get install rpm" });
}

interface Args {
  release: number;
  archive: string | null;
  outdir: string;
  fast: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { release: 1, archive: null, outdir: `${ROOT}/dist`, fast: false };
  for (const arg of argv) {
    if (arg === "--fast") {
      a.fast = true;
      continue;
    }
    const m = arg.match(/^--(release|archive|outdir)=(.*)$/);
    if (!m) {
      fail(
        `unknown argument ${
          JSON.stringify(arg)
        }; usage: [--release=N] [--archive=PATH] [--outdir=DIR] [--fast]`,
      );
    }
    if (m[1] === "release") {
      if (!/^[1-9][0-9]{0,8}$/.test(m[2])) {
        fail(`--release must be a positive integer, not ${JSON.stringify(m[2])}`);
      }
      a.release = Number(m[2]);
    } else if (m[1] === "archive") a.archive = m[2];
    else a.outdir = m[2];
  }
  return a;
}

/** The four hook scripts, byte for byte what install-hook writes (default binary and database),
 * as <dir>/<event>; returns the directory. */
function writeHooks(work: string): string {
  const dir = `${work}/hooks`;
  Deno.mkdirSync(dir, { recursive: true });
  for (const event of HOOK_EVENTS) {
    Deno.writeTextFileSync(`${dir}/${event}`, renderHook(DEFAULT_BINARY, null, event));
  }
  return dir;
}

async function build(args: Args): Promise<string> {
  await run("rpmbuild", ["--version"]);
  // without --archive, build:portable first (its archive is what the package installs)
  const archive = await portableArchive(args.archive, { rebuild: true });
  const work = Deno.makeTempDirSync({ prefix: "vgpu-admin-rpm-" });
  try {
    // The bash completion, from the shipped program itself (its moved-tree path).
    const unpacked = `${work}/unpacked`;
    Deno.mkdirSync(unpacked);
    await run("tar", ["-xzf", archive, "-C", unpacked]);
    const built = (await run(`${unpacked}/opt/vgpu-admin/bin/vgpu-admin`, ["--version"], {
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin", HOME: `${work}/home` },
    })).trim();
    if (built !== VERSION) fail(`${archive} holds version ${built}, deno.json says ${VERSION}`);
    const completion = `${work}/vgpu-admin.bash`;
    Deno.writeTextFileSync(
      completion,
      await run(`${unpacked}/opt/vgpu-admin/bin/vgpu-admin`, ["completions", "bash"], {
        clearEnv: true,
        env: { PATH: "/usr/bin:/bin", HOME: `${work}/home` },
      }),
    );
    // seed 004's init_db.sql, from the shipped program too: the same text `vgpu-admin schema` prints
    const initDb = `${work}/init_db.sql`;
    Deno.writeTextFileSync(
      initDb,
      await run(`${unpacked}/opt/vgpu-admin/bin/vgpu-admin`, ["schema"], {
        clearEnv: true,
        env: { PATH: "/usr/bin:/bin", HOME: `${work}/home` },
      }),
    );
    Deno.removeSync(unpacked, { recursive: true });

    const spec = fillTemplate("packaging/vgpu-admin.spec", {
      VERSION,
      RELEASE: String(args.release),
      GZIP_LEVEL: args.fast ? "1" : "9",
      ARCHIVE: archive,
      DENO_VERSION: Deno.version.deno,
      HOOK_DIR: writeHooks(work),
      LOGROTATE: `${ROOT}/hooks/logrotate/vgpu-admin`,
      COMPLETION: completion,
      INIT_DB: initDb,
    });
    Deno.writeTextFileSync(`${work}/vgpu-admin.spec`, spec);

    const name = `vgpu-admin-${VERSION}-${args.release}.x86_64.rpm`;
    console.log(`--- rpmbuild ${name}`);
    await run("rpmbuild", [
      "-bb",
      "--quiet",
      "--define",
      `_topdir ${work}/top`,
      "--define",
      `_tmppath ${work}/tmp`,
      "--define",
      // rpmbuild names sources by their basename under SOURCES; the archive is used in place.
      `_sourcedir ${archive.slice(0, archive.lastIndexOf("/"))}`,
      `${work}/vgpu-admin.spec`,
    ], { env: { LC_ALL: "C", TZ: "UTC" } });
    const rpm = `${work}/top/RPMS/x86_64/${name}`;
    await check(rpm);
    Deno.mkdirSync(args.outdir, { recursive: true });
    const out = `${args.outdir}/${name}`;
    Deno.copyFileSync(rpm, `${out}.tmp-${Deno.pid}`);
    Deno.renameSync(`${out}.tmp-${Deno.pid}`, out);
    return out;
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}

/** What rpm 4.11 could not install is an error here, not on the host. */
async function check(rpm: string) {
  const q = (...a: string[]) => run("rpm", ["-qp", ...a, rpm], { env: { LC_ALL: "C" } });
  const compressor = (await q("--qf", "%{PAYLOADCOMPRESSOR}")).trim();
  if (compressor !== "gzip") {
    fail(`payload compressed with ${compressor}; rpm 4.11 needs gzip or xz`);
  }
  const requires = (await q("--requires")).split("\n").map((l) => l.trim()).filter((l) => l);
  for (const r of requires) {
    const m = r.match(/^rpmlib\(([^)]+)\)/);
    if (m) {
      if (!RPMLIB_4_11.has(m[1])) fail(`the package requires ${r}, which rpm 4.11 lacks`);
    } else if (r !== "/bin/sh") {
      fail(`the package requires ${r}: only /bin/sh (for its scriptlets) is expected`);
    }
  }
  const files = (await q("--list")).split("\n");
  if (files.some((f) => f.startsWith("/etc/vgpu"))) fail("the package must not contain /etc/vgpu");
}

if (import.meta.main) {
  await buildMain("rpm", async () => {
    const started = performance.now();
    const out = await build(parseArgs(Deno.args));
    const size = Deno.statSync(out).size;
    console.log(
      `built ${out} (${(size / 1048576).toFixed(1)} MiB) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
}

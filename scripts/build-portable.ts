// deno task build:portable: dist/vgpu-admin-<version>-linux-x64.tar.gz, a build that needs
// nothing from the host but a Linux kernel and /bin/sh (issue 6: XCP-ng 8.2/8.3 dom0 has glibc
// 2.17, Deno needs 2.27). It unpacks at / to opt/vgpu-admin/:
//
//   bin/deno            the Deno runtime of the npm package @deno/linux-x64-glibc (the ELF that
//                       `npm install deno` links in), patched with patchelf to load its C library
//                       from /opt/vgpu-admin/lib (ELF interpreter and RUNPATH)
//   bin/vgpu-admin      POSIX sh launcher (packaging/launcher.sh) with the permission flags of
//                       `deno task cli`, read from deno.json here
//   lib/app/main.js     the program, split by `deno bundle --code-splitting` into lib/app/*.js: npm
//                       packages, SQL schema and every command inside, each command in its own
//                       chunks so a command loads only what it uses (issue 12: one single file
//                       hoisted every node: import of every package, ~4.3x the bare-Deno floor);
//                       nothing is fetched at run time
//   lib/*.so*           the build machine's ld.so and the libraries `ldd bin/deno` lists, no more
//   licenses/           licence texts of everything shipped, and the LGPL written source offer
//   BUILD-INFO          versions of what went in
//
// Needs: deno (the version shipped is this deno's own), npm, patchelf, tar, gzip, ldd, dpkg
// (Debian: the libraries' packages, versions and copyright files). Checks the result before
// writing the archive: the bundle imports nothing but node: built-ins, and the launcher runs the
// bundle on the shipped runtime with an empty DENO_DIR and no network. At run time the host must
// have /proc mounted (Deno reads /proc/self/exe), as every Linux system does.
// deno-lint-ignore-file no-console

import { COMMANDS } from "../src/cli/command-table.ts";
import {
  ARCHIVE,
  buildMain,
  CFG,
  fail,
  fillTemplate,
  PERMISSIONS,
  ROOT,
  run,
  RUN_FLAGS,
  shQuote,
  VERSION,
} from "./build-common.ts";

const PREFIX = "/opt/vgpu-admin";
const APP_DIR = "app";
const BUNDLE = `${APP_DIR}/main.js`;
/** The hooks' own entry (hook.ts), bundled apart: the hook loads none of the CLI (issue 19); its
 * rare paths are a second entry, src/hook/slow.js, which src/hook/slow-path.ts names. */
const HOOK_DIR = "hook";
const HOOK_BUNDLE = `${HOOK_DIR}/hook.js`;
export const HOOK_ENTRIES = ["hook.ts", "src/hook/slow.ts"];
/** main.ts, the CLI behind it and every command file: main.ts imports cli.ts (lib/app/cli.js),
 * and src/cli/command-loaders.ts a command (lib/app/src/cli/commands/<name>.js), by a computed
 * specifier, which the bundler cannot follow. */
export const MAIN_ENTRIES = [
  "main.ts",
  "cli.ts",
  ...COMMANDS.map((c) => `src/cli/commands/${c.name}.ts`),
];
const DENO_VERSION = Deno.version.deno;
const RUNTIME_PACKAGE = "@deno/linux-x64-glibc"; // holds the ELF; `deno` holds LICENSE + shims

const started = performance.now();
const ARCHIVE_NAME = ARCHIVE.slice(ARCHIVE.lastIndexOf("/") + 1);

function step(what: string) {
  console.log(`--- ${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

function write(path: string, text: string, mode = 0o644) {
  Deno.writeTextFileSync(path, text);
  Deno.chmodSync(path, mode);
}

function mkdir(path: string) {
  Deno.mkdirSync(path, { recursive: true });
  Deno.chmodSync(path, 0o755);
}

function copy(from: string, to: string, mode: number) {
  Deno.copyFileSync(from, to); // follows symlinks: the real file is copied
  Deno.chmodSync(to, mode);
}

// ---- 1. the Deno runtime from the npm registry ---------------------------------------------

async function fetchRuntime(work: string): Promise<{ elf: string; license: string }> {
  step(`npm pack ${RUNTIME_PACKAGE}@${DENO_VERSION} deno@${DENO_VERSION}`);
  await run("npm", [
    "pack",
    "--silent",
    "--prefer-offline",
    "--pack-destination",
    work,
    `${RUNTIME_PACKAGE}@${DENO_VERSION}`,
    `deno@${DENO_VERSION}`,
  ], { cwd: work });
  // npm's tarball names: the scope's @ dropped and its / turned into -
  const tgz = (pkg: string) =>
    `${work}/${pkg.replace(/^@/, "").replace("/", "-")}-${DENO_VERSION}.tgz`;
  const runtimeTgz = tgz(RUNTIME_PACKAGE);
  const denoTgz = tgz("deno");
  for (const [tgz, dir] of [[runtimeTgz, "runtime"], [denoTgz, "deno"]]) {
    mkdir(`${work}/${dir}`);
    await run("tar", ["-xzf", tgz, "-C", `${work}/${dir}`]);
  }
  const elf = `${work}/runtime/package/deno`;
  const head = new Uint8Array(20);
  using f = Deno.openSync(elf);
  f.readSync(head);
  // ELF magic, 64-bit, little-endian, e_machine 62 = x86-64
  if (head[0] !== 0x7f || head[1] !== 0x45 || head[4] !== 2 || head[18] !== 62) {
    fail(`${RUNTIME_PACKAGE}@${DENO_VERSION} holds no x86-64 ELF at package/deno`);
  }
  const version = await run(elf, ["--version"]);
  if (!version.startsWith(`deno ${DENO_VERSION} `)) fail(`unexpected runtime: ${version}`);
  return { elf, license: `${work}/deno/package/LICENSE` };
}

/** The highest GLIBC_ symbol version the unpatched runtime references (`objdump -T`): the
 * oldest glibc that `deno` and `deno compile`'s binaries start on without this archive. */
async function minimumGlibc(elf: string): Promise<string> {
  let out: string;
  try {
    out = await run("objdump", ["-T", elf]);
  } catch {
    return "unknown (objdump, from binutils, is not installed)";
  }
  const versions = [...new Set([...out.matchAll(/\bGLIBC_(\d+(?:\.\d+)*)\b/g)].map((m) => m[1]))];
  const num = (v: string) => v.split(".").map(Number);
  versions.sort((a, b) => {
    const [x, y] = [num(a), num(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    }
    return 0;
  });
  return versions.length ? versions[versions.length - 1] : "unknown";
}

// ---- 2. the C library closure the runtime needs ---------------------------------------------

interface SharedLib {
  soname: string; // the name bin/deno asks for (and the file name in lib/)
  path: string; // where the loader found it on the build machine
  real: string; // the file behind any symlinks
}

async function lddClosure(elf: string): Promise<{ libs: SharedLib[]; loader: SharedLib }> {
  const out = await run("ldd", [elf]);
  const libs: SharedLib[] = [];
  let loader: SharedLib | undefined;
  for (const line of out.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    if (/^linux-vdso\.so|^linux-gate\.so/.test(line)) continue; // provided by the kernel
    if (/not found/.test(line)) fail(`ldd ${elf}: ${line}`);
    let m = line.match(/^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/);
    if (m) {
      libs.push({ soname: m[1], path: m[2], real: Deno.realPathSync(m[2]) });
      continue;
    }
    m = line.match(/^(\/\S+) \(0x[0-9a-f]+\)$/);
    if (m) {
      const soname = m[1].slice(m[1].lastIndexOf("/") + 1);
      loader = { soname, path: m[1], real: Deno.realPathSync(m[1]) };
      continue;
    }
    fail(`ldd ${elf}: cannot read the line ${JSON.stringify(line)}`);
  }
  if (!loader) fail(`ldd ${elf} names no ELF interpreter`);
  return { libs: libs.filter((l) => l.soname !== loader.soname), loader };
}

interface DebPackage {
  name: string;
  version: string;
  source: string;
  sourceVersion: string;
}

/** The Debian package that installed a library file (tries the path ldd printed, then the
 * real path, then both with and without /usr for merged-/usr systems). */
async function owningPackage(lib: SharedLib): Promise<DebPackage> {
  const tries = new Set<string>();
  for (const p of [lib.path, lib.real]) {
    tries.add(p);
    tries.add(p.startsWith("/usr/") ? p.slice(4) : `/usr${p}`);
  }
  for (const p of tries) {
    const r = await new Deno.Command("dpkg-query", { args: ["-S", p], stderr: "null" }).output()
      .catch(() => fail("'dpkg-query' is not installed (the portable build is made on Debian)"));
    if (r.code !== 0) continue;
    const name = new TextDecoder().decode(r.stdout).split(":")[0].trim();
    const f = (await run("dpkg-query", [
      "-W",
      "-f=${Package}\\t${Version}\\t${source:Package}\\t${source:Version}",
      name,
    ])).split("\t");
    return { name: f[0], version: f[1], source: f[2], sourceVersion: f[3] };
  }
  fail(`no Debian package owns ${lib.path}: cannot name its licence and source`);
}

// ---- 3. the program as one file -------------------------------------------------------------

/** `deno bundle --code-splitting` into outdir (entry main.js), then lazyRequire(); modules that
 * main.ts imports but that do not exist (commands declared ahead of their implementation) are
 * left as imports that fail when that command runs, exactly as `deno run main.ts` fails for
 * them, and named in a warning. The bench (scripts/bench/scenarios.ts) bundles with this too. */
export async function bundle(outdir: string, entries = MAIN_ENTRIES): Promise<string[]> {
  const base = ["bundle", "--quiet", "--platform=deno", "--code-splitting", "--outdir", outdir];
  const attempt = (external: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [...base, ...external.map((e) => `--external=${e}`), ...entries],
      cwd: ROOT,
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
  let r = await attempt([]);
  let missing: string[] = [];
  const err = (x: Deno.CommandOutput) => new TextDecoder().decode(x.stderr);
  if (r.code !== 0) {
    const text = err(r);
    const notFound = [...text.matchAll(/Module not found "file:\/\/([^"]+)"/g)]
      .map((m) => decodeURIComponent(m[1]));
    missing = [...new Set(notFound)].map((p) => `.${p.slice(ROOT.length)}`);
    if (missing.length === 0 || notFound.some((p) => !p.startsWith(`${ROOT}/`))) {
      fail(`deno bundle failed:\n${text.trimEnd()}`);
    }
    r = await attempt(missing);
    if (r.code !== 0) fail(`deno bundle failed:\n${err(r).trimEnd()}`);
    console.log(
      `WARNING: main.ts imports ${missing.length} module(s) that do not exist yet; the bundle ` +
        `keeps them as imports that fail when their command runs (as 'deno run main.ts' does): ` +
        missing.join(", "),
    );
  }
  lazyRequire(outdir);
  deferImports(outdir);
  return missing;
}

/** Every file under `dir`, as paths relative to it ("main.js", "src/cli/commands/x.js"). */
export function bundleFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(rel === "" ? dir : `${dir}/${rel}`)) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) out.push(...bundleFiles(dir, p));
    else if (e.isFile) out.push(p);
  }
  return out.sort();
}

/** A literal import() of one of the bundle's own files, as esbuild writes it. */
const LITERAL_IMPORT = /\bimport\(\s*"(\.\.?\/[^"]+\.js)"\s*\)/g;

/**
 * Turns every literal `import("./chunk.js")` of the bundle into `import(String("./chunk.js"))`:
 * Deno reads and analyses, before the program runs, every module a literal import() can reach
 * (here all of lib/app/, ~150 files: issue 19's --version at 1.36× the floor), but a computed
 * specifier only when it is imported. The same files are loaded, each when it is reached.
 */
function deferImports(outdir: string) {
  for (const f of bundleFiles(outdir)) {
    if (!f.endsWith(".js")) continue;
    const path = `${outdir}/${f}`;
    const code = Deno.readTextFileSync(path);
    const deferred = code.replace(LITERAL_IMPORT, (_, spec) => `import(String("${spec}"))`);
    if (deferred !== code) Deno.writeTextFileSync(path, deferred);
  }
}

/** esbuild's CommonJS shim: a static `node:module` import and a createRequire call, in the
 * shared helper chunk that main.js imports. */
const REQUIRE_SHIM =
  /^import \{ createRequire as (\w+) \} from "node:module";\nvar __require = \1\(import\.meta\.url\);\n/m;

/**
 * Makes the CommonJS shim load on first use instead of at every start: the static import of
 * node:module (and createRequire) cost ~10-20 ms of each start (issue 12), and only the npm
 * packages that call require() need it, in chunks that load with their command.
 */
function lazyRequire(outdir: string) {
  for (const e of Deno.readDirSync(outdir)) {
    if (!e.isFile) continue; // src/hook/slow.js of the hook's bundle: no npm code
    const path = `${outdir}/${e.name}`;
    const code = Deno.readTextFileSync(path);
    if (!REQUIRE_SHIM.test(code)) continue;
    Deno.writeTextFileSync(
      path,
      code.replace(
        REQUIRE_SHIM,
        "// vgpu-admin build: createRequire on first use, not at start (scripts/build-portable.ts)\n" +
          "var __vgpu_require;\n" +
          "var __require = (id) => (__vgpu_require ??= globalThis.process.getBuiltinModule(" +
          '"node:module").createRequire(import.meta.url))(id);\n',
      ),
    );
  }
  for (const e of Deno.readDirSync(outdir)) {
    if (!e.isFile) continue;
    if (/^import\b[^;]*"node:module";/m.test(Deno.readTextFileSync(`${outdir}/${e.name}`))) {
      fail(`lib/app/${e.name} still imports node:module at start (esbuild's shim changed?)`);
    }
  }
}

/** Every module specifier left in the bundle: only node: built-ins, the bundle's own chunks
 * (./chunk.js, present) and the missing modules above may remain, or the bundle would need a
 * module cache or the network at run time. */
function checkBundle(
  dir: string,
  missing: string[],
  needs = ["sql/001_initial.sql", "src/cli/commands/startup-hook.ts"],
): string {
  const files = bundleFiles(dir);
  const present = new Set(files);
  const patterns = [
    /^import\b[^;]*?\bfrom\s*"([^"]+)"/gm,
    /^import\s*"([^"]+)"/gm,
    /^export\b[^;]*?\bfrom\s*"([^"]+)"/gm,
    /\bimport\(\s*(?:String\()?"([^"]+)"\)?\s*\)/g,
    /\b__require\(\s*"([^"]+)"\s*\)/g,
  ];
  const bad = new Set<string>();
  let code = "";
  for (const f of files) {
    const text = Deno.readTextFileSync(`${dir}/${f}`);
    code += text + "\n";
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        const s = m[1];
        if (s.startsWith("node:") || missing.includes(s)) continue;
        // the bundle's own file, relative to the one importing it
        const target = new URL(s, `file:///${f}`).pathname.slice(1);
        if (!/^\.\.?\//.test(s) || !present.has(target)) bad.add(`${s} (in ${f})`);
      }
    }
  }
  if (bad.size > 0) fail(`the bundle still imports ${[...bad].join(", ")}`);
  for (const needed of needs) {
    if (!code.includes(`// ${needed}\n`)) fail(`the bundle lacks ${needed}`);
  }
  return code;
}

/** Modes of a bundle directory: 0755 for directories, 0644 for files. */
function bundleModes(dir: string) {
  Deno.chmodSync(dir, 0o755);
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) bundleModes(`${dir}/${e.name}`);
    else Deno.chmodSync(`${dir}/${e.name}`, 0o644);
  }
}

interface NpmPackage {
  name: string;
  version: string;
  dir: string;
}

/** The npm packages whose code is in the bundle (esbuild's `// path` comment before each
 * module), united with the npm packages of main.ts's module graph (`deno info`). */
async function bundledPackages(code: string): Promise<NpmPackage[]> {
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json"], { cwd: ROOT }));
  const npmCache: string = info.npmCache;
  const found = new Map<string, NpmPackage>();
  const add = (host: string, name: string, version: string) =>
    found.set(`${name}@${version}`, {
      name,
      version,
      dir: `${npmCache}/${host}/${name}/${version}`,
    });
  for (
    const m of code.matchAll(
      /^\/\/ \S*\/npm\/([^/\s]+)\/((?:@[^/\s]+\/)?[^/\s@]+)\/(\d[^/\s]*)\//gm,
    )
  ) {
    add(m[1], m[2], m[3]);
  }
  const graph = JSON.parse(
    await run(Deno.execPath(), ["info", "--json", "main.ts"], { cwd: ROOT }),
  );
  const host = [...found.values()][0]?.dir.slice(npmCache.length + 1).split("/")[0] ??
    "registry.npmjs.org";
  for (const id of Object.keys(graph.npmPackages ?? {})) {
    const m = id.match(/^((?:@[^/]+\/)?[^@]+)@([^_]+)/);
    if (m && !found.has(`${m[1]}@${m[2]}`)) add(host, m[1], m[2]);
  }
  for (const direct of Object.values(CFG.imports as Record<string, string>)) {
    const m = direct.match(/^npm:((?:@[^/]+\/)?[^@]+)@(.+)$/);
    if (m && !found.has(`${m[1]}@${m[2]}`)) fail(`cannot find ${m[1]}@${m[2]} in the bundle`);
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

// ---- 4. licences ----------------------------------------------------------------------------

function licenses(
  dir: string,
  denoLicense: string,
  packages: DebPackage[],
  shipped: (SharedLib & { pkg: string })[],
  npm: NpmPackage[],
) {
  mkdir(dir);
  const index: string[] = [
    `Licences of everything in vgpu-admin ${VERSION} (portable build, ${ARCHIVE_NAME})`,
    "",
    `deno/LICENSE          Deno ${DENO_VERSION} runtime (bin/deno): MIT, from the npm package deno`,
  ];
  mkdir(`${dir}/deno`);
  copy(denoLicense, `${dir}/deno/LICENSE`, 0o644);

  mkdir(`${dir}/common`);
  for (const l of ["LGPL-2.1", "GPL-2", "GPL-3"]) {
    copy(`/usr/share/common-licenses/${l}`, `${dir}/common/${l}`, 0o644);
  }
  for (const p of packages) {
    mkdir(`${dir}/${p.name}`);
    copy(`/usr/share/doc/${p.name}/copyright`, `${dir}/${p.name}/copyright`, 0o644);
    const files = shipped.filter((l) => l.pkg === p.name).map((l) => l.soname).join(", ");
    index.push(
      `${`${p.name}/copyright`.padEnd(22)}${files}: Debian ${p.name} ${p.version} ` +
        `(source ${p.source} ${p.sourceVersion})`,
    );
  }
  const offer = Deno.readTextFileSync(`${ROOT}/packaging/LGPL-offer.txt`)
    .replaceAll("{{VERSION}}", VERSION)
    .replaceAll("{{ARCHIVE}}", ARCHIVE_NAME)
    .replaceAll("{{DEBIAN_RELEASE}}", debianRelease())
    .replaceAll(
      "{{LIBRARIES}}",
      shipped.map((l) =>
        `  lib/${l.soname.padEnd(24)} Debian package ${l.pkg} ${
          packages.find((p) => p.name === l.pkg)!.version
        }`
      ).join("\n"),
    )
    .replaceAll(
      "{{SOURCES}}",
      [...new Set(packages.map((p) => `  ${p.source} ${p.sourceVersion}`))].join("\n"),
    )
    .replaceAll(
      "{{APT_SOURCE}}",
      [...new Set(packages.map((p) => `  apt-get source ${p.source}=${p.sourceVersion}`))]
        .join("\n"),
    );
  write(`${dir}/LGPL-source-offer.txt`, offer);
  index.push(
    "LGPL-source-offer.txt the written offer for the source of the libraries above",
    "common/               full texts of the LGPL-2.1, GPL-2 and GPL-3 the copyright files cite",
    "",
    `npm packages bundled into lib/${APP_DIR}/ (licence files as published):`,
  );
  mkdir(`${dir}/npm`);
  for (const p of npm) {
    const target = `${dir}/npm/${p.name.replace("/", "__")}@${p.version}`;
    const files = [...Deno.readDirSync(p.dir)]
      .filter((e) => e.isFile && /^(licen[cs]e|copying|notice)/i.test(e.name))
      .map((e) => e.name).sort();
    if (files.length === 0) fail(`npm package ${p.name}@${p.version} has no licence file`);
    mkdir(target);
    for (const f of files) copy(`${p.dir}/${f}`, `${target}/${f}`, 0o644);
    const declared = JSON.parse(Deno.readTextFileSync(`${p.dir}/package.json`)).license ?? "?";
    index.push(`  npm/${p.name.replace("/", "__")}@${p.version}/  ${declared}`);
  }
  write(`${dir}/README.txt`, index.join("\n") + "\n");
}

function debianRelease(): string {
  try {
    return `Debian ${Deno.readTextFileSync("/etc/debian_version").trim()}`;
  } catch {
    return "Debian";
  }
}

// ---- 5. the launcher ------------------------------------------------------------------------

function launcher(loader: string): string {
  return fillTemplate("packaging/launcher.sh", {
    VERSION,
    DENO_VERSION,
    PREFIX,
    BUNDLE,
    HOOK_BUNDLE,
    LOADER: loader,
    RUN_FLAGS: RUN_FLAGS.join(" "),
    PERMISSIONS: PERMISSIONS.map(shQuote).join(" "),
  });
}

// ---- the build ------------------------------------------------------------------------------

async function build() {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    fail(`the portable build is for linux x86_64; this is ${Deno.build.os} ${Deno.build.arch}`);
  }
  await run("patchelf", ["--version"]).catch(() =>
    fail("patchelf is not installed: apt-get install patchelf")
  );
  const work = Deno.makeTempDirSync({ prefix: "vgpu-admin-portable-" });
  try {
    const stage = `${work}/root`;
    const opt = `${stage}${PREFIX}`;
    for (const d of [stage, `${stage}/opt`, opt, `${opt}/bin`, `${opt}/lib`]) mkdir(d);

    const runtime = await fetchRuntime(work);
    const glibc = await minimumGlibc(runtime.elf);
    console.log(`    upstream deno ${DENO_VERSION} needs glibc >= ${glibc} (objdump -T)`);

    step("ldd closure of bin/deno");
    const { libs, loader } = await lddClosure(runtime.elf);
    const shipped: (SharedLib & { pkg: string })[] = [];
    const packages: DebPackage[] = [];
    for (const lib of [loader, ...libs]) {
      const pkg = await owningPackage(lib);
      if (!packages.some((p) => p.name === pkg.name)) packages.push(pkg);
      copy(lib.real, `${opt}/lib/${lib.soname}`, 0o755);
      shipped.push({ ...lib, pkg: pkg.name });
    }
    console.log(`    lib/: ${shipped.map((l) => l.soname).join(" ")}`);

    step("patchelf bin/deno");
    copy(runtime.elf, `${opt}/bin/deno`, 0o755);
    await run("patchelf", [
      "--set-interpreter",
      `${PREFIX}/lib/${loader.soname}`,
      "--set-rpath",
      `${PREFIX}/lib`,
      `${opt}/bin/deno`,
    ]);
    const interp = (await run("patchelf", ["--print-interpreter", `${opt}/bin/deno`])).trim();
    const rpath = (await run("patchelf", ["--print-rpath", `${opt}/bin/deno`])).trim();
    if (interp !== `${PREFIX}/lib/${loader.soname}` || rpath !== `${PREFIX}/lib`) {
      fail(`patchelf left interpreter ${interp}, rpath ${rpath}`);
    }

    step(`deno bundle --code-splitting main.ts and the commands -> lib/${APP_DIR}/`);
    const missing = await bundle(`${opt}/lib/${APP_DIR}`);
    const app = `${opt}/lib/${APP_DIR}`;
    for (
      const need of [
        "main.js",
        ...MAIN_ENTRIES.slice(1).map((e) => e.replace(/\.ts$/, ".js")),
      ]
    ) {
      try {
        Deno.statSync(`${app}/${need}`);
      } catch {
        fail(
          `deno bundle wrote no lib/${APP_DIR}/${need} (main.ts or command-loaders.ts names it)`,
        );
      }
    }
    bundleModes(app);
    const code = checkBundle(app, missing);

    step(`deno bundle --code-splitting hook.ts -> lib/${HOOK_DIR}/`);
    const hookMissing = await bundle(`${opt}/lib/${HOOK_DIR}`, HOOK_ENTRIES);
    const hook = `${opt}/lib/${HOOK_DIR}`;
    for (const need of ["hook.js", "src/hook/slow.js"]) {
      try {
        Deno.statSync(`${hook}/${need}`);
      } catch {
        fail(`deno bundle wrote no lib/${HOOK_DIR}/${need} (src/hook/slow-path.ts names slow.js)`);
      }
    }
    bundleModes(hook);
    checkBundle(hook, hookMissing, ["src/hook/main.ts"]);

    step("launcher, licences");
    write(`${opt}/bin/vgpu-admin`, launcher(loader.soname), 0o755);
    const npm = await bundledPackages(code);
    licenses(`${opt}/licenses`, runtime.license, packages, shipped, npm);
    write(
      `${opt}/BUILD-INFO`,
      [
        `vgpu-admin ${VERSION}`,
        `deno ${DENO_VERSION} (npm ${RUNTIME_PACKAGE}@${DENO_VERSION}, patched: interpreter ` +
        `${interp}, runpath ${rpath})`,
        `bundle lib/${APP_DIR}/ (${
          bundleFiles(app).length
        } files, entry main.js): ${npm.length} npm packages` +
        (missing.length ? `; missing modules left as failing imports: ${missing.join(" ")}` : ""),
        ...packages.map((p) => `${p.name} ${p.version} (source ${p.source} ${p.sourceVersion})`),
        `upstream deno ${DENO_VERSION} needs glibc >= ${glibc} (highest GLIBC_ version in ` +
        "objdump -T); this archive needs none from the host",
        `built on ${debianRelease()}, ${new Date().toISOString().slice(0, 10)}`,
        `run flags: ${[...RUN_FLAGS, ...PERMISSIONS].join(" ")}`,
        "",
      ].join("\n"),
    );

    step("smoke test: the launcher, on the shipped runtime, with an empty DENO_DIR");
    await smokeTest(opt, work);

    step(`tar ${ARCHIVE_NAME}`);
    Deno.mkdirSync(`${ROOT}/dist`, { recursive: true });
    const tmp = `${ARCHIVE}.tmp-${Deno.pid}`;
    await run("tar", [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "-C",
      stage,
      "-czf",
      tmp,
      PREFIX.slice(1),
    ]);
    Deno.renameSync(tmp, ARCHIVE);
    const size = Deno.statSync(ARCHIVE).size;
    console.log(
      `built ${ARCHIVE} (${(size / 1048576).toFixed(1)} MiB) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s; unpack at / to ${PREFIX}/`,
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}

/** The staged tree is not at /opt/vgpu-admin here, so the launcher takes its moved-tree path
 * (the shipped ld.so run explicitly): the same libraries, bundle and flags as installed. */
async function smokeTest(opt: string, work: string) {
  const home = `${work}/home`;
  mkdir(home);
  const env = { PATH: "/usr/bin:/bin", HOME: home, LC_ALL: "C" };
  const cli = (...args: string[]) =>
    run(`${opt}/bin/vgpu-admin`, args, { clearEnv: true, env, cwd: work });
  const version = (await cli("--version")).trim();
  if (version !== VERSION) fail(`the launcher printed version ${JSON.stringify(version)}`);
  if (!(await cli("schema")).includes("CREATE TABLE")) fail("'schema' printed no SQL");
  // read commands never create a database (design.md §7): a setting creates it first
  await cli("settings", "xe-timeout", "30", `--db=${work}/smoke.db`);
  const pools = await cli("list-pools", `--db=${work}/smoke.db`);
  if (!pools.includes("Pool A")) fail(`'list-pools' printed ${JSON.stringify(pools)}`);
  const denoDir = `${home}/.cache/vgpu-admin/deno-${DENO_VERSION}`;
  for (const e of walk(denoDir)) {
    if (e.endsWith("/package.json")) fail(`the bundle fetched npm packages into ${denoDir}`);
  }
}

function* walk(dir: string): Generator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    yield p;
    if (e.isDirectory) yield* walk(p);
  }
}

if (import.meta.main) await buildMain("portable", build);

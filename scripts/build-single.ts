// deno task build:single: dist/vgpu-admin-<version>-linux-x64, ONE executable for dom0 (issue 19
// item 4): packaging/single.sh followed by the portable build's tree (runtime, C library, bundles,
// licences) uncompressed. On first run it unpacks itself with dd and checks every file with
// sha256sum (both in coreutils, and built into busybox's sh), into a private cache; see the
// header of packaging/single.sh.
//
// Input: the portable archive (dist/vgpu-admin-<version>-linux-x64.tar.gz, built first when
// missing, or --archive=PATH). Checks the result before writing it: it runs --version, `schema`
// and the hook's entry from a fresh cache (VGPU_RUNTIME_DIR), twice (the second run from the
// sealed cache).
// deno-lint-ignore-file no-console
import { createHash } from "node:crypto";
import {
  buildMain,
  fail,
  fillTemplate,
  PERMISSIONS,
  portableArchive,
  ROOT,
  run,
  RUN_FLAGS,
  shQuote,
  VERSION,
} from "./build-common.ts";

const OUT = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64`;
const PREFIX = "opt/vgpu-admin";
const BLOCK = 4096;

interface Entry {
  path: string; // relative to the tree, "dir/" for a directory
  mode: number;
  size: number;
  offset: number;
  sha256: string;
}

/** Every directory ("dir/") and regular file under `tree`, sorted; anything else refuses. */
function walk(tree: string, rel = ""): { path: string; dir: boolean }[] {
  const out: { path: string; dir: boolean }[] = [];
  const here = rel === "" ? tree : `${tree}/${rel}`;
  const names = [...Deno.readDirSync(here)].map((e) => e.name).sort();
  for (const name of names) {
    const p = rel === "" ? name : `${rel}/${name}`;
    const st = Deno.lstatSync(`${tree}/${p}`);
    if (st.isDirectory) {
      out.push({ path: `${p}/`, dir: true });
      out.push(...walk(tree, p));
    } else if (st.isFile) out.push({ path: p, dir: false });
    else fail(`${p} in the portable tree is neither a file nor a directory`);
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function build(archive: string): Promise<void> {
  const work = Deno.makeTempDirSync({ prefix: "vgpu-admin-single-" });
  try {
    await run("tar", ["-xzf", archive, "-C", work]);
    const tree = `${work}/${PREFIX}`;
    const loader = [...Deno.readDirSync(`${tree}/lib`)].map((e) => e.name)
      .find((n) => /^ld-linux.*\.so/.test(n));
    if (loader === undefined) fail(`${archive} holds no lib/ld-linux*.so*`);
    const found = walk(tree);
    const entries: Entry[] = [];
    const blobs: Uint8Array[] = [];
    let offset = 0;
    for (const e of found) {
      if (e.dir) {
        entries.push({ path: e.path, mode: 0o755, size: 0, offset: 0, sha256: "-" });
        continue;
      }
      const bytes = Deno.readFileSync(`${tree}/${e.path}`);
      const mode = (Deno.statSync(`${tree}/${e.path}`).mode ?? 0o644) & 0o777;
      entries.push({ path: e.path, mode, size: bytes.length, offset, sha256: sha256(bytes) });
      blobs.push(bytes);
      offset += bytes.length;
    }
    for (const need of ["bin/deno", "lib/app/main.js", "lib/hook/hook.js", `lib/${loader}`]) {
      if (!entries.some((e) => e.path === need)) fail(`${archive} holds no ${need}`);
    }
    const manifest = entries.map((e) =>
      `${e.offset} ${e.size} ${e.mode.toString(8)} ${e.sha256} ${e.path}`
    ).join("\n");
    for (const e of entries) {
      if (!/^[\w@+.,/-]+$/.test(e.path)) fail(`unexpected file name ${JSON.stringify(e.path)}`);
    }
    const hash = sha256(new TextEncoder().encode(`${VERSION}\n${manifest}\n`)).slice(0, 16);
    // sealed: what the program runs or loads (not the licences, BUILD-INFO or the launcher)
    // relative to the copy (single.sh's seal_stat runs inside it); the names are checked above
    const sealList = entries.map((e) => e.path.replace(/\/$/, ""))
      .filter((p) => p === "bin" || p === "bin/deno" || p === "lib" || p.startsWith("lib/"))
      .join(" ");
    const manifestBytes = new TextEncoder().encode(`${manifest}\n`);
    const render = (payloadStart: number, manifestStart: number) =>
      fillTemplate("packaging/single.sh", {
        VERSION,
        DENO_VERSION: Deno.version.deno,
        HASH: hash,
        PAYLOAD_START: String(payloadStart).padEnd(12, " "),
        MANIFEST_START: String(manifestStart).padEnd(12, " "),
        MANIFEST_LEN: String(manifestBytes.length),
        ENTRIES: String(entries.length),
        NEED_MB: String(Math.ceil(offset / 1048576) + 1),
        SEAL_LIST: sealList,
        BUNDLE: "app/main.js",
        HOOK_BUNDLE: "hook/hook.js",
        LOADER: loader,
        RUN_FLAGS: RUN_FLAGS.join(" "),
        PERMISSIONS: PERMISSIONS.map(shQuote).join(" "),
      });
    // the script, then the manifest (read by dd when unpacking, never parsed: the script ends in
    // exec), newlines up to a block boundary, then the files
    const len = new TextEncoder().encode(render(0, 0)).length;
    const start = Math.ceil((len + manifestBytes.length + 1) / BLOCK) * BLOCK;
    const header = new TextEncoder().encode(render(start, len));
    if (header.length !== len) fail("the header's length changed with the payload offset");
    const out = new Uint8Array(start + offset);
    out.set(header, 0);
    out.set(manifestBytes, len);
    out.fill(0x0a, len + manifestBytes.length, start);
    let at = start;
    for (const b of blobs) {
      out.set(b, at);
      at += b.length;
    }
    Deno.mkdirSync(`${ROOT}/dist`, { recursive: true });
    const tmp = `${OUT}.tmp-${Deno.pid}`;
    try {
      Deno.writeFileSync(tmp, out, { mode: 0o755 });
      Deno.chmodSync(tmp, 0o755);
      await smokeTest(tmp, work);
      Deno.renameSync(tmp, OUT);
    } catch (e) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // never written
      }
      throw e;
    }
    console.log(
      `built ${OUT} (${(out.length / 1048576).toFixed(1)} MiB, ${entries.length} entries, ` +
        `runtime ${hash}); copy it to /usr/local/bin/vgpu-admin`,
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}

/** Runs the file from a fresh cache, then from the sealed cache: --version, schema, the hook. */
async function smokeTest(file: string, work: string): Promise<void> {
  const cache = `${work}/cache`;
  const env = {
    PATH: "/usr/bin:/bin",
    HOME: `${work}/home`,
    LC_ALL: "C",
    VGPU_RUNTIME_DIR: cache,
  };
  for (const round of [1, 2]) {
    const version = (await run(file, ["--version"], { clearEnv: true, env })).trim();
    if (version !== VERSION) fail(`round ${round}: --version printed ${JSON.stringify(version)}`);
  }
  if (!(await run(file, ["schema"], { clearEnv: true, env })).includes("CREATE TABLE")) {
    fail("'schema' printed no SQL");
  }
  const r = await new Deno.Command(file, {
    args: ["startup-hook", "--vm-uuid=bad"],
    clearEnv: true,
    env: { ...env, VGPU_LOG: `${work}/hook.log` },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  if (r.code !== 1 || !err.includes("startup-hook: invalid --vm-uuid")) {
    fail(`the hook's entry answered exit ${r.code}: ${err}`);
  }
}

if (import.meta.main) {
  await buildMain("single", async () => {
    const arg = Deno.args.find((a) => a.startsWith("--archive="));
    await build(await portableArchive(arg === undefined ? null : arg.slice("--archive=".length)));
  });
}

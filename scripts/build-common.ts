// What the three builds share (build-portable.ts, build-rpm.ts, build-single.ts): where the
// source tree is, its version and run flags, the one way to run a tool and to fail, shell
// quoting, the packaging templates' @PLACEHOLDERS@, and the portable archive the RPM and the
// single file are made from (built first when missing).
// deno-lint-ignore-file no-console
import { cliRunFlags } from "./cli-flags.ts";

export const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
export const CFG = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
export const VERSION: string = CFG.version;
/** The permission and V8 flags of `deno task cli`: the launcher and the single file run with them. */
export const PERMISSIONS: string[] = cliRunFlags(CFG);
/** deno run flags besides permissions: no config, lock file, network or npm resolution. */
export const RUN_FLAGS = ["--no-config", "--no-lock", "--no-remote", "--cached-only"];
/** The portable archive (build:portable), which build:rpm and build:single start from. */
export const ARCHIVE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64.tar.gz`;

/** A failure of the build, said in one line by buildMain. */
export class BuildError extends Error {}

export function fail(message: string): never {
  throw new BuildError(message);
}

/**
 * Runs a tool and returns its stdout. A tool that is not installed fails naming it (`hint`: how
 * to get it); a non-zero exit fails quoting its stderr and stdout.
 */
export async function run(
  cmd: string,
  args: string[],
  o: Deno.CommandOptions & { hint?: string } = {},
): Promise<string> {
  const { hint, ...options } = o;
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command(cmd, { args, stdin: "null", ...options }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      fail(`'${cmd}' is not installed (needed to build${hint ? `; ${hint}` : ""})`);
    }
    throw e;
  }
  const dec = new TextDecoder();
  if (r.code !== 0) {
    const said = [dec.decode(r.stderr).trimEnd(), dec.decode(r.stdout).trimEnd()]
      .filter((t) => t !== "").join("\n");
    fail(`${cmd} ${args.join(" ")} exited ${r.code}:\n${said}`);
  }
  return dec.decode(r.stdout);
}

/** A word as sh reads it back: as is when safe, else single-quoted. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The template `file` (relative to the tree) with every @KEY@ of `values` filled in; a
 * placeholder left over is a build error. */
export function fillTemplate(file: string, values: Record<string, string>): string {
  let out = Deno.readTextFileSync(`${ROOT}/${file}`);
  for (const [k, v] of Object.entries(values)) out = out.replaceAll(`@${k}@`, () => v);
  const left = out.match(/@[A-Z_]+@/);
  if (left) fail(`${file}: unknown placeholder ${left[0]}`);
  return out;
}

/**
 * The archive to start from: `given` (which must exist), else dist/'s, built first when missing
 * or when `o.rebuild` (build:rpm without --archive builds it afresh).
 */
export async function portableArchive(
  given: string | null,
  o: { rebuild?: boolean } = {},
): Promise<string> {
  if (given === null) {
    try {
      if (o.rebuild === true) throw new Error("rebuild");
      Deno.statSync(ARCHIVE);
      return ARCHIVE;
    } catch {
      console.log("--- deno task build:portable");
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${ROOT}/scripts/build-portable.ts`],
        cwd: ROOT,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (r.code !== 0) fail("build:portable failed (above)");
      return ARCHIVE;
    }
  }
  try {
    return Deno.realPathSync(given);
  } catch {
    fail(`no archive at ${given}`);
  }
}

/** Runs a build as its task's entry: a BuildError is one `error: build:<name>: …` line, exit 1. */
export async function buildMain(name: string, build: () => Promise<void>): Promise<void> {
  try {
    await build();
  } catch (e) {
    if (!(e instanceof BuildError)) throw e;
    console.error(`error: build:${name}: ${e.message}`);
    Deno.exit(1);
  }
}

// deno task bench: what is measured, how often, and against which bounds (issue 4, issue 12).
// deno-lint-ignore-file no-console
import { CLI_PERMISSIONS, cliCommand, ROOT } from "../../tests/helpers.ts";

export { CLI_PERMISSIONS, ROOT };

export const QUICK = Deno.env.get("BENCH_QUICK") === "1";
export const RUNS = (() => {
  const raw = Deno.env.get("BENCH_RUNS");
  const n = raw === undefined || raw === "" ? (QUICK ? 1 : 5) : Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`BENCH_RUNS must be a positive integer, got ${JSON.stringify(raw)}`);
    Deno.exit(2);
  }
  return n;
})();
export const SCAN_SIZES = QUICK ? [10, 200] : [10, 1000, 5000];
export const LIST_SIZES = QUICK ? [10, 500] : [10, 10000];
export const IMPORT_SIZE = QUICK ? 500 : 10000;
/** VMs per scan host whose platform line is ambiguous (a value holding "; "): one extra call each. */
export const AMBIGUOUS = 2;
export const POLL_MS = 5;
/** Start-up figures are cheap and the most sensitive to noise: three times the runs (≥ 15). */
export const COLD_RUNS = Math.max(RUNS * 3, QUICK ? 1 : 15);

export const TARGET_COLD_RATIO = 2;
/** Portable build against `deno run` of the same source (issue 12). */
export const TARGET_PORTABLE_RATIO = 1.15;
/** The single file (build:single) after its first run, against the portable launcher (issue 19). */
export const TARGET_SINGLE_RATIO = 1.1;
/** startup-hook against a floor doing the same unavoidable work (issue 12). */
export const TARGET_HOOK_FLOOR_RATIO = 1.3;
/** --version against the bare-Deno floor (issue 12). */
export const TARGET_VERSION_RATIO = 1.3;
export const TARGET_LIST_FACTOR = 1.3;
export const TARGET_IMPORT_MS = 2000;
export const TARGET_RSS_MB = 100;

export const DENO = Deno.execPath();
export const CLI = cliCommand();
/** The hooks' own entry (issue 19): what the launcher runs for `startup-hook`, in source form. */
export const HOOK_CLI = Deno.env.get("VGPU_ADMIN_BIN")
  ? CLI
  : [DENO, "run", "--quiet", "--no-prompt", ...CLI_PERMISSIONS, `${ROOT}/hook.ts`];
export const CLI_LABEL = Deno.env.get("VGPU_ADMIN_BIN")
  ? `VGPU_ADMIN_BIN=${CLI[0]}`
  : `deno run --quiet --no-prompt ${CLI_PERMISSIONS.join(" ")} main.ts`;
/** deno run flags of the portable launcher besides permissions (scripts/build-portable.ts). */
export const BUNDLE_FLAGS = ["--no-config", "--no-lock", "--no-remote", "--cached-only"];
export const VERSION: string = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version;
/** The single file (deno task build:single), measured against the archive it was made from. */
export const SINGLE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64`;
/** The portable archive, measured through its own launcher when it has been built. */
export const ARCHIVE = `${ROOT}/dist/vgpu-admin-${VERSION}-linux-x64.tar.gz`;

/** The programs the bench runs besides the CLI (scripts/bench/programs/). */
export const PROGRAMS = `${ROOT}/scripts/bench/programs`;

export const VM_LIST_ARGS = [
  "vm-list",
  "is-control-domain=false",
  "params=uuid,name-label,power-state,resident-on,is-control-domain,platform",
];

export function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

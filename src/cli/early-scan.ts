// scan-vms' vm-list spawned by main.ts before the command loads (issue 19: at 10 VMs the scan
// was ~2.3× one vm-list before doing any work of its own, because xe started only after our
// modules and the database open). Only a line the parser surely runs as scan-vms spawns it; the
// runner takes it over (src/xe/early.ts), and main.ts releases it at exit otherwise.
import { type EarlyXe, startEarly } from "../xe/early.ts";
import { DEEP_SCAN_VM_LIST, SCAN_VM_LIST } from "../xe/read-argv.ts";
import type { Env } from "./deps.ts";

/** The early vm-list of a scan-vms command line, or null (nothing spawned). */
export function startEarlyScan(argv: readonly string[], env: Env): EarlyXe | null {
  return surely(argv, ["scan-vms"], SCAN_OPTIONS)
    ? startEarly(argv.includes("--deep") ? DEEP_SCAN_VM_LIST : SCAN_VM_LIST, env, {
      readOnly: true,
    })
    : null;
}

const SCAN_OPTIONS = new Set(["--deep", "--format=json", "--format=table"]);

/**
 * `[--db P] <command words> [options] [--db P]`, the options in any order after the command,
 * each once: a line the parser runs as that command (scan-vms; `pool status` in early-pool.ts).
 * Anything else (help, a typo, another command) is left to the parser, with nothing spawned.
 */
export function surely(
  argv: readonly string[],
  words: readonly string[],
  options: ReadonlySet<string>,
): boolean {
  const seen = new Set<string>();
  let i = 0;
  const db = () => {
    if (seen.has("--db")) return false;
    seen.add("--db");
    if (argv[i] === "--db") i++; // its value, whatever it is
    return i < argv.length;
  };
  for (; i < argv.length && argv[i] !== words[0]; i++) {
    if (!(argv[i] === "--db" || argv[i].startsWith("--db=")) || !db()) return false;
  }
  for (const w of words) if (argv[i++] !== w) return false;
  for (; i < argv.length; i++) {
    let a = argv[i];
    if (a === "--db" || a.startsWith("--db=")) {
      if (!db()) return false;
      continue;
    }
    if (a === "--format" && i + 1 < argv.length) a = `--format=${argv[++i]}`;
    const name = a.split("=")[0];
    if (!options.has(a) || seen.has(name)) return false;
    seen.add(name);
  }
  return true;
}

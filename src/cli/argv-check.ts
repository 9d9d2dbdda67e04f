// Option errors of a command line, worded in the documented `--name=value` form, before commander
// sees it: an unknown option (either form) with the closest option of that command, an option
// given twice, a switch given a value, a missing value, then a missing required option (an
// unknown `--pool` must be reported before "--pool-id not specified": it is what the user meant).
// Runs only when the fast parser declined the line, so a well-formed line never pays for it.
import {
  COMMANDS,
  type CommandSpec,
  DB_OPTION,
  optionForm,
  type OptionSpec,
} from "./command-table.ts";

export interface ArgvProblem {
  /** The command the line names (the start hook maps usage errors to exit 1). */
  command: string;
  /** One line, without "error: ". */
  message: string;
}

const long = (o: OptionSpec) => o.flags.split(" ")[0];
const takesValue = (o: OptionSpec) => o.flags.includes(" <");

/** Optimal string alignment distance (an adjacent swap counts as one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known option the user most likely meant by `typed` (both with "--"), or null: one that
 * names the same thing more fully (`--pool` → `--pool-id`, `--uuid` → `--vm-uuid`), else the
 * nearest spelling within a third of its length (`--priorty` → `--priority`).
 */
export function closestOption(typed: string, known: readonly string[]): string | null {
  const t = typed.slice(2).toLowerCase();
  if (t === "") return null;
  const words = known.filter((k) => {
    const n = k.slice(2);
    return n.endsWith(`-${t}`) || n.startsWith(`${t}-`) || t.startsWith(`${n}-`) ||
      t.endsWith(`-${n}`);
  });
  if (words.length > 0) return words[0];
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(t.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(t, k.slice(2));
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function unknown(spec: CommandSpec, name: string, known: readonly string[]): string {
  const meant = closestOption(name, known);
  return meant === null
    ? `unknown option ${name} for ${spec.name}: see 'vgpu-admin ${spec.name} --help'`
    : `unknown option ${name} for ${spec.name}: did you mean ${meant}?`;
}

/**
 * The first option error of `argv`, or null when there is none or the line is one for commander
 * to answer (help, version, short options, no or an unknown command).
 */
export function argvProblem(argv: readonly string[]): ArgvProblem | null {
  const seen = new Set<string>();
  let i = 0;
  let globalDb = 0;
  // Global --db before the command.
  while (i < argv.length && argv[i].startsWith("--")) {
    const name = argv[i].split("=")[0];
    if (name === "--help" || name === "--version") return null;
    if (name !== "--db") {
      const meant = closestOption(name, ["--db", "--help", "--version"]);
      const hint = meant === null ? "see 'vgpu-admin --help'" : `did you mean ${meant}?`;
      return { command: "", message: `unknown option ${name}: ${hint}` };
    }
    if (argv[i] === "--db" && i + 1 >= argv.length) {
      return { command: "", message: `option --db needs a value: ${optionForm(DB_OPTION)}` };
    }
    i += argv[i] === "--db" ? 2 : 1;
    globalDb++;
  }
  const spec = COMMANDS.find((c) => c.name === argv[i]);
  if (spec === undefined) return null;
  const problem = (message: string): ArgvProblem => ({ command: spec.name, message });
  if (globalDb > 1) return problem("option --db given twice: give it once");
  if (globalDb === 1) seen.add("--db");
  const options = [...spec.options, DB_OPTION];
  const known = options.map(long);
  for (i++; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") break;
    if (a === "--help" || a === "--version") return null;
    if (!a.startsWith("--")) {
      if (a.startsWith("-") && a !== "-") return null; // -h, -V, -x: commander's
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    const o = options.find((x) => long(x) === name);
    if (o === undefined) return problem(unknown(spec, name, known));
    if (seen.has(name)) return problem(`option ${name} given twice: give it once`);
    seen.add(name);
    if (!takesValue(o)) {
      if (eq > 0) return problem(`option ${name} takes no value: give ${name} alone`);
      continue;
    }
    // As commander does, `--name value` takes the next word whatever it looks like.
    if (eq < 0 && ++i >= argv.length) {
      return problem(`option ${name} needs a value: ${optionForm(o)}`);
    }
  }
  const missing = spec.options.find((o) => o.required && !seen.has(long(o)));
  if (missing !== undefined) {
    return problem(
      `required option ${optionForm(missing)} not specified: see 'vgpu-admin ${spec.name} --help'`,
    );
  }
  return null;
}

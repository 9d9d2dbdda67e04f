// The one parser of a command line (issue 20 item 5): every command line, well-formed or not, is
// read here against the command table, in one pass, with one set of rules: what runs, which help
// or version to print, or the usage error to report. No npm package is loaded (commander cost
// ~28 ms of every start that reached it: docs/benchmark.md). Help text is laid out by help.ts,
// loaded only when help is printed.
import {
  COMMANDS,
  type CommandSpec,
  DB_OPTION,
  optionForm,
  type OptionSpec,
  type Selected,
} from "./command-table.ts";

export type ParsedArgv =
  /** Run this command. */
  | { kind: "run"; selected: Selected }
  /** Print the version (exit 0). */
  | { kind: "version" }
  /**
   * Print the help of `command` (null: the program's). `usage`: no command was given, so the
   * help goes to stderr and the exit code is the usage error's.
   */
  | { kind: "help"; command: CommandSpec | null; usage: boolean }
  /** A usage error: one line without "error: "; `command` is the one the line names, or "". */
  | { kind: "error"; command: string; message: string };

/** `--vm-uuid` → `vmUuid`: the key of an option's value in Selected.raw. */
export function optionKey(long: string): string {
  return long.slice(2).replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

const long = (o: OptionSpec) => o.flags.split(" ")[0];
const takesValue = (o: OptionSpec) => o.flags.includes(" <");
const NEGATIVE_NUMBER = /^-(\d+|\d*\.\d+)([eE][+-]?\d+)?$/;
const isHelp = (a: string) => a === "--help" || a === "-h";
const isVersion = (a: string) => a === "--version" || a === "-V";

/**
 * Reads `argv` (without the program name). Options come as `--name=value` or `--name value` (the
 * next word, whatever it looks like, as commander read it); `--db` may come before or after the
 * command; `--` ends the options; the first error, help or version request in the line wins.
 */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  let i = 0;
  let db: string | undefined;
  let globalDb = 0;
  // The program's own options, before the command.
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (isHelp(a)) return { kind: "help", command: null, usage: false };
    if (isVersion(a)) return { kind: "version" };
    if (!a.startsWith("-") || a === "-") break;
    if (a === "--db") {
      if (i + 1 >= argv.length) {
        return usage("", `option --db needs a value: ${optionForm(DB_OPTION)}`);
      }
      db = argv[++i];
    } else if (a.startsWith("--db=")) db = a.slice("--db=".length);
    else if (!a.startsWith("--")) return usage("", `unknown option '${a}'`);
    else {
      const name = a.split("=")[0];
      const meant = closestOption(name, ["--db", "--help", "--version"]);
      const hint = meant === null ? "see 'vgpu-admin --help'" : `did you mean ${meant}?`;
      return usage("", `unknown option ${name}: ${hint}`);
    }
    globalDb++;
  }
  if (i >= argv.length) return { kind: "help", command: null, usage: true };
  if (argv[i] === "help") {
    const topic = argv[i + 1];
    if (topic === undefined) return { kind: "help", command: null, usage: false };
    const spec = COMMANDS.find((c) => c.name === topic);
    return { kind: "help", command: spec ?? null, usage: spec === undefined };
  }
  let name = argv[i];
  let rest = i + 1;
  // `pool <verb>` is `pool-<verb>`: pool mode's documented two-word form (design.md §8), after
  // the program's own options like any command name
  if (name === "pool") {
    const verb = argv[i + 1];
    if (verb === undefined || !COMMANDS.some((c) => c.name === `pool-${verb}`)) {
      return usage(
        "",
        "'pool' needs one of: enable, status, reconcile, disable (e.g. 'vgpu-admin pool status --help')",
      );
    }
    name = `pool-${verb}`;
    rest = i + 2;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) {
    return usage("", `unknown command '${name}'${suggestCommand(name)}`);
  }
  return parseCommand(spec, argv.slice(rest), db, globalDb);
}

function usage(command: string, message: string): ParsedArgv {
  return { kind: "error", command, message };
}

/** The words after the command name. */
function parseCommand(
  spec: CommandSpec,
  words: readonly string[],
  globalDb: string | undefined,
  globalDbCount: number,
): ParsedArgv {
  const problem = (message: string) => usage(spec.name, message);
  if (globalDbCount > 1) return problem("option --db given twice: give it once");
  const seen = new Set<string>(globalDbCount === 1 ? ["--db"] : []);
  const options = [...spec.options, DB_OPTION];
  const raw: Record<string, unknown> = {};
  const args: string[] = [];
  let db = globalDb;
  for (let i = 0; i < words.length; i++) {
    const a = words[i];
    if (a === "--") {
      args.push(...words.slice(i + 1));
      break;
    }
    if (isHelp(a)) return { kind: "help", command: spec, usage: false };
    if (isVersion(a)) return { kind: "version" };
    // A negative number is an argument, not an option (`settings xe-timeout -1`), as commander had it.
    if (!a.startsWith("-") || a === "-" || NEGATIVE_NUMBER.test(a)) {
      args.push(a);
      continue;
    }
    if (!a.startsWith("--")) return problem(`unknown option '${a}'`);
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    const o = options.find((x) => long(x) === name);
    if (o === undefined) return problem(unknownOption(spec, name, options.map(long)));
    if (seen.has(name)) return problem(`option ${name} given twice: give it once`);
    seen.add(name);
    if (!takesValue(o)) {
      if (eq > 0) return problem(`option ${name} takes no value: give ${name} alone`);
      raw[optionKey(name)] = true;
      continue;
    }
    if (eq < 0 && i + 1 >= words.length) {
      return problem(`option ${name} needs a value: ${optionForm(o)}`);
    }
    const value = eq > 0 ? a.slice(eq + 1) : words[++i];
    if (o === DB_OPTION) db = value;
    else raw[optionKey(name)] = value;
  }
  // An unknown or repeated option is reported before a missing one: it is what the user meant.
  const both = spec.options.find((o) => o.or !== undefined && seen.has(long(o)) && seen.has(o.or));
  if (both !== undefined) {
    return problem(`give ${long(both)} or ${both.or}, not both`);
  }
  const missing = spec.options.find((o) =>
    o.required && !seen.has(long(o)) && !(o.or !== undefined && seen.has(o.or))
  );
  if (missing !== undefined) {
    return problem(
      `required option ${optionForm(missing)}${
        missing.or === undefined ? "" : ` (or ${orForm(spec, missing.or)})`
      } not specified: see 'vgpu-admin ${spec.name} --help'`,
    );
  }
  const declared = spec.args ?? [];
  const needed = declared.filter((a) => a.name.startsWith("<"));
  if (args.length < needed.length) {
    return problem(`missing required argument '${needed[args.length].name.slice(1, -1)}'`);
  }
  if (args.length > declared.length) {
    const n = declared.length;
    return problem(
      `too many arguments for '${spec.name}'. Expected ${n} argument${
        n === 1 ? "" : "s"
      } but got ${args.length}: ${args.join(", ")}.`,
    );
  }
  return { kind: "run", selected: { name: spec.name, raw: { ...raw, args }, db } };
}

function unknownOption(spec: CommandSpec, name: string, known: readonly string[]): string {
  const meant = closestOption(name, known);
  return meant === null
    ? `unknown option ${name} for ${spec.name}: see 'vgpu-admin ${spec.name} --help'`
    : `unknown option ${name} for ${spec.name}: did you mean ${meant}?`;
}

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

/**
 * ` (Did you mean list-vms?)` for an unknown command, or "": the commands (and `help`) within 3
 * edits and more than 40 % alike, the nearest ones, as commander suggested them.
 */
function suggestCommand(word: string): string {
  let best: string[] = [];
  let bestDistance = 3;
  for (const name of [...COMMANDS.map((c) => c.name), "help"]) {
    const distance = Math.abs(word.length - name.length) > 3
      ? Math.max(word.length, name.length)
      : editDistance(word, name);
    const length = Math.max(word.length, name.length);
    if ((length - distance) / length <= 0.4) continue;
    if (distance < bestDistance) [best, bestDistance] = [[name], distance];
    else if (distance === bestDistance) best.push(name);
  }
  best.sort((a, b) => a.localeCompare(b));
  if (best.length > 1) return ` (Did you mean one of ${best.join(", ")}?)`;
  return best.length === 1 ? ` (Did you mean ${best[0]}?)` : "";
}

/** `--vm=<name|uuid>`: the documented form of the option given instead of a required one. */
function orForm(spec: CommandSpec, name: string): string {
  const o = spec.options.find((x) => long(x) === name);
  return o === undefined ? name : optionForm(o);
}

// The fast path of argument parsing: a well-formed command line is parsed against the command
// table without loading commander (any npm package costs ~22 ms of start-up, measured).
import { COMMANDS, DB_OPTION, type Selected } from "./command-table.ts";

/** `--vm-uuid` → `vmUuid`, as commander names an option's value. */
export function optionKey(long: string): string {
  return long.slice(2).replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/**
 * The fast path: parses a well-formed command line against COMMANDS without loading commander
 * (any npm package costs ~22 ms of start-up, measured; the hook runs at every VM start).
 * Returns null for anything else (help, version, unknown or repeated options, missing values,
 * short options, a value that starts with "-"): commander then parses it, prints help or the
 * error, so both paths accept exactly the same command lines with the same meaning.
 */
export function fastParse(argv: readonly string[]): Selected | null {
  const spec = COMMANDS.find((c) => c.name === argv[0]);
  if (spec === undefined) return null;
  const raw: Record<string, unknown> = {};
  const args: string[] = [];
  let db: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const long = eq > 0 ? a.slice(0, eq) : a;
      const o = long === "--db"
        ? DB_OPTION
        : spec.options.find((x) => x.flags.split(" ")[0] === long);
      if (o === undefined) return null;
      const key = optionKey(long);
      if (key in raw || (long === "--db" && db !== undefined)) return null;
      let value: string | true = true;
      if (o.flags.includes(" <")) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined || (eq < 0 && v.startsWith("-"))) return null;
        value = v;
      } else if (eq > 0) return null;
      if (long === "--db") db = value as string;
      else raw[key] = value;
    } else if (a.startsWith("-") && a !== "-") {
      return null;
    } else {
      args.push(a);
    }
  }
  if (spec.options.some((o) => o.required && !(optionKey(o.flags.split(" ")[0]) in raw))) {
    return null;
  }
  const declared = spec.args ?? [];
  const needed = declared.filter((a) => a.name.startsWith("<")).length;
  if (args.length < needed || args.length > declared.length) return null;
  return { name: spec.name, raw: { ...raw, args }, db };
}

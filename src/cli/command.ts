// The one contract every command file fulfils (style.md rules 2 and 3): a flag layer that turns
// the parsed command line into a typed Options value, and a runner that takes those options.
import type { Deps } from "./deps.ts";
import type { Outcome } from "./outcome.ts";

/**
 * A command line as the parser (argv.ts) leaves it: option values by
 * camel-cased name (`--vm-uuid` → `vmUuid`; a switch is `true`), then the positional arguments.
 */
export class RawOptions {
  constructor(
    private readonly values: Readonly<Record<string, unknown>>,
    readonly args: readonly string[] = [],
  ) {}

  /** The value of an option that takes one, or undefined when it was not given. */
  text(key: string): string | undefined {
    const v = this.values[key];
    return typeof v === "string" ? v : undefined;
  }

  /** The value of a required option (both parsers refuse a command line without it). */
  required(key: string): string {
    const v = this.text(key);
    // Only a command reading an option its table entry does not mark required gets here.
    if (v === undefined) throw new Error(`option --${kebab(key)} is not required in the table`);
    return v;
  }

  /** Whether a switch was given. */
  flag(key: string): boolean {
    return this.values[key] === true;
  }

  /** The options a command reads, typed by kind: `raw.pick({ vmUuid: "required", yes: "flag" })`. */
  pick<const S extends Readonly<Record<string, RawKind>>>(shape: S): Picked<S> {
    const out: Record<string, unknown> = {};
    for (const [key, kind] of Object.entries(shape)) {
      out[key] = kind === "args"
        ? this.args
        : kind === "flag"
        ? this.flag(key)
        : kind === "required"
        ? this.required(key)
        : this.text(key);
    }
    return out as Picked<S>;
  }
}

/** How a command reads one raw option: a value or nothing, a required value, a switch, the args. */
export type RawKind = "text" | "required" | "flag" | "args";
export type Picked<S extends Readonly<Record<string, RawKind>>> = {
  -readonly [K in keyof S]: S[K] extends "required" ? string
    : S[K] extends "flag" ? boolean
    : S[K] extends "args" ? readonly string[]
    : string | undefined;
};

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** One command: `O` is derived from `parseOptions`, so the compiler checks the pairing. */
export interface CommandModule<O> {
  readonly parseOptions: (raw: RawOptions) => O;
  readonly run: (opts: O, deps: Deps) => Promise<Outcome>;
}

/** Declares a command file's contract: `export const command = defineCommand({ parseOptions, run })`. */
export function defineCommand<O>(m: CommandModule<O>): CommandModule<O> {
  return m;
}

declare const parsed: unique symbol;
/** The options of some command, opaque: only that command's `run` can take them. */
export type ParsedOptions = { readonly [parsed]: true };

/** A command whose options type is hidden, as the loader table holds it. */
export type AnyCommand = CommandModule<ParsedOptions>;

/**
 * Hides a command's options type. Safe because the only way to get a ParsedOptions value is the
 * same module's parseOptions, whose result its run accepts (dispatch.ts never mixes modules).
 */
export function erase<O>(m: CommandModule<O>): AnyCommand {
  return m as unknown as AnyCommand;
}

export type Loader = () => Promise<AnyCommand>;

// The commander program built from the command table: help, errors, did-you-mean, and every
// command line the fast parser hands over.
import type { Command } from "@commander-js/extra-typings";
import {
  COMMANDS,
  DB_OPTION,
  optionForm,
  PROGRAM_DESCRIPTION,
  PROGRAM_NAME,
  type Selected,
  synopsis,
  VERSION,
  VERSION_OPTION,
} from "./command-table.ts";
import { oneLine } from "./exit-code.ts";
import type { IO } from "./io.ts";

/** Builds the commander tree from COMMANDS; `select` receives the chosen command. */
export async function buildProgram(select: (s: Selected) => void, io: IO): Promise<Command> {
  const { Command, Help } = await import("@commander-js/extra-typings");
  const program = new Command()
    .name(PROGRAM_NAME)
    .description(PROGRAM_DESCRIPTION)
    .version(VERSION, VERSION_OPTION.flags, VERSION_OPTION.help)
    .option(DB_OPTION.flags, DB_OPTION.help)
    .showSuggestionAfterError(true)
    // Help speaks the documented form: `--pool=<A|B>`, required options marked, --db shown.
    .configureHelp({
      showGlobalOptions: true,
      commandUsage: (c) => {
        const spec = COMMANDS.find((x) => x.name === c.name());
        return spec === undefined ? "vgpu-admin [--db=<path>] <command> [options]" : synopsis(spec);
      },
      subcommandTerm(c) {
        const spec = COMMANDS.find((x) => x.name === c.name());
        if (spec === undefined) return Help.prototype.subcommandTerm.call(this, c);
        return [c.name(), ...(spec.args ?? []).map((a) => a.name)].join(" ");
      },
      visibleGlobalOptions: (c) => c.parent?.options.filter((o) => o.long === "--db") ?? [],
      optionTerm: (o) => (o.short === undefined ? optionForm(o) : o.flags),
      optionDescription: (o) => (o.mandatory ? `(required) ${o.description}` : o.description),
    })
    .configureOutput({
      writeOut: (s) => io.out.write(s),
      writeErr: (s) => io.err.write(s),
      // One line: commander puts "(Did you mean …?)" on a line of its own.
      outputError: (s, write) => write(oneLine(s) + "\n"),
    })
    .exitOverride()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 failed (or declined), 2 usage error, 3 drift found by 'sync --check'.",
    );
  for (const spec of COMMANDS) {
    const cmd = program.command(spec.name).description(spec.description)
      .addHelpText("after", `\nExample:\n  $ ${spec.example}`)
      .exitOverride();
    for (const a of spec.args ?? []) cmd.argument(a.name, a.help);
    for (const o of spec.options) {
      if (o.required) cmd.requiredOption(o.flags, o.help);
      else cmd.option(o.flags, o.help);
    }
    cmd.action((...args: unknown[]) => {
      const c = args[args.length - 1] as Command;
      select({
        name: spec.name,
        raw: { ...c.opts(), args: c.args },
        db: (c.optsWithGlobals() as { db?: string }).db,
      });
    });
  }
  return program;
}

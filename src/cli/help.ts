// --help, laid out from the command table: the layout commander 15 gave it (usage, description,
// then aligned "term  description" sections wrapped to the width), so the text is unchanged
// while commander is no longer loaded (issue 19: --help cost 3× the floor with it).
import {
  COMMANDS,
  type CommandSpec,
  DB_OPTION,
  optionForm,
  PROGRAM_DESCRIPTION,
  synopsis,
  VERSION_OPTION,
} from "./command-table.ts";

const HELP_OPTION = { term: "-h, --help", text: "display help for command" };
/** Below this many columns for descriptions, they are not wrapped (as commander did). */
const MIN_WIDTH_TO_WRAP = 40;
const EXIT_CODES =
  "Exit codes: 0 ok, 1 failed (or declined), 2 usage error, 3 drift found by 'sync --check'.";

interface Item {
  term: string;
  text: string;
}

/** The help of `spec` (null: the program's), wrapped to `width` columns, with its final newline. */
export function helpText(spec: CommandSpec | null, width = 80): string {
  return spec === null ? programHelp(width) : commandHelp(spec, width);
}

function programHelp(width: number): string {
  const options: Item[] = [
    { term: VERSION_OPTION.flags, text: VERSION_OPTION.help },
    { term: optionForm(DB_OPTION), text: DB_OPTION.help },
    HELP_OPTION,
  ];
  const commands: Item[] = [
    ...COMMANDS.map((c) => ({
      term: [c.name, ...(c.args ?? []).map((a) => a.name)].join(" "),
      text: c.description,
    })),
    { term: "help [command]", text: "display help for command" },
  ];
  return layout(
    "vgpu-admin [--db=<path>] <command> [options]",
    PROGRAM_DESCRIPTION,
    [["Options:", options], ["Commands:", commands]],
    width,
  ) + `\n${EXIT_CODES}\n`;
}

function commandHelp(spec: CommandSpec, width: number): string {
  const args: Item[] = (spec.args ?? []).map((a) => ({ term: a.name.slice(1, -1), text: a.help }));
  const options: Item[] = [
    ...spec.options.map((o) => ({
      term: optionForm(o),
      text: o.required
        ? `(required${o.or === undefined ? "" : ` unless ${o.or} is given`}) ${o.help}`
        : o.help,
    })),
    HELP_OPTION,
  ];
  const global: Item[] = [{ term: optionForm(DB_OPTION), text: DB_OPTION.help }];
  return layout(
    synopsis(spec),
    spec.description,
    [["Arguments:", args], ["Options:", options], ["Global Options:", global]],
    width,
  ) + `\nExample:\n  $ ${spec.example}\n`;
}

function layout(
  usage: string,
  description: string,
  sections: [string, Item[]][],
  width: number,
): string {
  const termWidth = Math.max(...sections.flatMap(([, items]) => items.map((i) => i.term.length)));
  const out = [`Usage: ${usage}`, "", wrap(description, width), ""];
  for (const [heading, items] of sections) {
    if (items.length === 0) continue;
    out.push(heading, ...items.map((i) => item(i, termWidth, width)), "");
  }
  return out.join("\n");
}

/** `  term  description`, the description wrapped and its later lines under its first. */
function item(i: Item, termWidth: number, width: number): string {
  const room = width - termWidth - 4;
  const text = room < MIN_WIDTH_TO_WRAP
    ? i.text
    : wrap(i.text, room).replaceAll("\n", `\n${" ".repeat(termWidth + 2)}`);
  return `  ${i.term.padEnd(termWidth)}  ${text.replaceAll("\n", "\n  ")}`;
}

/** Words (with the spaces before them) packed into lines of at most `width` columns. */
function wrap(text: string, width: number): string {
  if (width < MIN_WIDTH_TO_WRAP) return text;
  const chunks = text.match(/\s*\S+/g);
  if (chunks === null) return "";
  const lines: string[] = [];
  let line = chunks[0];
  for (const chunk of chunks.slice(1)) {
    if (line.length + chunk.length <= width) line += chunk;
    else {
      lines.push(line);
      line = chunk.trimStart();
    }
  }
  lines.push(line);
  return lines.join("\n");
}

// deno task build: `deno compile` main.ts into dist/vgpu-admin with exactly the permission flags
// of `deno task cli` (read from deno.json, so the two never differ). The SQL migrations travel
// inside the module graph (text imports), so nothing is read from the source tree at run time.
// deno-lint-ignore-file no-console
import { cliRunFlags } from "./cli-flags.ts";
import { COMMANDS } from "../src/cli/command-table.ts";

const root = decodeURIComponent(new URL("../", import.meta.url).pathname);
const cfg = JSON.parse(Deno.readTextFileSync(`${root}deno.json`));
const perms = cliRunFlags(cfg);
const output = `${root}dist/vgpu-admin`;
Deno.mkdirSync(`${root}dist`, { recursive: true });

// Modules imported by a computed specifier are not in main.ts's graph: named here (the CLI,
// main.ts; the commands, src/cli/command-loaders.ts; the hook's rare paths,
// src/hook/slow-path.ts).
const computed = [
  `${root}cli.ts`,
  ...COMMANDS.map((c) => `${root}src/cli/commands/${c.name}.ts`),
  `${root}src/hook/slow.ts`,
].flatMap((f) => ["--include", f]);
const r = await new Deno.Command(Deno.execPath(), {
  args: ["compile", "--quiet", ...perms, ...computed, "--output", output, `${root}main.ts`],
  stdout: "inherit",
  stderr: "piped",
}).output();
const err = new TextDecoder().decode(r.stderr);
if (r.code !== 0) {
  if (/denort|dl\.deno\.land|base binary/i.test(err) && !Deno.env.get("DENORT_BIN")) {
    console.error(
      "error: deno compile could not download its runtime base (denort 2.9.6 for this platform); " +
        "on an offline machine set DENORT_BIN to a local copy of denort " +
        "(from denort-x86_64-unknown-linux-gnu.zip of Deno 2.9.6) and run 'deno task build' again",
    );
  } else {
    console.error(err.trimEnd());
  }
  Deno.exit(1);
}
const size = Deno.statSync(output).size;
console.log(
  `built ${output} (${(size / 1048576).toFixed(1)} MiB), permissions: ${perms.join(" ")}`,
);

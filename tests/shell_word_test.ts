// Command lines printed for the administrator (the demo) paste back into a shell unchanged.
import assert from "node:assert/strict";
import { shellWord } from "../src/domain/shell-word.ts";

const CASES: readonly (readonly [string, string])[] = [
  ["list-vms", "list-vms"],
  ["--pool=B", "--pool=B"],
  ["--description=render farm", '--description="render farm"'],
  ["--vm-name=web, db; test #7", '--vm-name="web, db; test #7"'],
  ['--vm-name=say "hi"', `--vm-name='say "hi"'`],
  ["--vm-name=$(reboot)", "--vm-name='$(reboot)'"],
  ["--vm-name=it's", `--vm-name="it's"`],
  ["--description=", "--description="],
  ["two words", '"two words"'],
];

for (const [arg, word] of CASES) {
  Deno.test(`shellWord: ${arg}`, () => assert.equal(shellWord(arg), word));
}

Deno.test("shellWord: each word reads back as the argument through sh", async () => {
  const args = CASES.map(([a]) => a);
  const line = `printf '%s\\n' ${args.map(shellWord).join(" ")}`;
  const r = await new Deno.Command("sh", { args: ["-c", line], stdout: "piped" }).output();
  assert.deepEqual(new TextDecoder().decode(r.stdout).split("\n").slice(0, -1), args);
});

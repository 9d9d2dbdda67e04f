// systemIo writes large outputs a slice at a time (src/cli/process-io.ts): the bytes on stdout
// must be exactly the text's UTF-8, also where a slice boundary falls inside a surrogate pair.
import assert from "node:assert/strict";
import { ROOT } from "./helpers.ts";

async function written(expr: string): Promise<Uint8Array> {
  const code = `import { systemIo } from ${JSON.stringify(`${ROOT}/src/cli/process-io.ts`)};
systemIo().out.write(${expr});`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return r.stdout;
}

Deno.test("systemIo: a large output with a surrogate pair on a slice boundary, byte for byte", async () => {
  for (
    const expr of [
      `"a".repeat(65535) + "\\u{1F600}" + "é".repeat(70000) + "end\\n"`,
      `"x".repeat(65536 * 3) + "\\u{1F600}\\n"`,
      `"short \\u{1F600}\\n"`,
    ]
  ) {
    const text = eval(expr) as string;
    assert.deepEqual(await written(expr), new TextEncoder().encode(text), expr.slice(0, 40));
  }
});

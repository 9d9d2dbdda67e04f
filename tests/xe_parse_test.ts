// Golden tests for src/xe/parse.ts (style.md rule 8). Each case is `<name>.txt` (input) and
// `<name>.json` (expected). A missing or differing expected file is written only when
// UPDATE_GOLDEN=1; otherwise the case fails. stderr inputs start with one JSON line
// {"argv": [...], "exitCode": N}; the rest of the file is xe's stderr verbatim.

import assert from "node:assert/strict";
import {
  XeError,
  XeKeyMissingError,
  XePowerStateError,
  XeVmNotFoundError,
} from "../src/domain/errors.ts";
import {
  classifyXeFailure,
  parseMap,
  parseMinimal,
  parsePowerState,
  parseRecords,
} from "../src/xe/parse.ts";

const GOLDEN = new URL("./golden/xe/", import.meta.url);
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

/** Runs `compute` over every `<case>.txt` in `dir` and compares with `<case>.json`. */
async function goldenCases(t: Deno.TestContext, dir: string, compute: (input: string) => unknown) {
  const base = new URL(`${dir}/`, GOLDEN);
  const names = [...Deno.readDirSync(base)]
    .filter((e) => e.isFile && e.name.endsWith(".txt"))
    .map((e) => e.name.slice(0, -".txt".length))
    .sort();
  assert.ok(names.length > 0, `no golden cases in ${base.pathname}`);
  for (const name of names) {
    await t.step(name, () => {
      const input = Deno.readTextFileSync(new URL(`${name}.txt`, base));
      const actual = JSON.stringify(compute(input), null, 2) + "\n";
      const expectedUrl = new URL(`${name}.json`, base);
      let expected: string | null = null;
      try {
        expected = Deno.readTextFileSync(expectedUrl);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      if (UPDATE && expected !== actual) {
        Deno.writeTextFileSync(expectedUrl, actual);
        return;
      }
      assert.ok(expected !== null, `missing ${expectedUrl.pathname}; run with UPDATE_GOLDEN=1`);
      assert.deepEqual(JSON.parse(actual), JSON.parse(expected));
    });
  }
}

/** Either the function's result or the error it threw, as plain JSON. */
function outcome(f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof XeError)) throw e;
    return { error: { name: e.name, message: e.message } };
  }
}

function mapJson(value: string) {
  const { entries, ambiguous } = parseMap(value);
  return { entries: Object.fromEntries(entries), ambiguous: [...ambiguous] };
}

Deno.test("parseRecords golden cases (platform maps parsed too)", async (t) => {
  await goldenCases(t, "records", (input) =>
    outcome(() =>
      parseRecords(input).map((r) => {
        const fields = Object.fromEntries(r);
        const platform = r.get("platform");
        return platform === undefined
          ? { fields }
          : { fields, platform: outcome(() => mapJson(platform)) };
      })
    ));
});

Deno.test("parseMap golden cases", async (t) => {
  await goldenCases(t, "map", (input) => outcome(() => mapJson(input)));
});

Deno.test("parseMinimal golden cases", async (t) => {
  await goldenCases(t, "minimal", (input) => outcome(() => parseMinimal(input)));
});

Deno.test("classifyXeFailure golden cases", async (t) => {
  await goldenCases(t, "stderr", (input) => {
    const nl = input.indexOf("\n");
    const head = JSON.parse(input.slice(0, nl)) as { argv: string[]; exitCode: number };
    const e = classifyXeFailure(head.argv, head.exitCode, input.slice(nl + 1));
    return {
      name: e.name,
      message: e.message,
      exitCode: e.exitCode,
      ...(e instanceof XeVmNotFoundError ? { vmUuid: e.vmUuid } : {}),
      ...(e instanceof XePowerStateError ? { expected: e.expected, actual: e.actual } : {}),
      ...(e instanceof XeKeyMissingError ? { key: e.key } : {}),
    };
  });
});

Deno.test("classifyXeFailure keeps argv and stderr on the error", () => {
  const argv = ["vm-start", "uuid=u"];
  const e = classifyXeFailure(argv, 1, "Error: something\n");
  assert.deepEqual([e.argv, e.exitCode, e.stderr], [argv, 1, "Error: something\n"]);
});

Deno.test("parseRecords: the exact reference example keeps values verbatim", () => {
  const [r] = parseRecords(
    "uuid ( RO)           : u\n     name-label ( RW): web, db; test\n\n\n",
  );
  assert.deepEqual([...r], [["uuid", "u"], ["name-label", "web, db; test"]]);
});

Deno.test("parsePowerState accepts the four states in any case, refuses others", () => {
  assert.equal(parsePowerState("running\n"), "running");
  assert.equal(parsePowerState("Halted"), "halted");
  assert.throws(() => parsePowerState("migrating\n"), { name: "XeOutputError" });
  assert.throws(() => parsePowerState(""), { name: "XeOutputError" });
});

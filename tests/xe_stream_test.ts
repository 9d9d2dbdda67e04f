// The xe runner's streaming call (XeRunner.stream, issue 19: vm-list read while xe prints it)
// against tiny real executables, and the client's vm-list over pieces cut anywhere: the same
// VMs and the same errors, in the same order, as the whole answer read by run().

import assert from "node:assert/strict";
import {
  VgpuError,
  XeError,
  XeMissingError,
  XeOutputError,
  XeTimeoutError,
} from "../src/domain/errors.ts";
import { Xe } from "../src/xe/client.ts";
import { forEachRecord, mapEntry, parseMap, RecordReader } from "../src/xe/parse.ts";
import { createXeRunner, type XeRunner } from "../src/xe/runner.ts";
import { goneOrZombie, runReaping, withScripts } from "./xe-scripts.ts";

/** stream() of `args`: its pieces, or the error it threw. */
async function pieces(
  runner: XeRunner,
  args: string[],
  o?: { timeoutMs?: number },
): Promise<{ got: string[]; error: unknown }> {
  const got: string[] = [];
  try {
    await runner.stream!(args, (t) => void got.push(t), o);
    return { got, error: null };
  } catch (error) {
    return { got, error };
  }
}

// ---------- the runner ----------

Deno.test("stream: pieces as xe prints them, never inside a character; joined, run()'s answer", async () => {
  // "é" (c3 a9) and "€" (e2 82 ac) cut between their bytes by a pause: two pipe reads
  const body = `printf 'a\\303'; sleep 0.3; printf '\\251b\\342\\202'; sleep 0.3; ` +
    `printf '\\254\\n'; printf '%s\\n' "$@"`;
  await withScripts({ xe: body }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 10_000 });
    const args = ["vm-list", "params=a b; $(id)"];
    const { got, error } = await pieces(runner, args);
    assert.equal(error, null);
    assert.ok(got.length >= 2, `one piece only: ${JSON.stringify(got)}`);
    assert.ok(got.every((t) => !t.includes("\ufffd") && t !== ""), JSON.stringify(got));
    assert.equal(got.join(""), await runner.run(args));
    assert.equal(got.join(""), "aéb€\nvm-list\nparams=a b; $(id)\n");
  });
});

Deno.test("stream: a long answer comes in pieces of at most 16,384 characters, joined whole", async () => {
  // ~180,000 bytes written by cat (the pipe hands over up to 64 KiB at once), two-byte characters
  // among them: no piece may be a string V8 keeps as a large object (issue 19, peak RSS)
  const body = `f="$(dirname "$0")/answer"; if [ ! -f "$f" ]; then i=0; ` +
    `while [ $i -lt 2000 ]; do printf '%s\\n' "vm-$i-日本-$(printf '%0070d' $i)"; i=$((i+1)); ` +
    `done > "$f.tmp"; mv "$f.tmp" "$f"; fi; exec cat "$f"`;
  await withScripts({ xe: body }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 20_000 });
    const { got, error } = await pieces(runner, ["vm-list"]);
    assert.equal(error, null);
    const whole = await runner.run(["vm-list"]);
    assert.ok(whole.length > 150_000, String(whole.length));
    assert.equal(got.join(""), whole);
    assert.ok(got.every((t) => t.length <= 16_384), got.map((t) => t.length).join(" "));
  });
});

Deno.test("stream: a failing xe is its classified error, whatever it printed first", async () => {
  await withScripts({
    xe: `printf 'uuid ( RO): 1\\n'; echo 'Error: Connection refused' >&2; exit 1`,
  }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 10_000 });
    const { got, error } = await pieces(runner, ["vm-list"]);
    assert.deepEqual(got, ["uuid ( RO): 1\n"]);
    assert.ok(error instanceof XeError);
    assert.equal(error.message, "xe vm-list failed: Error: Connection refused");
    await assert.rejects(runner.run(["vm-list"]), { message: error.message });
  });
});

Deno.test("stream: a hung xe is killed with its children; XeTimeoutError in time", async () => {
  await withScripts({
    xe: `printf 'uuid ( RO): 1\\n'; sleep 30 & echo $! > "$(dirname "$0")/child.pid"; wait`,
  }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 60_000 });
    const started = Date.now();
    const { got, error } = await pieces(runner, ["vm-list"], { timeoutMs: 400 });
    assert.ok(error instanceof XeTimeoutError, String(error));
    assert.equal(error.message, "xe vm-list did not answer within 0.4 s");
    assert.deepEqual(got, ["uuid ( RO): 1\n"]);
    assert.ok(Date.now() - started < 5000, "the bound was not honoured");
    const pid = (await Deno.readTextFile(`${dir}/child.pid`)).trim();
    assert.ok(await goneOrZombie(pid), `grandchild ${pid} survived`);
  });
});

Deno.test("stream: a descendant that escaped the kill and holds the pipes does not hold the process up", async () => {
  await withScripts({
    // re-parented away from xe (the /proc walk cannot find it) in a session of its own (the
    // group kill cannot reach it), holding stdout and stderr open
    xe: `printf 'one\\n'; ( setsid sleep 20 & echo $! > "$(dirname "$0")/orphan.pid" ); sleep 20`,
  }, async (dir) => {
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { createXeRunner } from ${JSON.stringify(import.meta.resolve("../src/xe/runner.ts"))};
const hung = createXeRunner({ xePath: ${JSON.stringify(`${dir}/xe`)}, defaultTimeoutMs: 300 });
const got = [];
await hung.stream(["vm-list"], (t) => got.push(t)).catch((e) => console.log(e.name));
console.log(JSON.stringify(got));
`,
    );
    const out = await runReaping(script, dir);
    assert.equal(out.stdout, 'XeTimeoutError\n["one\\n"]\n');
    assert.equal(out.code, 0);
    assert.ok(out.ms < 10_000, "the process waited for the pipes");
  });
});

Deno.test("stream: an xe killed mid-answer fails as run() says, and leaves no child", async () => {
  // the answer stops half-way: xe is killed (SIGKILL) by someone else while it prints
  const body = `printf 'uuid ( RO): 1\\n'; sleep 0.2; kill -9 $$`;
  await withScripts({ xe: body }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 10_000 });
    const { got, error } = await pieces(runner, ["vm-list"]);
    assert.deepEqual(got, ["uuid ( RO): 1\n"]);
    assert.ok(error instanceof XeError, String(error));
    assert.ok(!error.message.includes("\n"), error.message);
    const whole = await runner.run(["vm-list"]).then(() => null, (e) => e);
    assert.ok(whole instanceof XeError);
    assert.equal(error.message, whole.message);
    assert.equal(error.constructor, whole.constructor);
  });
});

Deno.test("stream: when the reader throws, xe is read to its end, and its exit code comes first", async () => {
  await withScripts({
    ok: `printf 'one\\n'; sleep 0.2; printf 'two\\n'; touch "$(dirname "$0")/ended"`,
    fails: `printf 'one\\n'; sleep 0.2; echo 'Error: Connection refused' >&2; exit 1`,
  }, async (dir) => {
    const ok = createXeRunner({ xePath: `${dir}/ok`, defaultTimeoutMs: 10_000 });
    let calls = 0;
    const bad = new Error("reader broke");
    await assert.rejects(
      ok.stream!(["vm-list"], () => {
        calls++;
        throw bad;
      }),
      (e: unknown) => e === bad,
    );
    assert.equal(calls, 1, "given more after it threw");
    await Deno.stat(`${dir}/ended`); // xe ran to its end: no half-read pipe, no orphan
    const fails = createXeRunner({ xePath: `${dir}/fails`, defaultTimeoutMs: 10_000 });
    await assert.rejects(
      fails.stream!(["vm-list"], () => {
        throw bad;
      }),
      { message: "xe vm-list failed: Error: Connection refused" },
    );
  });
});

Deno.test("stream: missing xe and unsafe arguments fail as run() does, nothing spawned", async () => {
  await withScripts({ xe: `touch "$(dirname "$0")/ran"` }, async (dir) => {
    const missing = createXeRunner({ xePath: `${dir}/nope/xe`, defaultTimeoutMs: 5000 });
    const { error } = await pieces(missing, ["vm-list"]);
    assert.ok(error instanceof XeMissingError);
    assert.match(error.message, /^xe not found at .*: vgpu-admin must run on the XCP-ng dom0/);
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 5000 });
    const bad = await pieces(runner, ["vm-list", "name-label=a\nb"]);
    assert.ok(bad.error instanceof VgpuError && !(bad.error instanceof XeError));
    await assert.rejects(Deno.stat(`${dir}/ran`), Deno.errors.NotFound);
  });
});

// ---------- records over pieces, and the client ----------

const HOST = "5f0c9a1e-1111-4222-8333-444455556666";
const uuidN = (n: number) => `0a1b2c3d-0000-4000-8000-${String(n).padStart(12, "0")}`;

function vmRecord(n: number, platform: string, extra = ""): string {
  return [
    `uuid ( RO)                : ${uuidN(n)}`,
    `          name-label ( RW): vm-${n} café 日本`,
    `   is-control-domain ( RO): false`,
    `         power-state ( RO): ${n % 2 ? "running" : "halted"}`,
    `         resident-on ( RO): ${n % 2 ? HOST : "<not in database>"}`,
    `            platform (MRW): ${platform}${extra}`,
  ].join("\n") + "\n\n\n";
}

const ANSWER = vmRecord(1, "device-model-args: -device vgpu-stub,pool_id=A,priority=high,vm_id=1") +
  vmRecord(2, "viridian: true; device-model-args: -m 512") +
  vmRecord(3, "");

/** A runner that answers every call with `answer`, streamed in the pieces `cut` gives. */
function cutRunner(answer: string, cut: (s: string) => string[], code = 0): XeRunner {
  return {
    run: () => Promise.resolve(answer),
    stream(_args, each) {
      for (const p of cut(answer)) each(p);
      if (code !== 0) return Promise.reject(new XeError("xe vm-list failed: boom", ["vm-list"]));
      return Promise.resolve();
    },
  };
}

const at = (i: number) => (s: string) => [s.slice(0, i), s.slice(i)];

async function outcome(runner: XeRunner): Promise<unknown> {
  try {
    return await new Xe(runner, { platformKey: "device-model-args" }).vmList();
  } catch (e) {
    return { error: (e as Error).constructor.name, message: (e as Error).message };
  }
}

Deno.test("RecordReader: pieces cut at every position give forEachRecord's records", () => {
  const whole: Map<string, string>[] = [];
  forEachRecord(ANSWER, (r) => void whole.push(r));
  assert.equal(whole.length, 3);
  for (let i = 0; i <= ANSWER.length; i++) {
    const got: Map<string, string>[] = [];
    const reader = new RecordReader((r) => void got.push(r));
    reader.push(ANSWER.slice(0, i));
    reader.push(ANSWER.slice(i));
    reader.end();
    assert.deepEqual(got, whole, `cut at ${i}`);
  }
  // one character at a time, and an answer without its final line end
  const got: Map<string, string>[] = [];
  const reader = new RecordReader((r) => void got.push(r));
  for (const c of ANSWER.trimEnd()) reader.push(c);
  reader.end();
  assert.deepEqual(got, whole);
});

Deno.test("vmList over a stream: the same VMs as the whole answer, wherever it is cut", async () => {
  const whole = await outcome({ run: () => Promise.resolve(ANSWER) });
  assert.equal((whole as unknown[]).length, 3);
  for (let i = 0; i <= ANSWER.length; i += 7) {
    assert.deepEqual(await outcome(cutRunner(ANSWER, at(i))), whole, `cut at ${i}`);
  }
});

Deno.test("vmList over a stream: cut short, CRLF, unreadable lines: run()'s errors, in its order", async () => {
  const cases: [string, string][] = [
    // cut short: the last record lacks its platform line
    ["cut short", ANSWER.slice(0, ANSWER.lastIndexOf("platform (MRW)") - 12)],
    ["CRLF", ANSWER.replaceAll("\n", "\r\n")],
    // an unreadable line first, CRLF only later: CRLF is reported, as by run()
    ["garbage, then CRLF", "garbage\n" + ANSWER.replace(/\n(?=[^\n]*$)/, "\r\n")],
    ["garbage", ANSWER + "garbage\n"],
    ["two records run together", vmRecord(1, "").trimEnd() + "\n" + vmRecord(2, "")],
  ];
  for (const [name, answer] of cases) {
    const whole = await outcome({ run: () => Promise.resolve(answer) });
    assert.ok(
      (whole as { error?: string }).error === XeOutputError.name,
      `${name}: ${JSON.stringify(whole)}`,
    );
    for (let i = 0; i <= answer.length; i += 5) {
      assert.deepEqual(await outcome(cutRunner(answer, at(i))), whole, `${name}, cut at ${i}`);
    }
  }
  // "\r" and "\n" in two pieces
  const crlf = ANSWER.replace("\n", "\r\n");
  const i = crlf.indexOf("\r\n") + 1;
  assert.deepEqual(await outcome(cutRunner(crlf, at(i))), {
    error: XeOutputError.name,
    message:
      "xe vm-list printed CRLF line ends, which xe never does; nothing was done (is its output passing through a wrapper?)",
  });
});

Deno.test("vmList over a stream: xe's failure wins over what it printed", async () => {
  assert.deepEqual(await outcome(cutRunner("garbage\r\n", at(3), 1)), {
    error: XeError.name,
    message: "xe vm-list failed: boom",
  });
});

Deno.test("mapEntry gives parseMap's answer about one key, on 20,000 maps made of map-like pieces", () => {
  // pieces that make keys, separators, continuations, values holding ": " or "; ", repeats
  const parts = ["k", "device-model-args", "a:b", "x", ":", ": ", "; ", ";", " ", "-m 1", "=", ""];
  let seed = 19;
  // the high bits of the generator: its low bits repeat with a short period
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) >>> 12) % n;
  const keys = ["k", "device-model-args", "a:b", "a", "x"];
  const fixed = ["k: a: b", "k: a; b", "k: 1; k: 2", "x: 1; k: 2; junk", "k:", "junk; k: 1", ""];
  for (let i = 0; i < 20_000 + fixed.length; i++) {
    // half: any pieces; half: segments joined by "; ", mostly `key: value` (keys repeat)
    let loose = "";
    for (let j = rand(9); j >= 0; j--) loose += parts[rand(parts.length)];
    const segments: string[] = [];
    for (let j = rand(5); j >= 0; j--) {
      let seg = rand(3) === 0 ? "" : `${keys[rand(keys.length)]}:${rand(4) === 0 ? "" : " "}`;
      for (let k = rand(4); k > 0; k--) seg += parts[rand(parts.length)];
      segments.push(seg);
    }
    const value = fixed[i - 20_000] ?? (i % 2 === 0 ? loose : segments.join("; "));
    const key = i >= 20_000 ? "k" : keys[rand(keys.length)];
    let want: unknown;
    try {
      const { entries, ambiguous } = parseMap(value);
      want = { value: entries.get(key) ?? null, ambiguous: ambiguous.has(key) };
    } catch (e) {
      want = (e as Error).message;
    }
    let got: unknown;
    try {
      got = mapEntry(value, key);
    } catch (e) {
      got = (e as Error).message;
    }
    assert.deepEqual(got, want, `${JSON.stringify(value)} asked for ${key}`);
  }
});

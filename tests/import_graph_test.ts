/**
 * The shape of the code (design.md §6) as a test over the import graph of main.ts and src/:
 * static and dynamic imports together have no cycle, and data flows one way,
 * `cli → ops → (store, xe) → domain`. Commands hold no SQL and spawn nothing.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sourceFiles(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out.sort();
}

/** Every module specifier a file names: `import … from`, `export … from`, `import("…")`. */
export function specifiers(text: string): { spec: string; dynamic: boolean }[] {
  // Comments are dropped first so that prose saying `from "x"` does not count.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: { spec: string; dynamic: boolean }[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"/gm)) {
    out.push({ spec: m[1], dynamic: false });
  }
  for (const m of code.matchAll(/^\s*import\s*"([^"]+)"/gm)) {
    out.push({ spec: m[1], dynamic: false });
  }
  for (const m of code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) {
    out.push({ spec: m[1], dynamic: true });
  }
  return out;
}

type Graph = Map<string, { to: string; dynamic: boolean }[]>;

/** Local edges only (relative specifiers), keyed by path relative to the repository. */
function graph(files: string[]): Graph {
  const g: Graph = new Map();
  for (const f of files) {
    const edges = specifiers(Deno.readTextFileSync(join(ROOT, f)))
      .filter((s) => s.spec.startsWith("."))
      .map((s) => ({ to: relative(ROOT, join(ROOT, dirname(f), s.spec)), dynamic: s.dynamic }));
    g.set(f, edges);
  }
  return g;
}

/** The first cycle found, as a path that ends where it starts; null when there is none. */
export function findCycle(g: Graph): string[] | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === "done") return null;
    if (state.get(n) === "open") return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, "open");
    stack.push(n);
    for (const e of g.get(n) ?? []) {
      const c = visit(e.to);
      if (c !== null) return c;
    }
    stack.pop();
    state.set(n, "done");
    return null;
  };
  for (const n of g.keys()) {
    const c = visit(n);
    if (c !== null) return c;
  }
  return null;
}

const FILES = ["main.ts", "cli.ts", "hook.ts", ...sourceFiles("src")];
const GRAPH = graph(FILES);

function layer(path: string): string {
  if (path === "main.ts" || path === "cli.ts" || path === "hook.ts") return "main";
  const m = /^src\/([a-z]+)\//.exec(path);
  return m === null ? "outside" : m[1];
}

/** Which layers each layer may import (besides itself); anything else is a violation. */
const ALLOWED: Record<string, readonly string[]> = {
  main: ["cli", "hook"],
  // src/hook/: the VM hooks' own entry (issue 19), a second, minimal cli for `startup-hook`
  hook: ["ops", "store", "xe", "platform", "domain"],
  cli: ["hook", "ops", "store", "xe", "locks", "platform", "domain"],
  ops: ["store", "xe", "locks", "platform", "domain"],
  store: ["platform", "domain"],
  xe: ["domain"],
  // the per-VM operation locks (files, not SQLite) and the file rules every layer shares
  locks: ["platform", "domain"],
  platform: ["domain"],
  domain: [],
};

Deno.test("the parser finds static, re-exported, multi-line and dynamic imports, not comments", () => {
  const text = [
    '// import { x } from "./commented.ts";',
    'import { a } from "./a.ts";',
    "import {",
    "  b,",
    '} from "./b.ts";',
    'export { c } from "./c.ts";',
    'import type { D } from "./d.ts";',
    'import sql from "../sql/x.sql" with { type: "text" };',
    'const load = () => import("./e.ts");',
  ].join("\n");
  assert.deepEqual(specifiers(text), [
    { spec: "./a.ts", dynamic: false },
    { spec: "./b.ts", dynamic: false },
    { spec: "./c.ts", dynamic: false },
    { spec: "./d.ts", dynamic: false },
    { spec: "../sql/x.sql", dynamic: false },
    { spec: "./e.ts", dynamic: true },
  ]);
});

Deno.test("the cycle finder reports a cycle through a dynamic import", () => {
  const g: Graph = new Map([
    ["a.ts", [{ to: "b.ts", dynamic: false }]],
    ["b.ts", [{ to: "c.ts", dynamic: false }]],
    ["c.ts", [{ to: "a.ts", dynamic: true }]],
  ]);
  assert.deepEqual(findCycle(g), ["a.ts", "b.ts", "c.ts", "a.ts"]);
  g.set("c.ts", []);
  assert.equal(findCycle(g), null);
});

Deno.test("the graph is complete: every command is reached through a dynamic import", () => {
  const dynamic = [...GRAPH.values()].flat().filter((e) => e.dynamic).map((e) => e.to);
  for (const f of sourceFiles("src/cli/commands")) assert.ok(dynamic.includes(f), f);
});

/** The modules `from` loads before it runs: static imports that are not type-only, closed over. */
function loadedWith(from: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const code = Deno.readTextFileSync(join(ROOT, f)).replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    for (const m of code.matchAll(/^\s*(import|export)\b([^;]*?)\bfrom\s*"(\.[^"]+)"/gm)) {
      if (/^\s*type\b/.test(m[2])) continue; // erased: `import type`, `export type`
      const to = relative(ROOT, join(ROOT, dirname(f), m[3]));
      if (to.endsWith(".ts")) visit(to);
    }
  };
  visit(from);
  return seen;
}

Deno.test("scan-vms loads the QEMU command-line check only for --deep (issue 19, start-up)", () => {
  const loaded = loadedWith("src/cli/commands/scan-vms.ts");
  assert.ok(loaded.has("src/ops/scan.ts"), [...loaded].join(" "));
  assert.ok(!loaded.has("src/ops/qemu-cmdline.ts"), "scan-vms imports qemu-cmdline.ts statically");
  // the early reads: main.ts spawns them before loading anything but these leaves
  assert.deepEqual(
    [...loadedWith("src/cli/early-scan.ts")].sort(),
    [
      "src/cli/early-scan.ts",
      "src/xe/early.ts",
      "src/xe/live-reads.ts",
      "src/xe/read-argv.ts",
      "src/xe/spawn.ts",
    ],
  );
});

Deno.test("doctor loads neither sync's write path nor pool mode's modules before it runs (issue 19)", () => {
  const loaded = loadedWith("src/cli/commands/doctor.ts");
  assert.ok(loaded.has("src/ops/doctor/host.ts"), [...loaded].join(" "));
  for (
    const f of [
      "src/ops/sync.ts",
      "src/ops/xe-write.ts",
      "src/ops/pool-bulk.ts",
      "src/ops/pool-mode.ts",
      "src/xe/pool.ts",
      "src/ops/doctor/pool.ts",
    ]
  ) assert.ok(!loaded.has(f), `doctor loads ${f} statically`);
});

Deno.test("main.ts reaches the CLI only by a computed specifier: Deno prepares none of it first", () => {
  // every module a literal import (static or import("…")) reaches: what Deno reads and analyses
  // before main.ts runs, for --version, the start hook and the early reads alike (issue 19)
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const e of GRAPH.get(f) ?? []) if (e.to.endsWith(".ts")) visit(e.to);
  };
  // main.ts's own edges without its type-level `typeof import("./cli.ts")` (erased, prepared for
  // nothing at run time)
  const main = Deno.readTextFileSync(join(ROOT, "main.ts"));
  const literal = specifiers(main.replaceAll(/typeof import\(/g, "typeof_("))
    .filter((x) => x.spec.startsWith("./") && x.spec.endsWith(".ts"));
  seen.add("main.ts");
  for (const x of literal) visit(normalize(x.spec));
  for (const f of ["cli.ts", "src/cli/dispatch.ts", "src/cli/command-table.ts"]) {
    assert.ok(!seen.has(f), `main.ts reaches ${f} by a literal import`);
  }
  assert.ok(seen.has("hook.ts") && seen.has("src/cli/early-scan.ts"), [...seen].join(" "));
  // cli.ts is what the computed specifier names, in the source tree and in the bundle
  assert.match(main, /"\.\/cli\.js" : "\.\/cli\.ts"/);
});

Deno.test("no import cycle among main.ts and src/, static and dynamic imports together", () => {
  const cycle = findCycle(GRAPH);
  assert.equal(cycle, null, `import cycle: ${cycle?.join(" → ")}`);
});

Deno.test("layers: cli → ops → (store, xe) → domain; store and xe never meet", () => {
  const bad: string[] = [];
  for (const [from, edges] of GRAPH) {
    for (const e of edges) {
      const a = layer(from);
      const b = layer(e.to);
      if (!e.to.endsWith(".ts")) continue; // data: deno.json, sql/, hooks/ (embedded text)
      if (a !== b && !(ALLOWED[a] ?? []).includes(b)) bad.push(`${from} → ${e.to}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("commands hold no SQL and spawn nothing", () => {
  const bad: string[] = [];
  for (const f of sourceFiles("src/cli")) {
    const text = Deno.readTextFileSync(join(ROOT, f));
    const rules: [RegExp, string][] = [
      [/\bDeno\.(Command|run)\b|node:child_process/, "spawns a process"],
      [/node:sqlite|DatabaseSync|\.prepare\(|\.exec\(\s*["'`]/, "uses SQLite"],
      [/\b(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b/, "SQL"],
    ];
    for (const [re, what] of rules) if (re.test(text)) bad.push(`${f}: ${what}`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("every command of the table has a loader, and every loader a command", async () => {
  const { COMMANDS } = await import("../src/cli/command-table.ts");
  const { LOADERS } = await import("../src/cli/command-loaders.ts");
  assert.deepEqual(Object.keys(LOADERS).sort(), COMMANDS.map((c) => c.name).sort());
});

Deno.test("each command's parseOptions reads only the options its table entry declares", async () => {
  const { COMMANDS } = await import("../src/cli/command-table.ts");
  const { LOADERS } = await import("../src/cli/command-loaders.ts");
  const { RawOptions } = await import("../src/cli/command.ts");
  const { optionKey } = await import("../src/cli/argv.ts");
  const bad: string[] = [];
  for (const spec of COMMANDS) {
    const read = new Set<string>();
    class Recording extends RawOptions {
      override text(key: string) {
        read.add(key);
        return super.text(key);
      }
      override flag(key: string) {
        read.add(key);
        return super.flag(key);
      }
    }
    const mod = await LOADERS[spec.name]();
    try {
      mod.parseOptions(new Recording({}, []));
    } catch { /* missing values: only the keys read matter here */ }
    const declared = new Set(spec.options.map((o) => optionKey(o.flags.split(" ")[0])));
    for (const k of read) if (!declared.has(k)) bad.push(`${spec.name}: reads undeclared --${k}`);
  }
  assert.deepEqual(bad, []);
});

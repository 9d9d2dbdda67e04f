// deno-lint-ignore-file no-console
// deno task bench: vgpu-admin's performance figures (issues 4 and 12), measured against the fake
// xe of the tests on this machine, in one run. Every figure is a subprocess started the way an
// admin starts the CLI (tests/helpers.ts cliCommand(): `deno run` with the product's
// permissions, or VGPU_ADMIN_BIN), and the portable build's form. Median and min of BENCH_RUNS
// runs (default 5; start-up figures 3× that, at least 15) after one unmeasured warm-up run that
// also checks the command's exit code and output. BENCH_QUICK=1: small sizes, 1 run (smoke).
// Nothing outside a temporary directory is touched; it is removed at the end (BENCH_KEEP=1 keeps
// it). Exit 1 when a command failed or printed something unexpected; a FAIL target is no error.
//
//   scripts/bench/config.ts     sizes, runs, bounds        scripts/bench/measure.ts  one process, groups
//   scripts/bench/hosts.ts      fake hosts and databases   scripts/bench/scenarios.ts what is run
//   scripts/bench/report.ts     tables and targets         scripts/bench/programs/   floors and probes
import { CLI_LABEL, QUICK, readOr, RUNS } from "./bench/config.ts";
import { Bench } from "./bench/measure.ts";
import { type Bound, boundLines, GROUPS, runs } from "./bench/groups.ts";
import { report, runTable } from "./bench/report.ts";
import { runScenarios } from "./bench/scenarios.ts";

const work = Deno.makeTempDirSync({ prefix: "vgpu-bench-" });
function removeWork(): void {
  // BENCH_KEEP=1 keeps the hosts and databases for a closer look.
  if (Deno.env.get("BENCH_KEEP") === "1") return;
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
}
// Whatever happens (an uncaught error too), the temporary directory goes.
globalThis.addEventListener("unload", removeWork);
globalThis.addEventListener("error", removeWork);
globalThis.addEventListener("unhandledrejection", removeWork);

const loadAvg = () => readOr("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const startLoad = loadAvg();

function machine(): string[] {
  const cpuinfo = readOr("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readOr("/proc/meminfo"))?.[1] ?? 0);
  const kernel = readOr("/proc/sys/kernel/osrelease").trim() || Deno.build.os;
  return [
    `machine: ${navigator.hardwareConcurrency} CPU (nproc) · ${model} · ${
      (memKb / 1048576).toFixed(1)
    } GiB RAM · Linux ${kernel} · deno ${Deno.version.deno} (v8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    `load average at start: ${startLoad}`,
  ];
}

const started = performance.now();
const header = [
  `vgpu-admin benchmark · ${new Date().toISOString().slice(0, 19)}Z · ${RUNS} measured run${
    RUNS === 1 ? "" : "s"
  } per figure after 1 warm-up${
    QUICK ? " · BENCH_QUICK=1 (smoke sizes, not the real figures)" : ""
  }`,
  ...machine(),
  `CLI: ${CLI_LABEL}`,
  `xe: the fake xe of the tests (tests/fake-xe/xe: sh + deno run per call, state in a JSON file)`,
];
console.error(header.join("\n"));

const bench = new Bench(work);
const figures = runs("legacy") ? await runScenarios(bench) : null;
const groups: { group: string; bounds: Bound[] }[] = [];
for (const g of GROUPS) {
  if (runs(g.name)) groups.push({ group: g.name, bounds: await g.run(bench) });
}
const endLoad = loadAvg();
const elapsed = (performance.now() - started) / 1000;
if (figures !== null) {
  console.log(report(bench, figures, { header, startLoad, endLoad, elapsed }));
} else {
  console.log([...header, "", ...runTable(bench)].join("\n"));
}
console.log(["", ...boundLines(groups)].join("\n"));
console.log(
  `\nload average ${startLoad} at the start, ${endLoad} at the end; ${elapsed.toFixed(0)} s in all`,
);
if (Deno.env.get("BENCH_KEEP") === "1") console.log(`\nBENCH_KEEP=1: kept ${work}`);
removeWork();
if (bench.problems.length > 0) Deno.exit(1);

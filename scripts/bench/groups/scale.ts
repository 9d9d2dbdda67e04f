// deno task bench, issue 19's bounds for big hosts and --help: scan-vms against one bare
// `xe vm-list` at every size (and the ratio not growing with N), list-vms and status --offline
// against a bare script printing the same rows the same way, the table with a non-ASCII name and
// --help against the read floor, and peak RSS at 10,000 VMs for every command. Hosts carry
// non-ASCII names (hosts.ts mixedName). Paired medians: every run follows a run of its floor.
import { FAKE_XE_PATH } from "../../../tests/fake-xe/state.ts";
import {
  CLI,
  CLI_PERMISSIONS,
  COLD_RUNS,
  DENO,
  PROGRAMS,
  QUICK,
  RUNS,
  VM_LIST_ARGS,
} from "../config.ts";
import type { Bound, ScenarioGroup } from "../groups.ts";
import { buildHost, type BuiltHost, mixedName } from "../hosts.ts";
import type { Bench, Case, Result } from "../measure.ts";

/** scan-vms sizes (VMs on the host, 90 % registered); the last is also the RSS size. */
const SCAN_SIZES = QUICK ? [10, 300] : [10, 1000, 10000];
const BIG = SCAN_SIZES[SCAN_SIZES.length - 1];
/** At least 3 runs for figures judged against bounds, whatever BENCH_RUNS says. */
const BOUND_RUNS = Math.max(RUNS, QUICK ? 1 : 5);

export const SCAN_RATIO = 2;
/** "The ratio may not grow with N": at the largest size at most this much over the smallest. */
export const SCAN_GROWTH = 1.15;
export const ROWS_RATIO = 1.1;
export const NON_ASCII_TABLE_RATIO = 2;
export const HELP_RATIO = 2;
export const RSS_MIB = 64;

const f2 = (n: number | null | undefined) => (n ?? NaN).toFixed(2);
const ms = (r: Result) => `${r.median.toFixed(1)} ms`;

const denoRun = (program: string, ...args: string[]) => [
  DENO,
  "run",
  "--quiet",
  "--no-prompt",
  ...CLI_PERMISSIONS,
  `${PROGRAMS}/${program}`,
  ...args,
];

/**
 * The reference case of a bound against one bare xe call: `calls` spawned at once by a Deno
 * script with the CLI's own flags, their answers copied to stdout (programs/xe-calls-only.ts).
 */
export function xeCallsOnly(
  size: string,
  env: Record<string, string>,
  calls: readonly (readonly string[])[],
): Case {
  return {
    label: `XE CALLS ONLY (${calls.length} at once, copied)`,
    size,
    spec: { argv: denoRun("xe-calls-only.ts", ...calls.map((c) => c.join(" "))), env },
    usesXe: true,
  };
}

export const scale: ScenarioGroup = {
  name: "scale",
  async run(b: Bench): Promise<Bound[]> {
    const bounds: Bound[] = [];
    b.progress("scale: building hosts with non-ASCII names");
    const hosts = new Map<number, BuiltHost>();
    for (const n of SCAN_SIZES) {
      const unregistered = Math.max(1, Math.ceil(n / 10));
      hosts.set(
        n,
        await buildHost(b, `scale-${n}`, {
          registered: n - unregistered,
          unregistered,
          name: mixedName,
        }),
      );
    }
    const small = hosts.get(SCAN_SIZES[0])!;
    const big = hosts.get(BIG)!;
    const sizeOf = (n: number) => `${n} VMs`;

    // ---- start-up: --help and a table with one non-ASCII name, against the read floor ----
    b.section = `scale: start-up against the read floor (${COLD_RUNS} rounds, paired)`;
    const floor: Case = {
      label: "FLOOR: deno + node:sqlite, 1 query",
      size: sizeOf(SCAN_SIZES[0]),
      spec: { argv: denoRun("floor.ts"), env: { VGPU_DB: small.dbPath } },
    };
    const [, help, table] = await b.group(
      [
        {
          label: "--help",
          size: "-",
          spec: { argv: [...CLI, "--help"], env: small.env },
          check: (s) => s.stdout.startsWith("Usage: vgpu-admin") ? null : "no help printed",
        },
        {
          label: "list-vms (table), 1 non-ASCII name",
          size: sizeOf(SCAN_SIZES[0]),
          spec: { argv: [...CLI, "list-vms"], env: small.env },
          check: (s) => s.stdout.includes("日本") ? null : "the non-ASCII name is missing",
        },
      ],
      COLD_RUNS,
      floor,
    );
    bounds.push(
      {
        bound: `--help ≤ ${HELP_RATIO}× floor`,
        pass: help.paired! <= HELP_RATIO,
        figure: `${f2(help.paired)}× (${ms(help)} against the floor's runs)`,
      },
      {
        bound: `list-vms table, 1 non-ASCII name ≤ ${NON_ASCII_TABLE_RATIO}× floor`,
        pass: table.paired! <= NON_ASCII_TABLE_RATIO,
        figure: `${f2(table.paired)}× (${ms(table)})`,
      },
    );

    // ---- scan-vms against one bare vm-list, every size ----
    const ratios: { n: number; json: number; table: number; calls: number }[] = [];
    const rss: { label: string; r: Result }[] = [];
    for (const n of SCAN_SIZES) {
      const h = hosts.get(n)!;
      b.section = `scale: scan-vms against one bare xe vm-list (${BOUND_RUNS} rounds, paired)`;
      const [, json, tbl, calls] = await b.group(
        [
          {
            label: "scan-vms --format=json",
            size: sizeOf(n),
            spec: { argv: [...CLI, "scan-vms", "--format=json"], env: h.env, callLog: h.callLog },
            usesXe: true,
          },
          {
            label: "scan-vms (table)",
            size: sizeOf(n),
            spec: { argv: [...CLI, "scan-vms"], env: h.env, callLog: h.callLog },
            usesXe: true,
          },
          // not judged: what any program making this call costs here (its start, the spawn, the
          // fake xe beside it on the same CPUs), i.e. how much of the ratio is scan-vms' own
          xeCallsOnly(sizeOf(n), h.env, [VM_LIST_ARGS]),
        ],
        BOUND_RUNS,
        {
          label: "BARE xe vm-list (scan's params)",
          size: sizeOf(n),
          spec: { argv: [FAKE_XE_PATH, ...VM_LIST_ARGS], env: h.env, callLog: h.callLog },
        },
      );
      ratios.push({ n, json: json.paired!, table: tbl.paired!, calls: calls.paired! });
      if (n === BIG) {
        rss.push({ label: "scan-vms --format=json", r: json }, { label: "scan-vms", r: tbl });
      }
    }
    for (const key of ["json", "table"] as const) {
      const worst = Math.max(...ratios.map((r) => r[key]));
      const growth = ratios[ratios.length - 1][key] / ratios[0][key];
      const label = key === "json" ? "scan-vms --format=json" : "scan-vms (table)";
      bounds.push({
        bound: `${label} ≤ ${SCAN_RATIO}× one xe vm-list, every size`,
        pass: worst <= SCAN_RATIO,
        figure: `${ratios.map((r) => `${r.n}: ${f2(r[key])}×`).join(", ")} (the call alone: ${
          ratios.map((r) => `${f2(r.calls)}×`).join(", ")
        })`,
      }, {
        bound: `${label}: the ratio not growing with N (≤ ${SCAN_GROWTH}×)`,
        pass: growth <= SCAN_GROWTH,
        figure: `${SCAN_SIZES[SCAN_SIZES.length - 1]} VMs / ${SCAN_SIZES[0]} VMs: ${f2(growth)}×`,
      });
    }

    // ---- list-vms and status --offline against a bare script printing the same rows ----
    const rowCases: { mode: string; label: string; argv: string[] }[] = [
      { mode: "list-json", label: "list-vms --format=json", argv: ["list-vms", "--format=json"] },
      { mode: "list-table", label: "list-vms (table)", argv: ["list-vms"] },
      {
        mode: "status-json",
        label: "status --offline --format=json",
        argv: ["status", "--offline", "--format=json"],
      },
    ];
    const bigRegistered = BIG - Math.max(1, Math.ceil(BIG / 10));
    const reg = `${bigRegistered} reg`;
    for (const c of rowCases) {
      // the floor must print exactly what the product prints
      let product: string | null = null;
      b.section = `scale: rows against a bare script printing them (${BOUND_RUNS} rounds, paired)`;
      const [, r] = await b.group(
        [{
          label: c.label,
          size: reg,
          spec: { argv: [...CLI, ...c.argv], env: big.env },
          check: (s) => {
            product = s.stdout;
            return null;
          },
        }],
        BOUND_RUNS,
        {
          label: `ROWS FLOOR: ${c.mode}`,
          size: reg,
          spec: { argv: denoRun("floor-rows.ts", c.mode), env: { VGPU_DB: big.dbPath } },
        },
      );
      const floorOut = await b.run({
        argv: denoRun("floor-rows.ts", c.mode),
        env: { VGPU_DB: big.dbPath },
      });
      if (product !== null && floorOut.stdout !== product) {
        b.problems.push(`scale: the ${c.mode} floor does not print what ${c.label} prints`);
      }
      bounds.push({
        bound: `${c.label} at ${bigRegistered} ≤ ${ROWS_RATIO}× the rows floor`,
        pass: r.paired! <= ROWS_RATIO,
        figure: `${f2(r.paired)}× (${ms(r)})`,
      });
      rss.push({ label: c.label, r });
    }

    // ---- peak RSS at the largest size: every command that reads all VMs ----
    b.section = `scale: peak RSS at ${BIG} VMs (${BOUND_RUNS} rounds)`;
    const procRoot = `${big.dir}/proc`;
    Deno.mkdirSync(procRoot, { recursive: true });
    const env = { ...big.env, VGPU_PROC_ROOT: procRoot };
    const more = await b.group(
      [
        { label: "status --format=json", argv: ["status", "--format=json"] },
        { label: "status", argv: ["status"] },
        { label: "status --offline", argv: ["status", "--offline"] },
        { label: "doctor", argv: ["doctor", `--root=${big.dir}`], code: 1 },
        {
          label: "doctor --format=json",
          argv: ["doctor", `--root=${big.dir}`, "--format=json"],
          code: 1,
        },
      ].map((c) => ({
        label: c.label,
        size: sizeOf(BIG),
        spec: { argv: [...CLI, ...c.argv], env, callLog: big.callLog },
        usesXe: true,
        expectCode: c.code,
      })),
      BOUND_RUNS,
    );
    for (const r of more) rss.push({ label: r.c.label, r });
    const worst = rss.reduce((a, x) => (x.r.rssMb > a.r.rssMb ? x : a));
    bounds.push({
      bound: `peak RSS at ${BIG} VMs < ${RSS_MIB} MiB, every command`,
      pass: rss.every((x) => x.r.rssMb < RSS_MIB),
      figure: `max ${worst.r.rssMb.toFixed(1)} MiB (${worst.label})`,
      more: rss.map((x) => `${x.label}: ${x.r.rssMb.toFixed(1)} MiB`),
    });
    return bounds;
  },
};

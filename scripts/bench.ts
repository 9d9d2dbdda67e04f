// deno-lint-ignore-file no-console
// deno task bench: vgpu-admin's performance figures (issue 4), measured against the fake xe of
// the tests on this machine, in one run. Every figure is a subprocess started the way an admin
// starts the CLI (tests/helpers.ts cliCommand(): `deno run` with the product's permissions, or
// VGPU_ADMIN_BIN). Median and min of BENCH_RUNS runs (default 5) after one unmeasured warm-up run
// that also checks the command's exit code and output. BENCH_QUICK=1: small sizes, 1 run (smoke).
// Nothing outside a temporary directory is touched; it is removed at the end (BENCH_KEEP=1 keeps
// it). Exit 1 when a command failed or printed something unexpected; a FAIL target is no error.
import { DatabaseSync } from "node:sqlite";
import { buildDevice } from "../src/domain/device-args.ts";
import type { PoolId, Priority, VgpuConfig } from "../src/domain/types.ts";
import { CLI_PERMISSIONS, cliCommand, ROOT } from "../tests/helpers.ts";
import {
  DEFAULT_HOST_UUID,
  defaultState,
  FAKE_XE_PATH,
  type FakeVm,
  fakeXeEnv,
  makeVm,
  writeStateSync,
} from "../tests/fake-xe/state.ts";

// ---- configuration ----------------------------------------------------------------------------

const QUICK = Deno.env.get("BENCH_QUICK") === "1";
const RUNS = (() => {
  const raw = Deno.env.get("BENCH_RUNS");
  const n = raw === undefined || raw === "" ? (QUICK ? 1 : 5) : Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`BENCH_RUNS must be a positive integer, got ${JSON.stringify(raw)}`);
    Deno.exit(2);
  }
  return n;
})();
const SCAN_SIZES = QUICK ? [10, 200] : [10, 1000, 5000];
const LIST_SIZES = QUICK ? [10, 500] : [10, 10000];
const IMPORT_SIZE = QUICK ? 500 : 10000;
/** VMs per scan host whose platform line is ambiguous (a value holding "; "): one extra call each. */
const AMBIGUOUS = 2;
const POLL_MS = 5;
/** Start-up figures are cheap and the most sensitive to noise: three times the runs. */
const COLD_RUNS = RUNS * 3;

const TARGET_COLD_RATIO = 2;
const TARGET_LIST_FACTOR = 1.3;
const TARGET_IMPORT_MS = 2000;
const TARGET_RSS_MB = 120;

const DENO = Deno.execPath();
const CLI = cliCommand();
const CLI_LABEL = Deno.env.get("VGPU_ADMIN_BIN")
  ? `VGPU_ADMIN_BIN=${CLI[0]}`
  : `deno run --quiet --no-prompt ${CLI_PERMISSIONS.join(" ")} main.ts`;
const TIME_BIN = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : null;
  } catch {
    return null;
  }
})();
const VM_LIST_ARGS = [
  "vm-list",
  "is-control-domain=false",
  "params=uuid,name-label,power-state,resident-on,is-control-domain,platform",
];

const WORK = Deno.makeTempDirSync({ prefix: "vgpu-bench-" });
function removeWork(): void {
  // BENCH_KEEP=1 keeps the hosts and databases for a closer look.
  if (Deno.env.get("BENCH_KEEP") === "1") return;
  try {
    Deno.removeSync(WORK, { recursive: true });
  } catch { /* already gone */ }
}
// Whatever happens (an uncaught error too), the temporary directory goes.
globalThis.addEventListener("unload", removeWork);
globalThis.addEventListener("error", removeWork);
globalThis.addEventListener("unhandledrejection", removeWork);
const enc = new TextEncoder();
const dec = new TextDecoder();

function progress(msg: string): void {
  Deno.stderr.writeSync(enc.encode(`  … ${msg}\n`));
}

// ---- the machine ------------------------------------------------------------------------------

function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

function loadAvg(): string {
  return readOr("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

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

// ---- measuring one process --------------------------------------------------------------------

interface Sample {
  ms: number;
  code: number;
  stdout: string;
  /** Bytes written to stdout. */
  outBytes: number;
  stderr: string;
  /** VmHWM of the measured process itself (polled), kB; 0 when never seen. */
  ownKb: number;
  /** /usr/bin/time %M: the process and every child it waited for (the fake xe too), kB. */
  treeKb: number | null;
  xeCalls: number | null;
}

function hwmKb(pid: number): number {
  const m = /^VmHWM:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

/** The pid of the process /usr/bin/time started (its only child), or null while not yet there. */
function childOf(pid: number): number | null {
  const first = readOr(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)[0];
  return first ? Number(first) : null;
}

interface RunSpec {
  argv: string[];
  env: Record<string, string>;
  /** The fake's call log: truncated before the run, its lines counted after. */
  callLog?: string;
  stdin?: string;
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    NO_COLOR: "1",
    // deno's own update check is not the product's start-up.
    DENO_NO_UPDATE_CHECK: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return env;
}

async function runOnce(spec: RunSpec): Promise<Sample> {
  if (spec.callLog) Deno.writeTextFileSync(spec.callLog, "");
  const timeOut = `${WORK}/time-${crypto.randomUUID()}.txt`;
  const [cmd, ...args] = TIME_BIN ? [TIME_BIN, "-f", "%M", "-o", timeOut, ...spec.argv] : spec.argv;
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env: { ...baseEnv(), ...spec.env },
    stdin: spec.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let done = false;
  let t1 = 0;
  const output = child.output().then((r) => {
    t1 = performance.now();
    done = true;
    return r;
  });
  if (spec.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(enc.encode(spec.stdin));
    await w.close();
  }
  let own = 0;
  let target: number | null = TIME_BIN ? null : child.pid;
  while (!done) {
    target ??= childOf(child.pid);
    if (target !== null) own = Math.max(own, hwmKb(target));
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const r = await output;
  let treeKb: number | null = null;
  if (TIME_BIN) {
    const lines = readOr(timeOut).trim().split("\n");
    const last = Number(lines[lines.length - 1]);
    treeKb = Number.isFinite(last) ? last : null;
    Deno.removeSync(timeOut);
  }
  let xeCalls: number | null = null;
  if (spec.callLog) {
    xeCalls = readOr(spec.callLog).split("\n").filter((l) => l.trim() !== "").length;
  }
  return {
    ms: t1 - t0,
    code: r.code,
    stdout: dec.decode(r.stdout),
    outBytes: r.stdout.length,
    stderr: dec.decode(r.stderr),
    ownKb: own,
    treeKb,
    xeCalls,
  };
}

interface Case {
  label: string;
  size: string;
  spec: RunSpec | (() => RunSpec);
  /** Checks the warm-up run (exit code, output): returns a problem or null. */
  check?: (s: Sample) => string | null;
  /** Runs before every run (measured or not), e.g. a fresh empty database for import. */
  before?: () => void;
  expectCode?: number;
  /** The measured process runs xe: its own RSS is the polled one, not /usr/bin/time's. */
  usesXe?: boolean;
}

interface Result {
  c: Case;
  samples: Sample[];
  median: number;
  min: number;
  max: number;
  /** Peak RSS of the vgpu-admin process itself over all runs, MB. */
  rssMb: number;
  /** Peak RSS including waited-for children (/usr/bin/time), MB; null without it. */
  treeMb: number | null;
  /** Median stdout size, KiB. */
  outKb: number;
  xeCalls: string;
  xeCallsMax: number | null;
  /** With a baseline: median over the runs of (this run / the baseline run just before it). */
  paired?: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const results: (Result & { section: string })[] = [];
let section = "";
const problems: string[] = [];

function problemOf(c: Case, s: Sample, run: string): string | null {
  const expect = c.expectCode ?? 0;
  if (s.code !== expect) {
    return `${c.label} ${c.size}: ${run} exit ${s.code} (expected ${expect}): ${
      s.stderr.trim().split("\n")[0] ?? ""
    }`;
  }
  return null;
}

function summarise(c: Case, samples: Sample[]): Result {
  const ms = samples.map((s) => s.ms);
  const calls = samples.map((s) => s.xeCalls).filter((n): n is number => n !== null);
  const lo = Math.min(...calls);
  const hi = Math.max(...calls);
  // Own RSS: exact from /usr/bin/time when the process has no children; polled otherwise.
  const own = samples.map((s) =>
    !c.usesXe && s.treeKb !== null ? Math.max(s.treeKb, s.ownKb) : s.ownKb
  );
  const tree = samples.map((s) => s.treeKb).filter((n): n is number => n !== null);
  return {
    c,
    samples,
    median: median(ms),
    min: Math.min(...ms),
    max: Math.max(...ms),
    rssMb: Math.max(...own) / 1024,
    treeMb: tree.length ? Math.max(...tree) / 1024 : null,
    outKb: median(samples.map((s) => s.outBytes)) / 1024,
    xeCalls: calls.length === 0 ? "" : lo === hi ? String(lo) : `${lo}-${hi}`,
    xeCallsMax: calls.length === 0 ? null : hi,
  };
}

/**
 * Measures the cases together: one warm-up each (checked), then `runs` rounds that run every case
 * once, so a burst of load from other work on the machine hits all of them alike. With a
 * `baseline`, every run of a case follows a run of the baseline, and the case's `paired` figure
 * is the median of (case / baseline just before it): the fairest ratio on a busy machine.
 */
async function benchGroup(cases: Case[], runs = RUNS, baseline?: Case): Promise<Result[]> {
  const specOf = (c: Case) => typeof c.spec === "function" ? c.spec() : c.spec;
  for (const c of baseline ? [baseline, ...cases] : cases) {
    progress(`${c.label} ${c.size}`);
    c.before?.();
    const warm = await runOnce(specOf(c));
    const exit = problemOf(c, warm, "warm-up");
    const output = exit === null ? c.check?.(warm) ?? null : null;
    if (exit !== null) problems.push(exit);
    if (output !== null) problems.push(`${c.label} ${c.size}: ${output}`);
  }
  const samples: Sample[][] = cases.map(() => []);
  const ratios: number[][] = cases.map(() => []);
  const base: Sample[] = [];
  const measure = async (c: Case, run: number) => {
    c.before?.();
    const s = await runOnce(specOf(c));
    const problem = problemOf(c, s, `run ${run}`);
    if (problem !== null) problems.push(problem);
    return s;
  };
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cases.entries()) {
      const b = baseline ? await measure(baseline, i + 1) : null;
      const s = await measure(c, i + 1);
      samples[k].push(s);
      if (b !== null) {
        base.push(b);
        ratios[k].push(s.ms / b.ms);
      }
    }
  }
  const rs = cases.map((c, k) => ({
    ...summarise(c, samples[k]),
    paired: baseline ? median(ratios[k]) : null,
  }));
  if (baseline) {
    const b = { ...summarise(baseline, base), paired: null };
    results.push({ ...b, section });
    rs.unshift(b);
  }
  results.push(...rs.slice(baseline ? 1 : 0).map((r) => ({ ...r, section })));
  return rs;
}

async function bench(c: Case): Promise<Result> {
  return (await benchGroup([c]))[0];
}

// ---- building hosts and databases -------------------------------------------------------------

interface HostSpec {
  registered: number;
  unregistered: number;
}

/** One fake xe state file of a host, with its own call log. */
interface HostState {
  statePath: string;
  callLog: string;
  env: Record<string, string>;
}

interface BuiltHost extends HostState {
  dir: string;
  dbPath: string;
  /** The same host and database, but the first AMBIGUOUS registered VMs carry "; " in their args. */
  ambiguous: HostState;
  ambiguousCount: number;
  registeredUuid: string;
  unregisteredUuid: string | null;
}

const UNREGISTERED_ARGS = "-vga std -display none";

function uuidOf(n: number): string {
  return `7d1e2f00-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

function configOf(i: number): VgpuConfig {
  return { pool: (i % 4 === 0 ? "B" : "A") as PoolId, priority: (i % 3) as Priority, vmId: i };
}

/** Creates the database with the product's own migrations (a first command), empty. */
async function createDb(dbPath: string, env: Record<string, string>): Promise<void> {
  const r = await runOnce({ argv: [...CLI, "list-vms"], env: { ...env, VGPU_DB: dbPath } });
  if (r.code !== 0) throw new Error(`creating ${dbPath} failed: ${r.stderr.trim()}`);
}

/** Registers VMs 1..n by direct SQL (rows and a history row each, as register-vm writes). */
function fillDb(dbPath: string, n: number): void {
  const db = new DatabaseSync(dbPath);
  try {
    const ts = "2025-01-01 00:00:00";
    db.exec("BEGIN IMMEDIATE");
    const vm = db.prepare(
      `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const hist = db.prepare(
      `INSERT INTO history (at, actor, command, vm_uuid, pool_id, before_json, after_json)
       VALUES (?, 'bench', 'register-vm', ?, ?, NULL, ?)`,
    );
    for (let i = 1; i <= n; i++) {
      const c = configOf(i);
      vm.run(c.vmId, uuidOf(i), `vm-${i}`, c.pool, c.priority, ts, ts);
      hist.run(
        ts,
        uuidOf(i),
        c.pool,
        JSON.stringify({ vm_uuid: uuidOf(i), vm_name: `vm-${i}`, pool_id: c.pool, vm_id: i }),
      );
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** Writes a fake xe state: VMs 1..R registered and in sync, then U unregistered ones. */
function writeHostState(
  dir: string,
  name: string,
  h: HostSpec,
  ambiguous: number,
  base: Record<string, string>,
): HostState {
  const statePath = `${dir}/${name}.json`;
  const callLog = `${dir}/${name}-calls.jsonl`;
  const vms: FakeVm[] = [];
  const total = h.registered + h.unregistered;
  for (let i = 1; i <= total; i++) {
    const registered = i <= h.registered;
    let args = registered ? buildDevice(configOf(i)) : UNREGISTERED_ARGS;
    // "; " in the value makes vm-list's platform line ambiguous: scan reads that key alone.
    if (registered && i <= ambiguous) args = `-append console=ttyS0; ${args}`;
    vms.push(makeVm({
      uuid: uuidOf(i),
      nameLabel: `vm-${i}`,
      powerState: i % 3 === 0 ? "running" : "halted",
      platform: { "device-model-args": args, timeoffset: "0", viridian: "true", nx: "true" },
    }));
  }
  writeStateSync(statePath, { ...defaultState({ vms }), callLog });
  return { statePath, callLog, env: { ...base, ...fakeXeEnv(statePath) } };
}

/**
 * A simulated host: registered VMs 1..R carrying their args (in sync), then U unregistered VMs
 * with other QEMU args; every third VM running. The database holds VMs 1..R. A second state of
 * the same host has AMBIGUOUS registered VMs whose platform line is ambiguous.
 */
async function buildHost(name: string, h: HostSpec): Promise<BuiltHost> {
  const dir = `${WORK}/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  const dbPath = `${dir}/vgpu_config.db`;
  const inventory = `${dir}/xensource-inventory`;
  Deno.writeTextFileSync(inventory, `INSTALLATION_UUID='${DEFAULT_HOST_UUID}'\n`);
  const base = {
    VGPU_DB: dbPath,
    VGPU_INVENTORY: inventory,
    VGPU_LOG: `${dir}/vgpu-vm-startup.log`,
  };
  const plain = writeHostState(dir, "xe-state", h, 0, base);
  const ambiguousCount = Math.min(AMBIGUOUS, h.registered);
  const ambiguous = writeHostState(dir, "xe-state-ambiguous", h, ambiguousCount, base);
  await createDb(dbPath, plain.env);
  fillDb(dbPath, h.registered);
  return {
    dir,
    dbPath,
    ...plain,
    ambiguous,
    ambiguousCount,
    registeredUuid: uuidOf(1),
    unregisteredUuid: h.unregistered > 0 ? uuidOf(h.registered + h.unregistered) : null,
  };
}

// ---- output checks ----------------------------------------------------------------------------

function jsonCheck(f: (doc: Record<string, unknown>) => string | null) {
  return (s: Sample): string | null => {
    try {
      return f(JSON.parse(s.stdout));
    } catch (e) {
      return `output is not JSON: ${e instanceof Error ? e.message : e}`;
    }
  };
}

/** scan-vms / status JSON: every registered VM "configured" (in sync), every other one listed. */
function hostViewCheck(registered: number, unregistered: number, status = "configured") {
  return jsonCheck((doc) => {
    const pools = doc.pools as { vms: { status: string }[] }[];
    const vms = pools.flatMap((p) => p.vms);
    const ok = vms.filter((v) => v.status === status).length;
    if (vms.length !== registered || ok !== registered) {
      return `expected ${registered} registered VMs "${status}", got ${ok} of ${vms.length}`;
    }
    const un = doc.unregistered as unknown[] | null;
    const got = un === null ? null : un.length;
    const want = status === "unknown" ? null : unregistered;
    return got === want ? null : `expected ${want} unregistered VMs, got ${got}`;
  });
}

function countVms(n: number) {
  return jsonCheck((doc) => {
    const vms = doc.vms as unknown[] | undefined;
    return Array.isArray(vms) && vms.length === n ? null : `expected ${n} VMs in "vms"`;
  });
}

// ---- the renderer in a fresh process (cost of printing N rows) ---------------------------------

const RENDER_SCRIPT = `${WORK}/render-cost.ts`;
Deno.writeTextFileSync(
  RENDER_SCRIPT,
  `import { renderTable } from ${JSON.stringify(`${ROOT}/src/cli/render/table.ts`)};
import { vmJson, vmLabel } from ${JSON.stringify(`${ROOT}/src/cli/render/vm-fields.ts`)};
const [format, nText] = Deno.args;
const n = Number(nText);
const names = ["low", "medium", "high"];
const vms = Array.from({ length: n }, (_, k) => {
  const i = k + 1;
  return {
    vmId: i,
    vmUuid: "7d1e2f00-0000-4000-8000-" + i.toString(16).padStart(12, "0"),
    vmName: "vm-" + i,
    pool: i % 4 === 0 ? "B" : "A",
    priority: i % 3,
    createdAt: "2025-01-01 00:00:00",
    updatedAt: "2025-01-01 00:00:00",
  };
});
// list-vms pays the table library's load at every size: load it before the clock starts.
renderTable(["x"], [["y"]], false);
const enc = new TextEncoder();
const t0 = performance.now();
let text;
if (format === "plain") {
  // Reference only, not the product: the same rows padded to fixed widths by hand.
  const head = ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"];
  const rows = vms.map((v) => [String(v.vmId), v.vmUuid, v.vmName, v.pool, names[v.priority]]);
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r) => "│ " + r.map((x, c) => x.padEnd(w[c])).join(" │ ") + " │";
  text = [line(head), ...rows.map(line)].join("\\n") + "\\n" + n + " VMs\\n";
} else if (format === "json") {
  text = JSON.stringify({ schema_version: 1, filter: { pool_id: null, priority: null }, vms: vms.map(vmJson) }, null, 2) + "\\n";
} else {
  const table = renderTable(
    ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"],
    vms.map((v) => [v.vmId, v.vmUuid, vmLabel(v), v.pool, names[v.priority]]),
    false,
  );
  text = table + "\\n" + n + " VMs\\n";
}
const buf = enc.encode(text);
let off = 0;
while (off < buf.length) off += Deno.stdout.writeSync(buf.subarray(off));
Deno.stderr.writeSync(enc.encode(String(performance.now() - t0)));
`,
);

const READ_SCRIPT = `${WORK}/read-cost.ts`;
Deno.writeTextFileSync(
  READ_SCRIPT,
  `import { openDatabase } from ${JSON.stringify(`${ROOT}/src/store/open.ts`)};
import { Store } from ${JSON.stringify(`${ROOT}/src/store/store.ts`)};
const path = Deno.args[0];
const now = () => new Date();
const o = await openDatabase(path, { now });
const store = new Store(o.db, path, { actor: "bench", command: "list-vms" }, now);
const t0 = performance.now();
const vms = store.listVms({});
const ms = performance.now() - t0;
store.close();
Deno.stderr.writeSync(new TextEncoder().encode(ms + " " + vms.length));
`,
);

/**
 * Median of the ms a fresh Deno process reports on stderr (`<ms> ...`), after one warm-up;
 * NaN (and a problem) when it fails.
 */
async function freshCost(args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const r = await runOnce({
      argv: [
        DENO,
        "run",
        "--quiet",
        "--no-prompt",
        `--config=${ROOT}/deno.json`,
        ...CLI_PERMISSIONS,
        ...args,
      ],
      env: {},
    });
    const ms = Number(r.stderr.trim().split(" ")[0]);
    if (r.code !== 0 || !Number.isFinite(ms)) {
      problems.push(`${args.join(" ")}: ${r.stderr.trim().split("\n")[0]}`);
      return NaN;
    }
    if (i > 0) times.push(ms);
  }
  return median(times);
}

/** Median ms to render and write N rows of list-vms in a fresh Deno process. */
function renderCost(format: "table" | "json" | "plain", n: number): Promise<number> {
  return freshCost([RENDER_SCRIPT, format, String(n)]);
}

/** Median ms of Store.listVms() (the SQL read behind list-vms) on a database, fresh process. */
function readCost(dbPath: string): Promise<number> {
  return freshCost([READ_SCRIPT, dbPath]);
}

// ---- the floor --------------------------------------------------------------------------------

const FLOOR_SCRIPT = `${WORK}/floor.ts`;
Deno.writeTextFileSync(
  FLOOR_SCRIPT,
  `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.env.get("VGPU_DB"));
const row = db.prepare("SELECT count(*) AS n FROM vms").get();
db.close();
Deno.stdout.writeSync(new TextEncoder().encode(row.n + "\\n"));
`,
);
const FLOOR_ARGV = [DENO, "run", "--quiet", "--no-prompt", ...CLI_PERMISSIONS, FLOOR_SCRIPT];

// A stub xe for the hook: sh printing the VM's args (what the fake prints), one line logged per
// call. It costs a fork and exec of sh, where the fake xe costs a whole `deno run`.
const STUB_XE = `${WORK}/stub-xe`;
function writeStubXe(args: Map<string, string>): void {
  const q = (t: string) => `'${t.replaceAll("'", `'\\''`)}'`;
  const lines = [
    "#!/bin/sh",
    'printf \'%s\\n\' "$*" >> "$STUB_XE_LOG"',
    'for a in "$@"; do',
    '  case "$a" in',
  ];
  for (const [uuid, value] of args) {
    lines.push(`    uuid=${uuid}) printf '%s\\n' ${q(value)}; exit 0 ;;`);
  }
  lines.push("  esac", "done", 'echo "stub xe: unexpected call: $*" >&2', "exit 1", "");
  Deno.writeTextFileSync(STUB_XE, lines.join("\n"), { mode: 0o755 });
  Deno.chmodSync(STUB_XE, 0o755);
}

// ---- the portable build's form: main.ts as one file (deno bundle), as build:portable ships it ---

const BUNDLE = `${WORK}/vgpu-admin.js`;
/** deno run flags of the portable launcher besides permissions (scripts/build-portable.ts). */
const BUNDLE_FLAGS = ["--no-config", "--no-lock", "--no-remote", "--cached-only"];
let bundleNote = "";

/** Bundles main.ts like build:portable (missing command modules left external); false on failure. */
async function makeBundle(): Promise<boolean> {
  const attempt = (external: string[]) =>
    new Deno.Command(DENO, {
      args: [
        "bundle",
        "--quiet",
        "--platform=deno",
        "--output",
        BUNDLE,
        ...external.map((e) => `--external=${e}`),
        "main.ts",
      ],
      cwd: ROOT,
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
  try {
    let r = await attempt([]);
    if (r.code !== 0) {
      const text = dec.decode(r.stderr);
      const missing = [...text.matchAll(/Module not found "file:\/\/([^"]+)"/g)]
        .map((m) => `.${decodeURIComponent(m[1]).slice(ROOT.length)}`);
      if (missing.length > 0) r = await attempt([...new Set(missing)]);
    }
    if (r.code !== 0) {
      bundleNote = `deno bundle failed: ${dec.decode(r.stderr).trim().split("\n")[0]}`;
      return false;
    }
    return true;
  } catch (e) {
    bundleNote = `deno bundle failed: ${e instanceof Error ? e.message : e}`;
    return false;
  }
}

/** The node: built-ins the bundle imports statically (loaded at every start of it). */
function bundleNodeImports(): string[] {
  const code = readOr(BUNDLE);
  const found = [...code.matchAll(/^import\s+(?:[^;]*?\s+from\s+)?"(node:[a-z_/]+)";/gm)]
    .map((m) => m[1]);
  return [...new Set(found)];
}

// ---- the runs ---------------------------------------------------------------------------------

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
progress("building hosts and databases");

const scanHosts = new Map<number, BuiltHost>();
for (const n of SCAN_SIZES) {
  const unregistered = Math.max(1, Math.ceil(n / 10));
  scanHosts.set(n, await buildHost(`scan-${n}`, { registered: n - unregistered, unregistered }));
}
const listHosts = new Map<number, BuiltHost>();
for (const n of LIST_SIZES) {
  listHosts.set(n, await buildHost(`list-${n}`, { registered: n, unregistered: 0 }));
}
const small = scanHosts.get(SCAN_SIZES[0])!;
writeStubXe(
  new Map([
    [small.registeredUuid, buildDevice(configOf(1))],
    [small.unregisteredUuid!, UNREGISTERED_ARGS],
  ]),
);

// Cold start, all on the same small database and host, measured together (interleaved) with
// COLD_RUNS rounds: the floor, the floor plus one import each (where start-up goes), the CLI.
const smallSize = `${SCAN_SIZES[0] - Math.ceil(SCAN_SIZES[0] / 10)} reg`;
const loadCases: { name: string; body: string }[] = [
  { name: "main.ts (tree only)", body: `import ${JSON.stringify(`${ROOT}/main.ts`)};` },
  {
    name: "the table renderer",
    body: `import { renderTable } from ${
      JSON.stringify(`${ROOT}/src/cli/render/table.ts`)
    };\nrenderTable(["x"], [["y"]], false);`,
  },
  {
    name: "commander",
    body: `import { Command } from "@commander-js/extra-typings";\nnew Command();`,
  },
];
const loadCaseList: Case[] = loadCases.map((l, i) => {
  const file = `${WORK}/load-${i}.ts`;
  Deno.writeTextFileSync(file, `${readOr(FLOOR_SCRIPT)}${l.body}\n`);
  const argv = [DENO, "run", "--quiet", "--no-prompt", `--config=${ROOT}/deno.json`];
  return {
    label: `FLOOR + import ${l.name}`,
    size: smallSize,
    spec: { argv: [...argv, ...CLI_PERMISSIONS, file], env: { VGPU_DB: small.dbPath } },
  };
});

/** The hook's last log line must name this action. */
const hookLogged = (action: string) => (): string | null => {
  const lines = readOr(small.env.VGPU_LOG).trim().split("\n");
  return lines[lines.length - 1].includes(`action=${action} `)
    ? null
    : `hook log says ${lines[lines.length - 1]}`;
};
const hookCase = (label: string, uuid: string, env: Record<string, string>, log: string) => ({
  label,
  size: smallSize,
  spec: {
    argv: [...CLI, "startup-hook", `--vm-uuid=${uuid}`, "--reason=none"],
    env,
    callLog: log,
  },
  usesXe: true,
});
const stubEnv = { ...small.env, VGPU_XE: STUB_XE, STUB_XE_LOG: `${small.dir}/stub-calls.log` };
section = `cold start: small database, fake host (${COLD_RUNS} rounds, each run after a floor run)`;
const floorCase: Case = {
  label: "FLOOR: deno + node:sqlite, 1 query",
  size: smallSize,
  spec: { argv: FLOOR_ARGV, env: { VGPU_DB: small.dbPath } },
};
const [
  floor,
  loadMain,
  loadTable,
  loadCommander,
  version,
  coldList,
  coldListJson,
  hookUnreg,
  hookReg,
  bareGet,
  stubUnreg,
  stubReg,
] = await benchGroup(
  [
    ...loadCaseList,
    {
      label: "cold: --version",
      size: "-",
      spec: { argv: [...CLI, "--version"], env: small.env },
      check: (s) => s.stdout.trim() !== "" ? null : "no version printed",
    },
    {
      label: "cold: list-vms (table)",
      size: smallSize,
      spec: { argv: [...CLI, "list-vms"], env: small.env },
    },
    {
      label: "cold: list-vms --format=json",
      size: smallSize,
      spec: { argv: [...CLI, "list-vms", "--format=json"], env: small.env },
    },
    {
      ...hookCase(
        "startup-hook, unregistered VM",
        small.unregisteredUuid!,
        small.env,
        small.callLog,
      ),
      check: hookLogged("unregistered"),
    },
    {
      ...hookCase(
        "startup-hook, registered, in sync",
        small.registeredUuid,
        small.env,
        small.callLog,
      ),
      check: hookLogged("in-sync"),
    },
    {
      label: "bare xe vm-param-get (the hook's call)",
      size: smallSize,
      spec: {
        argv: [
          FAKE_XE_PATH,
          "vm-param-get",
          `uuid=${small.registeredUuid}`,
          "param-name=platform",
          "param-key=device-model-args",
        ],
        env: small.env,
        callLog: small.callLog,
      },
    },
    {
      ...hookCase(
        "startup-hook, unregistered, stub xe",
        small.unregisteredUuid!,
        stubEnv,
        stubEnv.STUB_XE_LOG,
      ),
      check: hookLogged("unregistered"),
    },
    {
      ...hookCase(
        "startup-hook, registered, stub xe",
        small.registeredUuid,
        stubEnv,
        stubEnv.STUB_XE_LOG,
      ),
      check: hookLogged("in-sync"),
    },
  ],
  COLD_RUNS,
  floorCase,
);
const loads = [
  { name: "main.ts (tree only)", r: loadMain },
  { name: "the table renderer", r: loadTable },
  { name: "commander", r: loadCommander },
];

// The same start-ups as the portable build runs them: one bundled file, hoisted node: imports.
section =
  `cold start, bundled as build:portable ships it (${COLD_RUNS} rounds, after a floor run each)`;
progress("deno bundle main.ts");
let bundled: {
  nodeLoad: Result;
  version: Result;
  list: Result;
  listJson: Result;
  hook: Result;
  nodeImports: string[];
} | null = null;
if (await makeBundle()) {
  const nodeImports = bundleNodeImports();
  const nodeFile = `${WORK}/load-node.ts`;
  Deno.writeTextFileSync(
    nodeFile,
    nodeImports.map((m) => `import ${JSON.stringify(m)};`).join("\n") +
      '\nimport { createRequire } from "node:module";\ncreateRequire(import.meta.url);\n' +
      readOr(FLOOR_SCRIPT),
  );
  const run = [DENO, "run", "--quiet", "--no-prompt", ...BUNDLE_FLAGS, ...CLI_PERMISSIONS];
  const rs = await benchGroup(
    [
      {
        label: "FLOOR + the bundle's node: imports",
        size: smallSize,
        spec: { argv: [...run, nodeFile], env: { VGPU_DB: small.dbPath } },
      },
      {
        label: "bundle: --version",
        size: "-",
        spec: { argv: [...run, BUNDLE, "--version"], env: small.env },
      },
      {
        label: "bundle: list-vms (table)",
        size: smallSize,
        spec: { argv: [...run, BUNDLE, "list-vms"], env: small.env },
      },
      {
        label: "bundle: list-vms --format=json",
        size: smallSize,
        spec: { argv: [...run, BUNDLE, "list-vms", "--format=json"], env: small.env },
      },
      {
        ...hookCase(
          "bundle: startup-hook, registered, stub",
          small.registeredUuid,
          stubEnv,
          stubEnv.STUB_XE_LOG,
        ),
        spec: {
          argv: [...run, BUNDLE, "startup-hook", `--vm-uuid=${small.registeredUuid}`],
          env: stubEnv,
          callLog: stubEnv.STUB_XE_LOG,
        },
        check: hookLogged("in-sync"),
      },
    ],
    COLD_RUNS,
    floorCase,
  );
  bundled = {
    nodeLoad: rs[1],
    version: rs[2],
    list: rs[3],
    listJson: rs[4],
    hook: rs[5],
    nodeImports,
  };
}

// scan-vms against one bare vm-list of the same host, interleaved per size.
section = `scan-vms against the fake xe (${RUNS} interleaved rounds per size)`;
const scans: { n: number; scan: Result; bare: Result; amb: Result; ambiguous: number }[] = [];
for (const n of SCAN_SIZES) {
  const h = scanHosts.get(n)!;
  const unregistered = Math.max(1, Math.ceil(n / 10));
  const [bare, scan, amb] = await benchGroup([
    {
      label: "bare xe vm-list",
      size: `${n} VMs`,
      spec: { argv: [FAKE_XE_PATH, ...VM_LIST_ARGS], env: h.env, callLog: h.callLog },
    },
    {
      label: "scan-vms --format=json",
      size: `${n} VMs`,
      spec: { argv: [...CLI, "scan-vms", "--format=json"], env: h.env, callLog: h.callLog },
      usesXe: true,
      check: hostViewCheck(n - unregistered, unregistered),
    },
    {
      label: `scan-vms --format=json, ${h.ambiguousCount} ambiguous`,
      size: `${n} VMs`,
      spec: {
        argv: [...CLI, "scan-vms", "--format=json"],
        env: h.ambiguous.env,
        callLog: h.ambiguous.callLog,
      },
      usesXe: true,
      check: hostViewCheck(n - unregistered, unregistered),
    },
  ]);
  scans.push({ n, scan, bare, amb, ambiguous: h.ambiguousCount });
}

// list-vms and status at small and large registered counts, interleaved per size.
section = `list-vms and status (${RUNS} interleaved rounds per size)`;
const lists: { n: number; table: Result; json: Result; offline: Result; online: Result }[] = [];
for (const n of LIST_SIZES) {
  const h = listHosts.get(n)!;
  const size = `${n} reg`;
  const [json, table, offline, online] = await benchGroup([
    {
      label: "list-vms --format=json",
      size,
      spec: { argv: [...CLI, "list-vms", "--format=json"], env: h.env },
      check: countVms(n),
    },
    {
      label: "list-vms (table)",
      size,
      spec: { argv: [...CLI, "list-vms"], env: h.env },
      check: (s) => s.stdout.includes(`\n${n} VM`) ? null : `no "${n} VMs" line`,
    },
    {
      label: "status --offline --format=json",
      size,
      spec: { argv: [...CLI, "status", "--offline", "--format=json"], env: h.env },
      check: hostViewCheck(n, 0, "unknown"),
    },
    {
      label: "status --format=json (with host)",
      size: `${n} reg, ${n} VMs`,
      spec: { argv: [...CLI, "status", "--format=json"], env: h.env, callLog: h.callLog },
      usesXe: true,
      check: hostViewCheck(n, 0),
    },
  ]);
  lists.push({ n, table, json, offline, online });
}

// Rendering cost, in a fresh process per run (cold JIT, as in the CLI).
progress("renderer cost in a fresh process");
const nSmall = LIST_SIZES[0];
const nBig = LIST_SIZES[LIST_SIZES.length - 1];
const renderTable = {
  small: await renderCost("table", nSmall),
  big: await renderCost("table", nBig),
};
const renderJson = {
  small: await renderCost("json", nSmall),
  big: await renderCost("json", nBig),
};
const renderPlain = {
  small: await renderCost("plain", nSmall),
  big: await renderCost("plain", nBig),
};
progress("Store.listVms() in a fresh process");
const readRows = {
  small: await readCost(listHosts.get(nSmall)!.dbPath),
  big: await readCost(listHosts.get(nBig)!.dbPath),
};

// import of IMPORT_SIZE VMs into an empty database, from the product's own export of them.
const importFile = `${WORK}/import-${IMPORT_SIZE}.json`;
let importResult: Result | null = null;
let importNote = "";
const importCmd = `${ROOT}/src/cli/commands/import.ts`;
const exportCmd = `${ROOT}/src/cli/commands/export.ts`;
const have = (p: string) => readOr(p, "\u0000") !== "\u0000";
if (!have(importCmd)) {
  importNote = "import not measured: src/cli/commands/import.ts does not exist yet";
} else if (!have(exportCmd)) {
  importNote = "import not measured: src/cli/commands/export.ts (the file format) does not exist";
} else {
  const sourceDb = IMPORT_SIZE === nBig ? listHosts.get(nBig)!.dbPath : await (async () => {
    const p = `${WORK}/import-source.db`;
    await createDb(p, {});
    fillDb(p, IMPORT_SIZE);
    return p;
  })();
  const ex = await runOnce({
    argv: [...CLI, "export", `--output=${importFile}`],
    env: { VGPU_DB: sourceDb },
  });
  if (ex.code !== 0) {
    importNote = `import not measured: export failed: ${ex.stderr.trim()}`;
  } else {
    // An empty database made by the product, copied afresh before every run.
    const empty = `${WORK}/import-empty/vgpu_config.db`;
    await createDb(empty, {});
    let target = "";
    let k = 0;
    section = `import (${RUNS} runs)`;
    importResult = await bench({
      label: "import FILE --offline --yes",
      size: `${IMPORT_SIZE} VMs, empty db`,
      before: () => {
        const dir = `${WORK}/import-target-${k++}`;
        Deno.mkdirSync(dir);
        target = `${dir}/vgpu_config.db`;
        Deno.copyFileSync(empty, target);
      },
      spec: () => ({
        argv: [...CLI, "import", importFile, "--offline", "--yes"],
        env: { VGPU_DB: target },
      }),
    });
    // The last target must hold every VM.
    try {
      const db = new DatabaseSync(target, { readOnly: true });
      const n = (db.prepare("SELECT count(*) AS n FROM vms").get() as { n: number }).n;
      db.close();
      if (n !== IMPORT_SIZE) {
        problems.push(`import: the database holds ${n} VMs, not ${IMPORT_SIZE}`);
      }
    } catch (e) {
      problems.push(`import: cannot read the imported database: ${e}`);
    }
  }
}

const elapsed = (performance.now() - started) / 1000;
const endLoad = loadAvg();

// ---- the report -------------------------------------------------------------------------------

const f1 = (n: number) => n.toFixed(1);
const f0 = (n: number) => n.toFixed(0);
const pad = (s: string, w: number) => s.length >= w ? s : s + " ".repeat(w - s.length);
const lpad = (s: string, w: number) => s.length >= w ? s : " ".repeat(w - s.length) + s;
const verdict = (ok: boolean) => ok ? "PASS" : "FAIL";

const out: string[] = [...header, ""];
const cols: { head: [string, string]; w: number; left?: boolean; get: (r: Result) => string }[] = [
  { head: ["command", ""], w: 38, left: true, get: (r) => r.c.label },
  { head: ["size", ""], w: 18, left: true, get: (r) => r.c.size },
  { head: ["median", "ms"], w: 8, get: (r) => f1(r.median) },
  { head: ["min", "ms"], w: 8, get: (r) => f1(r.min) },
  { head: ["spread", "%"], w: 6, get: (r) => f0((r.max - r.min) / r.median * 100) },
  { head: ["×floor", "paired"], w: 6, get: (r) => r.paired ? r.paired.toFixed(2) : "" },
  { head: ["xe", "calls"], w: 5, get: (r) => r.xeCalls },
  { head: ["stdout", "KiB"], w: 7, get: (r) => f0(r.outKb) },
  { head: ["RSS", "MB"], w: 6, get: (r) => f1(r.rssMb) },
  { head: ["RSS+xe", "MB"], w: 6, get: (r) => r.treeMb === null ? "-" : f1(r.treeMb) },
];
const row = (cells: string[]) =>
  cells.map((c, i) => cols[i].left ? pad(c, cols[i].w) : lpad(c, cols[i].w)).join(" ").trimEnd();
const rule = "-".repeat(cols.reduce((a, c) => a + c.w + 1, -1));
out.push(row(cols.map((c) => c.head[0])), row(cols.map((c) => c.head[1])), rule);
let lastSection = "";
for (const r of results) {
  if (r.section !== lastSection) {
    out.push(`[${r.section}]`);
    lastSection = r.section;
  }
  out.push(row(cols.map((c) => c.get(r))));
}
out.push(rule);
out.push(
  "spread = (max − min) / median. Wall time = spawn to exit seen by this script, stdout piped and",
  "read" + (TIME_BIN ? "; /usr/bin/time wraps every process (the floor too)." : "."),
  "RSS = peak RSS (VmHWM) of the measured process itself, highest of its runs: " +
    (TIME_BIN ? "/usr/bin/time -f %M" : "VmHWM polled"),
  ...(TIME_BIN
    ? [
      "  when it runs no xe; when it does, VmHWM polled every 5 ms from /proc/<pid>/status (%M",
      "  would add the fake xe). RSS+xe = /usr/bin/time %M: the process and every child it waited",
      "  for (the fake xe is a Deno process of its own, unlike the real xe).",
    ]
    : [
      "  every 5 ms from /proc/<pid>/status (/usr/bin/time is not installed: no RSS+xe column).",
    ]),
);

// scan ratios
out.push(
  "",
  "scan-vms --format=json vs one bare `xe vm-list` of the same host (both against the fake):",
);
for (const s of scans) {
  out.push(
    `  ${lpad(String(s.n), 5)} VMs: ${f1(s.scan.median)} / ${f1(s.bare.median)} ms = ${
      (s.scan.median / s.bare.median).toFixed(2)
    }×  (difference ${f1(s.scan.median - s.bare.median)} ms; with ${s.ambiguous} ambiguous VMs ${
      f1(s.amb.median)
    } ms = ${(s.amb.median / s.bare.median).toFixed(2)}×)`,
  );
}

const lSmall = lists[0];
const lBig = lists[lists.length - 1];
out.push(
  "",
  "start-up: where the time goes (differences of the mins, i.e. of the least disturbed runs;",
  "same deno flags):",
);
const attr = (label: string, ms: number, note = "") =>
  out.push(`  ${pad(label, 44)} ${lpad(f1(ms), 6)} ms${note ? `   ${note}` : ""}`);
for (const l of loads) attr(`floor + import ${l.name}`, l.r.min - floor.min);
if (bundled !== null) {
  attr(
    `floor + the bundle's ${bundled.nodeImports.length} static node: imports`,
    bundled.nodeLoad.min - floor.min,
    "(with createRequire)",
  );
}
attr(
  "list-vms (table) − list-vms --format=json",
  coldList.min - coldListJson.min,
  "the table loads cli-table3",
);
attr(
  "startup-hook: fake xe − stub xe",
  hookReg.min - stubReg.min,
  `a bare fake xe call alone: ${f1(bareGet.min)} ms`,
);
attr("startup-hook (stub xe) − floor", stubReg.min - floor.min);
if (bundled !== null) {
  attr("bundle − main.ts: startup-hook (stub xe)", bundled.hook.min - stubReg.min);
  attr("bundle − main.ts: list-vms --format=json", bundled.listJson.min - coldListJson.min);
  attr("bundle − main.ts: list-vms (table)", bundled.list.min - coldList.min);
  attr("bundle − main.ts: --version", bundled.version.min - version.min);
  out.push(`  the bundle's static node: imports: ${bundled.nodeImports.join(" ")}`);
} else {
  out.push(`  bundle: not measured (${bundleNote})`);
}

const printTable = renderTable.big - renderTable.small;
const printJson = renderJson.big - renderJson.small;
const readExtra = readRows.big - readRows.small;
const costLine = (label: string, small: number, big: number, note = "") =>
  `  ${pad(label, 34)} ${lpad(f1(small), 7)} → ${lpad(f1(big), 7)} ms   extra ${
    lpad(f1(big - small), 7)
  } ms${note}`;
out.push(
  "",
  `list-vms, what ${nBig} rows cost over ${nSmall} (each timed inside a fresh Deno process):`,
  costLine("print: table (cli-table3, product)", renderTable.small, renderTable.big),
  costLine("print: json (vmJson + stringify)", renderJson.small, renderJson.big),
  costLine("print: same rows padEnd by hand", renderPlain.small, renderPlain.big, " (reference)"),
  costLine("read: Store.listVms() (SQL)", readRows.small, readRows.big, " (not printing)"),
  `  measured in the CLI: json ${f1(lSmall.json.median)} → ${f1(lBig.json.median)} ms (+${
    f1(lBig.json.median - lSmall.json.median)
  }), table ${f1(lSmall.table.median)} → ${f1(lBig.table.median)} ms (+${
    f1(lBig.table.median - lSmall.table.median)
  }); table − json at ${nBig}: ${f1(lBig.table.median - lBig.json.median)} ms`,
  `  allowance of the target beyond printing: 0.3 × time at ${nSmall} = ${
    f1(0.3 * lSmall.json.median)
  } ms (json), ${f1(0.3 * lSmall.table.median)} ms (table); the read alone takes ${
    f1(readExtra)
  } ms more`,
);

// memory against output size
out.push("", `peak RSS against output size, ${nSmall} → ${nBig} registered VMs:`);
for (
  const [label, a, b] of [
    ["list-vms --format=json", lSmall.json, lBig.json],
    ["list-vms (table)", lSmall.table, lBig.table],
    ["status --offline --format=json", lSmall.offline, lBig.offline],
    ["status --format=json (with host)", lSmall.online, lBig.online],
  ] as const
) {
  const dOut = (b.outKb - a.outKb) / 1024;
  out.push(
    `  ${pad(label, 34)} ${lpad(f1(a.rssMb), 6)} → ${lpad(f1(b.rssMb), 6)} MB for ${
      lpad(dOut.toFixed(2), 5)
    } MiB more stdout: ${dOut > 0 ? f1((b.rssMb - a.rssMb) / dOut) : "-"} MB per MiB`,
  );
}

// targets
const targets: { name: string; figure: string; more?: string[]; ok: boolean | null }[] = [];
/** The paired ratio (median of run / floor run just before it), then medians and mins. */
const pairedOf = (r: Result) => r.paired ?? r.median / floor.median;
const ratio = (r: Result) =>
  `${pairedOf(r).toFixed(2)}× floor (${f1(r.median)} ms; ratio of medians ${
    (r.median / floor.median).toFixed(2)
  }×, of mins ${(r.min / floor.min).toFixed(2)}×)`;
targets.push({
  name: `cold start list-vms ≤ ${TARGET_COLD_RATIO}× floor`,
  figure: `${ratio(coldList)}`,
  more: [`list-vms --format=json: ${ratio(coldListJson)}`],
  ok: pairedOf(coldList) <= TARGET_COLD_RATIO,
});
for (
  const [name, stub, fake] of [
    ["unregistered VM", stubUnreg, hookUnreg],
    ["registered VM", stubReg, hookReg],
  ] as const
) {
  targets.push({
    name: `cold start startup-hook, ${name} ≤ ${TARGET_COLD_RATIO}× floor`,
    figure: `stub xe: ${ratio(stub)}`,
    more: [
      `fake xe: ${ratio(fake)}; minus one bare fake xe call (mins): ${
        ((fake.min - bareGet.min) / floor.min).toFixed(2)
      }×`,
    ],
    ok: pairedOf(stub) <= TARGET_COLD_RATIO,
  });
}
if (bundled !== null) {
  targets.push({
    name: "(info) bundled as build:portable ships it",
    figure: `list-vms: ${ratio(bundled.list)}`,
    more: [`startup-hook, registered VM, stub xe: ${ratio(bundled.hook)}`],
    ok: null,
  });
}
targets.push({
  name: "(info) cold start --version (commander)",
  figure: ratio(version),
  ok: null,
});
for (const s of scans) {
  for (const [r, amb] of [[s.scan, 0], [s.amb, s.ambiguous]] as const) {
    const limit = 2 + amb;
    targets.push({
      name: `scan-vms, ${s.n} VMs, ${amb} ambiguous: ≤ ${limit} xe calls`,
      figure: `${r.xeCalls} calls`,
      ok: r.xeCallsMax !== null && r.xeCallsMax <= limit,
    });
  }
}
const boundTable = TARGET_LIST_FACTOR * lSmall.table.median + printTable;
const boundJson = TARGET_LIST_FACTOR * lSmall.json.median + printJson;
targets.push({
  name: `list-vms (table) ${nBig} ≤ ${TARGET_LIST_FACTOR}× at ${nSmall} + printing`,
  figure: `${f1(lBig.table.median)} ≤ ${TARGET_LIST_FACTOR}×${f1(lSmall.table.median)} + ${
    f1(printTable)
  } = ${f1(boundTable)} ms`,
  ok: lBig.table.median <= boundTable,
});
targets.push({
  name: `list-vms --format=json ${nBig} ≤ ${TARGET_LIST_FACTOR}× at ${nSmall} + printing`,
  figure: `${f1(lBig.json.median)} ≤ ${TARGET_LIST_FACTOR}×${f1(lSmall.json.median)} + ${
    f1(printJson)
  } = ${f1(boundJson)} ms`,
  ok: lBig.json.median <= boundJson,
});
if (importResult !== null) {
  targets.push({
    name: `import of ${IMPORT_SIZE} VMs < ${TARGET_IMPORT_MS} ms`,
    figure: `${f1(importResult.median)} ms (min ${f1(importResult.min)})`,
    ok: importResult.median < TARGET_IMPORT_MS,
  });
}
const cliResults = results.filter((r) =>
  !r.c.label.startsWith("FLOOR") && !r.c.label.startsWith("bare ")
);
const over = cliResults.filter((r) => r.rssMb >= TARGET_RSS_MB);
const worst = cliResults.reduce((a, b) => (b.rssMb > a.rssMb ? b : a));
targets.push({
  name: `peak RSS < ${TARGET_RSS_MB} MB, every vgpu-admin run`,
  figure: over.length === 0
    ? `max ${f1(worst.rssMb)} MB (${worst.c.label}, ${worst.c.size})`
    : over.map((r) => `${r.c.label} ${r.c.size}: ${f1(r.rssMb)} MB`).join("; "),
  ok: over.length === 0,
});

out.push("", "targets:");
for (const t of targets) {
  out.push(`  ${t.ok === null ? "    " : verdict(t.ok)}  ${pad(t.name, 50)} ${t.figure}`);
  for (const m of t.more ?? []) out.push(`${" ".repeat(59)}${m}`);
}
if (importNote) out.push(`  SKIP  ${importNote}`);

out.push(
  "",
  "how the figures are made:",
  "  - FLOOR: a bare Deno script that opens the same database with node:sqlite and runs one",
  "    query, started with the CLI's `deno run` flags. Cold start = one whole process on a warm",
  "    module cache (the warm-up run fills it). In the cold-start groups every run follows a",
  "    floor run; ×floor (paired) = median over the runs of run / the floor run just before it,",
  "    which is what the start-up targets are judged on (the machine is shared).",
  "  - startup-hook makes one xe call. The fake xe is a whole `deno run` (tens of ms), so the",
  "    target is judged with a stub xe (sh printing the VM's args); the fake-xe figure is shown",
  "    too, and minus one bare fake `xe vm-param-get` of the same VM.",
  "  - printing cost: the product's renderer timed inside a fresh Deno process per run (cold",
  "    JIT as in the CLI), its library load excluded since both sizes pay it.",
  "  - status --offline reads the database only; status (with host) also runs vm-list and",
  "    host-list against a host whose every VM is registered and in sync.",
  `  - scan hosts: ${
    SCAN_SIZES.map((n) =>
      `${n} = ${n - Math.max(1, Math.ceil(n / 10))} registered + ${
        Math.max(1, Math.ceil(n / 10))
      } not`
    ).join(", ")
  };`,
  "    registered VMs in sync, every third VM running. The `ambiguous` rows use a copy of the",
  `    host where ${AMBIGUOUS} registered VMs carry "; " in their args (ambiguous platform line).`,
  "  - databases: created by the product (its migrations), rows then added by direct SQL (with",
  "    a history row each); import reads the product's own `export` of such a database into a",
  "    fresh empty one (`import FILE --offline --yes`).",
);

out.push(
  "",
  `noise: load average ${startLoad} at the start, ${endLoad} at the end; ${
    f0(elapsed)
  } s in all. Other work shares these ${navigator.hardwareConcurrency} CPUs:` +
    " a large spread or min ≪ median marks a noisy figure.",
);
if (problems.length > 0) {
  out.push("", "PROBLEMS (figures above may be meaningless):", ...problems.map((p) => `  - ${p}`));
}

console.log(out.join("\n"));
if (Deno.env.get("BENCH_KEEP") === "1") console.log(`\nBENCH_KEEP=1: kept ${WORK}`);
removeWork();
if (problems.length > 0) Deno.exit(1);

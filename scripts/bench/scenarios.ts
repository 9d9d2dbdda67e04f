// deno task bench: the scenarios, each a group of interleaved runs; returns every figure the
// report needs (scripts/bench/report.ts).
import { DatabaseSync } from "node:sqlite";
import { buildDevice } from "../../src/domain/device-args.ts";
import { FAKE_XE_PATH } from "../../tests/fake-xe/state.ts";
import { bundle, HOOK_ENTRIES } from "../build-portable.ts";
import {
  ARCHIVE,
  BUNDLE_FLAGS,
  CLI,
  CLI_PERMISSIONS,
  COLD_RUNS,
  DENO,
  HOOK_CLI,
  IMPORT_SIZE,
  LIST_SIZES,
  PROGRAMS,
  readOr,
  ROOT,
  RUNS,
  SCAN_SIZES,
  SINGLE,
  VM_LIST_ARGS,
} from "./config.ts";
import {
  buildHost,
  type BuiltHost,
  configOf,
  createDb,
  fillDb,
  UNREGISTERED_ARGS,
  writeStubXe,
} from "./hosts.ts";
import { type Bench, type Case, median, type Result, type Sample } from "./measure.ts";

export interface ColdFigures {
  floor: Result;
  loads: { name: string; r: Result }[];
  version: Result;
  list: Result;
  listJson: Result;
  hookUnreg: Result;
  hookReg: Result;
  bareGet: Result;
  stubUnreg: Result;
  stubReg: Result;
  /** `recover` with no interrupted operation: one database read, no xe call (issue 9). */
  recoverIdle: Result;
}

export interface PortableFigures {
  /** What "portable" ran as: the archive's launcher and runtime with a fresh split bundle, or
   * the split bundle on this deno when no archive is built. */
  form: string;
  nodeImports: string[];
  nodeLoad: Result;
  version: Result;
  /** Paired with `deno run` of the same command (source form). */
  list: Result;
  hook: Result;
  /** Paired with the hook floor: deno run and portable. */
  hookFloor: Result;
  sourceHookVsFloor: Result;
  portableHookVsFloor: Result;
  /** The single file after its first run, each paired with the archive's launcher (as built). */
  single: { version: Result; hook: Result } | null;
  singleNote: string;
}

export interface ScanFigures {
  n: number;
  scan: Result;
  bare: Result;
  amb: Result;
  ambiguous: number;
}

export interface ListFigures {
  n: number;
  table: Result;
  json: Result;
  offline: Result;
  online: Result;
}

export interface CostPair {
  small: number;
  big: number;
}

export interface Figures {
  cold: ColdFigures;
  portable: PortableFigures | null;
  portableNote: string;
  scans: ScanFigures[];
  lists: ListFigures[];
  render: { table: CostPair; json: CostPair; plain: CostPair };
  read: CostPair;
  importResult: Result | null;
  importNote: string;
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

// ---- fresh-process costs ----------------------------------------------------------------------

/**
 * Median of the ms a fresh Deno process reports on stderr (`<ms> ...`), after one warm-up;
 * NaN (and a problem) when it fails.
 */
async function freshCost(b: Bench, args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const r = await b.run({
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
      b.problems.push(`${args.join(" ")}: ${r.stderr.trim().split("\n")[0]}`);
      return NaN;
    }
    if (i > 0) times.push(ms);
  }
  return median(times);
}

// ---- the portable form ------------------------------------------------------------------------

/** The split bundle exactly as build:portable makes it; returns an error line or null. */
async function splitBundle(outdir: string): Promise<string | null> {
  try {
    await bundle(outdir);
    return null;
  } catch (e) {
    return `bundling as build:portable does failed: ${e instanceof Error ? e.message : e}`;
  }
}

/** The node: built-ins loaded by main.js and the chunks it imports statically (every start). */
function staticNodeImports(dir: string): string[] {
  const seen = new Set<string>();
  const nodes = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readOr(`${dir}/${file}`);
    for (const m of code.matchAll(/^(?:import|export)\s+(?:[^;]*?\s+from\s+)?"([^"]+)";/gm)) {
      if (m[1].startsWith("node:")) nodes.add(m[1]);
      else if (m[1].startsWith("./")) visit(m[1].slice(2));
    }
  };
  visit("main.js");
  return [...nodes].sort();
}

/** argv of the portable form, or an error line. */
async function portableArgv(
  work: string,
): Promise<{ argv: string[]; direct?: string[]; form: string; app: string } | string> {
  const app = `${work}/app`;
  const err = await splitBundle(app);
  if (err !== null) return err;
  // the hooks' own entry, bundled apart as build:portable does (lib/hook/)
  const hookApp = `${work}/hook`;
  try {
    await bundle(hookApp, HOOK_ENTRIES);
  } catch (e) {
    return `bundling hook.ts as build:portable does failed: ${e instanceof Error ? e.message : e}`;
  }
  try {
    Deno.statSync(ARCHIVE);
  } catch {
    return {
      argv: [
        DENO,
        "run",
        "--quiet",
        "--no-prompt",
        ...BUNDLE_FLAGS,
        ...CLI_PERMISSIONS,
        `${app}/main.js`,
      ],
      form: "split bundle of main.ts on this deno with the launcher's flags (no archive built)",
      app,
    };
  }
  // The archive's launcher and runtime, with the bundle of the source measured here.
  const root = `${work}/portable`;
  Deno.mkdirSync(root);
  const r = await new Deno.Command("tar", { args: ["-xzf", ARCHIVE, "-C", root] }).output();
  if (r.code !== 0) return `cannot unpack ${ARCHIVE}`;
  const lib = `${root}/opt/vgpu-admin/lib`;
  Deno.removeSync(`${lib}/app`, { recursive: true });
  Deno.renameSync(app, `${lib}/app`);
  try {
    Deno.removeSync(`${lib}/hook`, { recursive: true });
  } catch {
    // an archive built before the hooks had their own entry
  }
  Deno.renameSync(hookApp, `${lib}/hook`);
  const opt = `${root}/opt/vgpu-admin`;
  return {
    argv: [`${opt}/bin/vgpu-admin`],
    direct: [
      `${opt}/lib/ld-linux-x86-64.so.2`,
      "--library-path",
      `${opt}/lib`,
      `${opt}/bin/deno`,
      "run",
      "--quiet",
      ...BUNDLE_FLAGS,
      ...CLI_PERMISSIONS,
      `${opt}/lib/app/main.js`,
    ],
    form: `${ARCHIVE.slice(ROOT.length + 1)}: its launcher and runtime (through its ld.so, as ` +
      "from a moved tree), with a split bundle of this source",
    app: `${lib}/app`,
  };
}

// ---- the scenarios ----------------------------------------------------------------------------

export async function runScenarios(b: Bench): Promise<Figures> {
  const work = b.work;
  b.progress("building hosts and databases");
  const scanHosts = new Map<number, BuiltHost>();
  for (const n of SCAN_SIZES) {
    const unregistered = Math.max(1, Math.ceil(n / 10));
    scanHosts.set(
      n,
      await buildHost(b, `scan-${n}`, { registered: n - unregistered, unregistered }),
    );
  }
  const listHosts = new Map<number, BuiltHost>();
  for (const n of LIST_SIZES) {
    listHosts.set(n, await buildHost(b, `list-${n}`, { registered: n, unregistered: 0 }));
  }
  const small = scanHosts.get(SCAN_SIZES[0])!;
  const stubXe = `${work}/stub-xe`;
  writeStubXe(
    stubXe,
    new Map([
      [small.registeredUuid, buildDevice(configOf(1))],
      [small.unregisteredUuid!, UNREGISTERED_ARGS],
    ]),
  );

  // Cold start, all on the same small database and host, measured together (interleaved) with
  // COLD_RUNS rounds: the floor, the floor plus one import each (where start-up goes), the CLI.
  const smallSize = `${SCAN_SIZES[0] - Math.ceil(SCAN_SIZES[0] / 10)} reg`;
  const denoRun = [DENO, "run", "--quiet", "--no-prompt", `--config=${ROOT}/deno.json`];
  const loadCases: { name: string; args: string[] }[] = [
    { name: "main.ts (tree only)", args: [`${ROOT}/main.ts`] },
    { name: "the table renderer", args: [`${ROOT}/src/cli/render/table.ts`, "table"] },
  ];
  const loadCaseList: Case[] = loadCases.map((l) => ({
    label: `FLOOR + import ${l.name}`,
    size: smallSize,
    spec: {
      argv: [...denoRun, ...CLI_PERMISSIONS, `${PROGRAMS}/load-probe.ts`, ...l.args],
      env: { VGPU_DB: small.dbPath },
    },
  }));

  /** The hook's last log line must name this action. */
  const hookLogged = (action: string) => (): string | null => {
    const lines = readOr(small.env.VGPU_LOG).trim().split("\n");
    return lines[lines.length - 1].includes(`action=${action} `)
      ? null
      : `hook log says ${lines[lines.length - 1]}`;
  };
  const hookCase = (
    label: string,
    uuid: string,
    env: Record<string, string>,
    log: string,
    cli = HOOK_CLI,
  ): Case => ({
    label,
    size: smallSize,
    spec: {
      argv: [...cli, "startup-hook", `--vm-uuid=${uuid}`, "--reason=none"],
      env,
      callLog: log,
    },
    usesXe: true,
  });
  const stubEnv = { ...small.env, VGPU_XE: stubXe, STUB_XE_LOG: `${small.dir}/stub-calls.log` };
  b.section =
    `cold start: small database, fake host (${COLD_RUNS} rounds, each run after a floor run)`;
  const floorCase: Case = {
    label: "FLOOR: deno + node:sqlite, 1 query",
    size: smallSize,
    spec: {
      argv: [DENO, "run", "--quiet", "--no-prompt", ...CLI_PERMISSIONS, `${PROGRAMS}/floor.ts`],
      env: { VGPU_DB: small.dbPath },
    },
  };
  const [
    floor,
    loadMain,
    loadTable,
    version,
    list,
    listJson,
    hookUnreg,
    hookReg,
    bareGet,
    stubUnreg,
    stubReg,
    recoverIdle,
  ] = await b.group(
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
      {
        label: "cold: recover, nothing open",
        size: smallSize,
        spec: { argv: [...CLI, "recover", "--yes"], env: small.env, callLog: small.callLog },
        usesXe: true,
        check: (s) =>
          s.stdout.startsWith("No interrupted operations") ? null : `recover printed ${s.stdout}`,
      },
    ],
    COLD_RUNS,
    floorCase,
  );
  const cold: ColdFigures = {
    floor,
    loads: [
      { name: "main.ts (tree only)", r: loadMain },
      { name: "the table renderer", r: loadTable },
    ],
    version,
    list,
    listJson,
    hookUnreg,
    hookReg,
    bareGet,
    stubUnreg,
    stubReg,
    recoverIdle,
  };

  // The portable build: a split bundle (build:portable's form), paired with deno run of the same
  // command, and the hook paired with a floor doing the hook's unavoidable work.
  b.progress("deno bundle --code-splitting main.ts");
  let portable: PortableFigures | null = null;
  let portableNote = "";
  const p = await portableArgv(work);
  if (typeof p === "string") {
    portableNote = p;
  } else {
    const env = (e: Record<string, string>) => ({ ...e, HOME: `${work}/home` });
    const nodeImports = staticNodeImports(p.app);
    b.section = `portable (${COLD_RUNS} rounds; ×floor = paired with the run just before it)`;
    const [, nodeLoad, pVersion] = await b.group(
      [
        {
          label: "FLOOR + createRequire (lazy in the build)",
          size: smallSize,
          spec: {
            argv: [
              DENO,
              "run",
              "--quiet",
              "--no-prompt",
              ...CLI_PERMISSIONS,
              `${PROGRAMS}/node-imports.ts`,
              ...nodeImports,
            ],
            env: { VGPU_DB: small.dbPath },
          },
        },
        {
          label: "portable: --version",
          size: "-",
          spec: { argv: [...p.argv, "--version"], env: env(small.env) },
          check: (s) => s.stdout.trim() !== "" ? null : "no version printed",
        },
      ],
      COLD_RUNS,
      floorCase,
    );
    b.section = `portable list-vms, each run after a deno run of it (${COLD_RUNS} rounds)`;
    const direct: Case[] = p.direct === undefined ? [] : [{
      label: "portable runtime, no launcher: list-vms",
      size: smallSize,
      spec: { argv: [...p.direct, "list-vms"], env: env(small.env) },
    }];
    const listRuns = await b.group(
      [...direct, {
        label: "portable: list-vms (table)",
        size: smallSize,
        spec: { argv: [...p.argv, "list-vms"], env: env(small.env) },
      }],
      COLD_RUNS,
      {
        label: "deno run: list-vms (table)",
        size: smallSize,
        spec: { argv: [...CLI, "list-vms"], env: small.env },
      },
    );
    const pList = listRuns[listRuns.length - 1];
    b.section =
      `portable startup-hook (stub xe), each run after a deno run of it (${COLD_RUNS} rounds)`;
    // the same two hook runs, paired with each other, then each with the hook floor
    const sourceHookCase = hookCase(
      "deno run: startup-hook, registered",
      small.registeredUuid,
      stubEnv,
      stubEnv.STUB_XE_LOG,
    );
    const portableHookCase: Case = {
      ...hookCase(
        "portable: startup-hook, registered",
        small.registeredUuid,
        env(stubEnv),
        stubEnv.STUB_XE_LOG,
        p.argv,
      ),
      check: hookLogged("in-sync"),
    };
    const [, pHook] = await b.group([portableHookCase], COLD_RUNS, sourceHookCase);
    b.section =
      `startup-hook (stub xe) against the hook floor (${COLD_RUNS} rounds, after a hook-floor run each)`;
    const [hookFloor, sourceHook, portableHook] = await b.group(
      [sourceHookCase, portableHookCase],
      COLD_RUNS,
      {
        label: "HOOK FLOOR: db, 1 SELECT, 1 xe, 1 log line",
        size: smallSize,
        spec: {
          argv: [
            DENO,
            "run",
            "--quiet",
            "--no-prompt",
            ...CLI_PERMISSIONS,
            `${PROGRAMS}/floor-hook.ts`,
            small.registeredUuid,
          ],
          env: stubEnv,
          callLog: stubEnv.STUB_XE_LOG,
        },
        usesXe: true,
      },
    );
    // The single file against the launcher of the archive it was built from (same bundles).
    let single: PortableFigures["single"] = null;
    let singleNote = "";
    const pristine = `${work}/pristine`;
    const runtimeDir = `${work}/single-cache`;
    try {
      Deno.statSync(SINGLE);
      Deno.mkdirSync(pristine);
      const un = await new Deno.Command("tar", { args: ["-xzf", ARCHIVE, "-C", pristine] })
        .output();
      if (un.code !== 0) throw new Error(`cannot unpack ${ARCHIVE}`);
      const first = await new Deno.Command(SINGLE, {
        args: ["--version"],
        env: { VGPU_RUNTIME_DIR: runtimeDir, HOME: `${work}/home` },
        stdout: "null",
        stderr: "null",
      }).output();
      if (first.code !== 0) throw new Error(`${SINGLE} --version failed on its first run`);
    } catch (e) {
      singleNote = `not measured: ${e instanceof Error ? e.message : e} (deno task build:single)`;
    }
    if (singleNote === "") {
      const launcher = [`${pristine}/opt/vgpu-admin/bin/vgpu-admin`];
      const senv = (e: Record<string, string>) => ({ ...env(e), VGPU_RUNTIME_DIR: runtimeDir });
      b.section =
        `single file after its first run, each after the archive's launcher (${COLD_RUNS} rounds)`;
      const [, sVersion] = await b.group(
        [{
          label: "single file: --version",
          size: "-",
          spec: { argv: [SINGLE, "--version"], env: senv(small.env) },
          check: (s) => s.stdout.trim() !== "" ? null : "no version printed",
        }],
        COLD_RUNS,
        {
          label: "archive launcher (as built): --version",
          size: "-",
          spec: { argv: [...launcher, "--version"], env: env(small.env) },
        },
      );
      const [, sHook] = await b.group(
        [{
          ...hookCase(
            "single file: startup-hook, registered",
            small.registeredUuid,
            senv(stubEnv),
            stubEnv.STUB_XE_LOG,
            [SINGLE],
          ),
          check: hookLogged("in-sync"),
        }],
        COLD_RUNS,
        hookCase(
          "archive launcher (as built): startup-hook, registered",
          small.registeredUuid,
          env(stubEnv),
          stubEnv.STUB_XE_LOG,
          launcher,
        ),
      );
      single = { version: sVersion, hook: sHook };
    }
    portable = {
      single,
      singleNote,
      form: p.form,
      nodeImports,
      nodeLoad,
      version: pVersion,
      list: pList,
      hook: pHook,
      hookFloor,
      sourceHookVsFloor: sourceHook,
      portableHookVsFloor: portableHook,
    };
  }

  // scan-vms against one bare vm-list of the same host, interleaved per size.
  b.section = `scan-vms against the fake xe (${RUNS} interleaved rounds per size)`;
  const scans: ScanFigures[] = [];
  for (const n of SCAN_SIZES) {
    const h = scanHosts.get(n)!;
    const unregistered = Math.max(1, Math.ceil(n / 10));
    const [bare, scan, amb] = await b.group([
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
  b.section = `list-vms and status (${RUNS} interleaved rounds per size)`;
  const lists: ListFigures[] = [];
  for (const n of LIST_SIZES) {
    const h = listHosts.get(n)!;
    const size = `${n} reg`;
    const [json, table, offline, online] = await b.group([
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
  b.progress("renderer cost in a fresh process");
  const nSmall = LIST_SIZES[0];
  const nBig = LIST_SIZES[LIST_SIZES.length - 1];
  const renderCost = async (format: string): Promise<CostPair> => ({
    small: await freshCost(b, [`${PROGRAMS}/render-cost.ts`, format, String(nSmall)]),
    big: await freshCost(b, [`${PROGRAMS}/render-cost.ts`, format, String(nBig)]),
  });
  const render = {
    table: await renderCost("table"),
    json: await renderCost("json"),
    plain: await renderCost("plain"),
  };
  b.progress("Store.listVms() in a fresh process");
  const read = {
    small: await freshCost(b, [`${PROGRAMS}/read-cost.ts`, listHosts.get(nSmall)!.dbPath]),
    big: await freshCost(b, [`${PROGRAMS}/read-cost.ts`, listHosts.get(nBig)!.dbPath]),
  };

  const { importResult, importNote } = await importScenario(b, listHosts.get(nBig)!, nBig);
  return { cold, portable, portableNote, scans, lists, render, read, importResult, importNote };
}

/** import of IMPORT_SIZE VMs into an empty database, from the product's own export of them. */
async function importScenario(
  b: Bench,
  big: BuiltHost,
  nBig: number,
): Promise<{ importResult: Result | null; importNote: string }> {
  const importFile = `${b.work}/import-${IMPORT_SIZE}.json`;
  const sourceDb = IMPORT_SIZE === nBig ? big.dbPath : await (async () => {
    const p = `${b.work}/import-source.db`;
    await createDb(b, p, {});
    fillDb(p, IMPORT_SIZE);
    return p;
  })();
  const ex = await b.run({
    argv: [...CLI, "export", `--output=${importFile}`],
    env: { VGPU_DB: sourceDb },
  });
  if (ex.code !== 0) {
    return {
      importResult: null,
      importNote: `import not measured: export failed: ${ex.stderr.trim()}`,
    };
  }
  // An empty database made by the product, copied afresh before every run.
  const empty = `${b.work}/import-empty/vgpu_config.db`;
  await createDb(b, empty, {});
  let target = "";
  let k = 0;
  b.section = `import (${RUNS} runs)`;
  const importResult = await b.one({
    label: "import FILE --offline --yes",
    size: `${IMPORT_SIZE} VMs, empty db`,
    before: () => {
      const dir = `${b.work}/import-target-${k++}`;
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
      b.problems.push(`import: the database holds ${n} VMs, not ${IMPORT_SIZE}`);
    }
  } catch (e) {
    b.problems.push(`import: cannot read the imported database: ${e}`);
  }
  return { importResult, importNote: "" };
}

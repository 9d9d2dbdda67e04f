// deno task bench, issue 17's bounds for pool mode, against the fake pool of the tests (one fake
// xe for 3 hosts, each xe call one process as on dom0; read calls answered in parallel):
// - a refresh of the registry costs 2 xe calls whatever the size (pool-list + vm-list);
// - startup-hook in pool mode makes at most standalone's calls + 1, and takes at most
//   standalone's time + one xe call's (paired medians);
// - `pool status` at 1,000 registered VMs on 3 hosts ≤ 2× one bare `xe vm-list` of that pool.
// BENCH_POOL_VMS changes the size (default 1,000; BENCH_QUICK: 200).
// What the fake costs (docs/benchmark.md "Pool mode's bounds"): each xe call is a whole
// `deno run` of tests/fake-xe (~22 ms of CPU for an empty `deno run` here; `pool-list` and
// `host-list` ~27-29 ms, so parsing the state is not what they pay; `vm-list` of 1,000 VMs ~44
// ms). A real xe is a small client and xapi answers from memory: the per-call start of the fake
// is its artifact, which weighs three times in `pool status` (vm-list, pool-list, host-list:
// xapi has no fewer calls for these facts) and once in the bare vm-list it is measured against.
import { buildDevice } from "../../../src/domain/device-args.ts";
import { claimKey, MARKER_KEY } from "../../../src/domain/pool.ts";
import { FAKE_XE_PATH, updateState } from "../../../tests/fake-xe/state.ts";
import { fakePool, poolVm } from "../../../tests/pool-helpers.ts";
import { CLI, HOOK_CLI, QUICK, RUNS } from "../config.ts";
import type { Bound, ScenarioGroup } from "../groups.ts";
import { xeCallsOnly } from "./scale.ts";
import { POOL_STATUS_READS } from "../../../src/xe/read-argv.ts";
import type { Bench, Case, Result, Sample } from "../measure.ts";

const N = Number(Deno.env.get("BENCH_POOL_VMS") ?? (QUICK ? "200" : "1000"));
const BOUND_RUNS = Math.max(RUNS, QUICK ? 1 : 5);
export const POOL_STATUS_RATIO = 2;
export const REFRESH_CALLS = 2;

const f2 = (n: number | null | undefined) => (n ?? NaN).toFixed(2);
const ms = (r: Result) => `${r.median.toFixed(1)} ms`;
const ok = (s: Sample) => (s.code === 0 ? null : `exit ${s.code}: ${s.stderr.trim()}`);

/** The xe verbs one run made (the call log is truncated before each run). */
function verbsOf(callLog: string): string[] {
  return Deno.readTextFileSync(callLog).split("\n").filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l).argv[0] as string);
}

export const pool: ScenarioGroup = {
  name: "pool",
  async run(b: Bench): Promise<Bound[]> {
    b.progress(`pool: a fake pool of 3 hosts, ${N} registered VMs`);
    const vms = Array.from({ length: N }, (_, i) =>
      poolVm(i + 1, {
        powerState: i % 4 === 0 ? "halted" : "running",
        platform: {
          "device-model-args": buildDevice({
            pool: i % 2 ? "B" : "A",
            priority: (i % 3) as 0 | 1 | 2,
            vmId: i + 1,
          }),
        },
      }));
    const p = fakePool(3, vms);
    const callLog = `${p.dir}/xe-calls.jsonl`;
    await updateState(p.statePath, (s) => {
      s.vms.forEach((v, i) => {
        if (v.powerState === "running") v.residentOn = s.hosts[i % 3].uuid;
      });
      // pool mode on, every VM claimed (as `pool enable` on the hosts leaves it)
      s.pool!.otherConfig[MARKER_KEY] = "1";
      for (const [i, v] of vms.entries()) s.pool!.otherConfig[claimKey(i + 1)] = v.uuid;
    });
    const [h1, h2] = p.hosts;
    const enable = await b.run({ argv: [...CLI, "pool", "enable", "--yes"], env: h1.env });
    if (enable.code !== 0) throw new Error(`pool enable: ${enable.stderr}`);
    // host 2 stays standalone with one registration: the start hook's baseline
    const solo = vms[5].uuid;
    const reg = await b.run({
      argv: [...CLI, "register-vm", `--vm-uuid=${solo}`, "--offline"],
      env: h2.env,
    });
    if (reg.code !== 0) throw new Error(`register-vm on host 2: ${reg.stderr}`);
    const bounds: Bound[] = [];

    // ---- a refresh: the xe calls of one read command in pool mode ----
    b.section = "pool: refresh before a read command in pool mode";
    const refresh = await b.run({ argv: [...CLI, "list-vms"], env: h1.env, callLog });
    const refreshVerbs = verbsOf(callLog);
    bounds.push({
      bound: `pool refresh = ${REFRESH_CALLS} xe calls whatever the size`,
      pass: refresh.code === 0 && refreshVerbs.length === REFRESH_CALLS,
      figure: `${refreshVerbs.length} at ${N} VMs (${refreshVerbs.join(", ")})`,
    });

    // ---- the start hook: pool mode (host 1) against standalone (host 2) ----
    b.section = `pool: startup-hook, pool mode against standalone (${BOUND_RUNS} rounds, paired)`;
    const hookCase = (label: string, env: Record<string, string>, uuid: string): Case => ({
      label,
      size: `${N} VMs`,
      spec: { argv: [...HOOK_CLI, "startup-hook", `--vm-uuid=${uuid}`], env, callLog },
      check: ok,
      usesXe: true,
    });
    const [standalone, pooled] = await b.group(
      [hookCase("startup-hook in pool mode", h1.env, vms[1].uuid)],
      BOUND_RUNS,
      hookCase("startup-hook standalone", h2.env, solo),
    );
    // one xe call: the start hook's own vm-param-get, alone
    const [oneCall] = await b.group([{
      label: "BARE xe vm-param-get (one xe call)",
      size: `${N} VMs`,
      spec: {
        argv: [
          FAKE_XE_PATH,
          "vm-param-get",
          `uuid=${vms[1].uuid}`,
          "param-name=platform",
          "param-key=device-model-args",
        ],
        env: h1.env,
      },
    }], BOUND_RUNS);
    // the hook whose args are newer than this host's cache asks the pool's claim once more
    await updateState(p.statePath, (s) => {
      s.vms.find((v) => v.uuid === vms[2].uuid)!.platform["device-model-args"] = buildDevice({
        pool: "B",
        priority: 2,
        vmId: 3,
      });
    });
    const newer = await b.run({
      argv: [...HOOK_CLI, "startup-hook", `--vm-uuid=${vms[2].uuid}`],
      env: h1.env,
      callLog,
    });
    const newerCalls = verbsOf(callLog);
    const soloCalls = standalone.xeCallsMax ?? 0;
    bounds.push({
      bound: "startup-hook in pool mode ≤ standalone + 1 xe call (calls)",
      pass: newer.code === 0 && (pooled.xeCallsMax ?? 99) <= soloCalls + 1 &&
        newerCalls.length <= soloCalls + 1,
      figure:
        `${pooled.xeCalls} in sync, ${newerCalls.length} when the args are newer than the cache (${
          newerCalls.join(", ")
        }); standalone ${standalone.xeCalls}`,
    }, {
      bound: "startup-hook in pool mode ≤ standalone + one xe call (time)",
      pass: pooled.median <= standalone.median + oneCall.median,
      figure: `${ms(pooled)} ≤ ${ms(standalone)} + ${ms(oneCall)} (paired ${f2(pooled.paired)}×)`,
    });

    // ---- pool status against one bare vm-list of the same pool ----
    b.section = `pool: pool status against one bare xe vm-list (${BOUND_RUNS} rounds, paired)`;
    const [bare, status, callsOnly] = await b.group(
      [{
        label: "pool status",
        size: `${N} VMs, 3 hosts`,
        spec: { argv: [...CLI, "pool", "status"], env: h1.env, callLog },
        check: (s) => ok(s) ?? (s.stdout.includes(`${N}`) ? null : "the registry is missing"),
        usesXe: true,
      }, xeCallsOnly(`${N} VMs, 3 hosts`, h1.env, POOL_STATUS_READS)],
      BOUND_RUNS,
      {
        label: "BARE xe vm-list (pool status's params)",
        size: `${N} VMs, 3 hosts`,
        spec: {
          argv: [
            FAKE_XE_PATH,
            "vm-list",
            "is-control-domain=false",
            "params=uuid,name-label,power-state,resident-on,is-control-domain,platform,other-config",
          ],
          env: h1.env,
        },
      },
    );
    bounds.push({
      bound: `pool status at ${N} VMs on 3 hosts ≤ ${POOL_STATUS_RATIO}× one xe vm-list`,
      pass: status.paired! <= POOL_STATUS_RATIO,
      figure: `${f2(status.paired)}× (${ms(status)} against ${
        ms(bare)
      }; ${status.xeCalls} xe calls; the ${POOL_STATUS_READS.length} calls alone: ${
        f2(callsOnly.paired)
      }×)`,
    });
    return bounds;
  },
};

// Pool mode's bounds (issue 17), a scenario of its own: `deno run -A scripts/bench/pool.ts`.
// - a refresh of the registry costs 2 xe calls whatever the size (pool-list + vm-list);
// - `pool status` at 1,000 registered VMs on 3 hosts takes ≤ 2× one `xe vm-list` of that pool.
// Against the fake pool (tests/fake-xe): each xe call is one process, as on dom0.
// deno-lint-ignore-file no-console
import { DatabaseSync } from "node:sqlite";
import { buildDevice } from "../../src/domain/device-args.ts";
import { claimKey, MARKER_KEY } from "../../src/domain/pool.ts";
import {
  FAKE_XE_PATH,
  fakeXeEnv,
  readCallLog,
  readStateSync,
  updateState,
} from "../../tests/fake-xe/state.ts";
import { cliEnv, runCli } from "../../tests/helpers.ts";
import { fakePool, poolVm } from "../../tests/pool-helpers.ts";

const N = Number(Deno.env.get("BENCH_POOL_VMS") ?? "1000");
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "5");
const TARGET_STATUS_RATIO = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

const vms = Array.from({ length: N }, (_, i) => {
  const cfg = {
    pool: i % 2 ? "B" as const : "A" as const,
    priority: (i % 3) as 0 | 1 | 2,
    vmId: i + 1,
  };
  return poolVm(i + 1, {
    powerState: i % 4 === 0 ? "halted" : "running",
    platform: { "device-model-args": buildDevice(cfg) },
  });
});
const p = fakePool(3, vms);
await updateState(p.statePath, (s) => {
  s.vms.forEach((v, i) => {
    if (v.powerState === "running") v.residentOn = s.hosts[i % 3].uuid;
  });
  // pool mode on, every VM claimed (as `pool enable` on the three hosts would leave it)
  s.pool!.otherConfig[MARKER_KEY] = "1";
  for (const [i, v] of vms.entries()) s.pool!.otherConfig[claimKey(i + 1)] = v.uuid;
});
const h = p.hosts[0];
let r = await runCli(["pool", "enable", "--yes"], { env: h.env });
if (r.code !== 0) throw new Error(r.stderr);
void DatabaseSync;

// 1. a refresh: the xe calls of one read command in pool mode
const before = readCallLog(readStateSync(p.statePath)).length;
r = await runCli(["list-vms", "--format=json"], { env: h.env });
if (r.code !== 0) throw new Error(r.stderr);
const calls = readCallLog(readStateSync(p.statePath)).slice(before).map((c) => c.argv[0]);
const registered = JSON.parse(r.stdout).vms.length;

// 1b. the start hook in pool mode: xe calls of a check (in sync), and of one whose args differ
// from this host's cache (the repair path asks the pool's claim once)
const hookCalls = async (uuid: string) => {
  const from = readCallLog(readStateSync(p.statePath)).length;
  const h = await runCli(["startup-hook", `--vm-uuid=${uuid}`], { env: p.hosts[0].env });
  if (h.code !== 0) throw new Error(h.stderr);
  return readCallLog(readStateSync(p.statePath)).slice(from).map((c) => c.argv[0]);
};
const hookInSync = await hookCalls(vms[1].uuid);
await updateState(p.statePath, (s) => {
  s.vms.find((v) => v.uuid === vms[2].uuid)!.platform["device-model-args"] = buildDevice({
    pool: "B",
    priority: 2,
    vmId: 3,
  });
});
const hookNewer = await hookCalls(vms[2].uuid);

// 2. pool status against one vm-list of the same pool, interleaved
const status: number[] = [];
const vmList: number[] = [];
for (let i = 0; i < RUNS; i++) {
  vmList.push(
    await timed(() =>
      new Deno.Command(FAKE_XE_PATH, {
        args: [
          "vm-list",
          "is-control-domain=false",
          "params=uuid,name-label,power-state,resident-on,is-control-domain,platform,other-config",
        ],
        env: { ...cliEnv(), ...fakeXeEnv(p.statePath, h.uuid) },
        stdout: "null",
      }).output()
    ),
  );
  status.push(await timed(() => runCli(["pool", "status"], { env: h.env })));
}
const ratio = median(status) / median(vmList);
console.log(
  `pool refresh (list-vms in pool mode, ${registered} VMs cached): ${calls.length} xe calls: ${
    calls.join(", ")
  } (bound: 2)`,
);
console.log(
  `pool status at ${N} VMs on 3 hosts: ${median(status).toFixed(0)} ms; one xe vm-list: ${
    median(vmList).toFixed(0)
  } ms; ratio ${ratio.toFixed(2)} (bound: ≤ ${TARGET_STATUS_RATIO}) — median of ${RUNS}`,
);
console.log(
  `startup-hook in pool mode: ${hookInSync.length} xe call(s) in sync (${
    hookInSync.join(", ")
  }), ${hookNewer.length} when the args are newer than the cache (${
    hookNewer.join(", ")
  }); standalone: 1, bound: standalone + 1`,
);
const ok = calls.length === 2 && ratio <= TARGET_STATUS_RATIO && hookInSync.length <= 2 &&
  hookNewer.length <= 2;
console.log(ok ? "pool bounds: PASS" : "pool bounds: FAIL");
Deno.exit(ok ? 0 : 1);

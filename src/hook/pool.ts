// The VM hooks in pool mode (design.md §8). This host's database is the pool's registry as last
// refreshed, so the hooks check against it and never wait for the master:
// - a repair (args differ from the cache) is made only when the pool's claim does not show the
//   args to be newer than the cache (one xe call, on that rare path only); with the master out of
//   reach nothing is written and nothing is refused: the start goes on;
// - vm-pre-migrate (source) warns about every other host that runs a VM with the same vm_id (xe
//   does not say which host is the destination) and about hosts that have not joined pool mode;
//   strict mode refuses the migration when such a VM runs elsewhere.
import { parseDeviceArgs } from "../domain/device-args.ts";
import { claimKey, MEMBER_KEY } from "../domain/pool.ts";
import type { Settings } from "../domain/settings.ts";
import type { HookEvent, HookPlan } from "../ops/startup-hook.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import { allEnded } from "../xe/all-ended.ts";

/** The `pool:state` row (store/pool-cache.ts), raw; null or unreadable: standalone. */
function poolUuidOf(raw: string | null | undefined): string | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw);
    return typeof v?.poolUuid === "string" ? v.poolUuid : null;
  } catch {
    return null;
  }
}

const one = (s: string) => s.replace(/\s+/g, " ").slice(0, 200);

/** The plan of a hook run in pool mode; `plan` unchanged when standalone. */
export async function poolHookPlan(
  event: HookEvent,
  plan: HookPlan,
  o: {
    poolState: string | null | undefined;
    vmUuid: string;
    args: string | null;
    settings: Settings;
    xe: () => Promise<Xe>;
  },
): Promise<HookPlan> {
  const pool = poolUuidOf(o.poolState);
  if (pool === null) return plan;
  if (event === "vm-pre-migrate") return await migrateCheck(plan, o);
  if (plan.repair === null) return plan;
  const stubs = parseDeviceArgs(o.args).stubs;
  const carried = stubs.length === 1 ? stubs[0].config : null;
  try {
    if (carried !== null) {
      const holder = await new XePool(await o.xe()).get("pool", pool, claimKey(carried.vmId));
      if (holder === o.vmUuid) {
        // the pool's claim backs the args: another host changed the VM after this host's cache
        return {
          action: "in-sync",
          detail:
            "vGPU args follow the pool's claim (this host's cache is older; the next command refreshes it)",
          refuse: false,
          repair: null,
          stale: null,
        };
      }
    }
    return plan;
  } catch (e) {
    return {
      ...plan,
      repair: null,
      stale: null,
      refuse: false,
      detail: `${
        plan.detail.replace(/; repaired for the next start.*$/, "")
      }; the pool master cannot be reached (${
        one(e instanceof Error ? e.message : String(e))
      }): checked against this host's cache, nothing repaired, the ${
        event === "vm-pre-resume" ? "resume" : "start"
      } goes on`,
    };
  }
}

async function migrateCheck(
  plan: HookPlan,
  o: { vmUuid: string; args: string | null; settings: Settings; xe: () => Promise<Xe> },
): Promise<HookPlan> {
  const stubs = parseDeviceArgs(o.args).stubs;
  const mine = stubs.length === 1 ? stubs[0].config : null;
  let vms, hosts;
  try {
    const xp = new XePool(await o.xe());
    [vms, hosts] = await allEnded([xp.vmList(), xp.hostList()]);
  } catch (e) {
    return {
      ...plan,
      detail: `${plan.detail}; the pool could not be read (${
        one(e instanceof Error ? e.message : String(e))
      }): destinations not checked`,
    };
  }
  const self = vms.find((v) => v.uuid === o.vmUuid);
  const name = (h: string) => hosts.find((x) => x.uuid === h)?.nameLabel ?? h;
  const clashes: string[] = [];
  if (mine !== null) {
    for (const v of vms) {
      if (v.uuid === o.vmUuid || v.powerState !== "running" || v.residentOn === null) continue;
      if (v.residentOn === self?.residentOn) continue;
      const s = parseDeviceArgs(v.deviceModelArgs).stubs;
      if (s.some((x) => x.config?.vmId === mine.vmId)) {
        clashes.push(`VM ${v.uuid} runs on ${name(v.residentOn)} with vm_id ${mine.vmId}`);
      }
    }
  }
  const bare = hosts.filter((h) => h.uuid !== self?.residentOn && !h.otherConfig.has(MEMBER_KEY))
    .map((h) => h.nameLabel);
  if (clashes.length === 0 && bare.length === 0) return plan;
  const refuse = o.settings.hookStrict && clashes.length > 0;
  const parts = [
    ...clashes.map((c) => `${c}: a migration there would give its daemon two VMs with one vm_id`),
    ...(bare.length === 0 ? [] : [`no vgpu-admin in pool mode on ${bare.join(", ")}`]),
  ];
  return {
    action: "pool-warning",
    detail: `${parts.join("; ")}${refuse ? "; strict mode refuses this migration" : ""}`,
    refuse,
    repair: null,
    stale: null,
  };
}

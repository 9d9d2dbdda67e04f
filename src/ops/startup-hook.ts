// The VM hooks' check (design.md §4 and §8): what vm-pre-start, vm-pre-resume, vm-pre-migrate and
// vm-post-migrate decide from the database row and the VM's args. Pure: the decision is a plan
// (what to log, what to write, whether strict mode refuses), applied by src/hook/run.ts.
//
// xapi has already handed the VM's platform map to the start machinery, so a repair reaches only
// the next start; it is recorded as a stale start, logged, and in strict mode the start (or the
// resume) is refused. A migration carries the VM's current args (xe-reference.md, Pools): the
// destination records that the VM now runs them. Unregistered VMs are never touched.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "../domain/device-args.ts";
import type { Settings } from "../domain/settings.ts";
import type { Vm } from "../domain/types.ts";

/** The xapi hooks vgpu-admin installs (one script each in /etc/xapi.d/<hook>/). */
export const HOOK_EVENTS = [
  "vm-pre-start",
  "vm-pre-resume",
  "vm-pre-migrate",
  "vm-post-migrate",
] as const;
export type HookEvent = typeof HOOK_EVENTS[number];

export function isHookEvent(s: string): s is HookEvent {
  return (HOOK_EVENTS as readonly string[]).includes(s);
}

export type HookAction =
  | "in-sync"
  | "repaired"
  | "unregistered"
  | "collision"
  | "stale-args"
  | "arrived"
  // pool mode: a migration's possible destinations (src/hook/pool.ts)
  | "pool-warning";

/** What the hooks read from the database (the Store, or the hook's lighter connection). */
export interface HookRegistry {
  getVm(vmUuid: string): Vm | null;
  getVmByVmId(vmId: number): Vm | null;
  lowestFreeVmId(): number;
  hasStaleRun(vmUuid: string): boolean;
}

export interface HookPlan {
  action: HookAction;
  /** One line for the log and stderr. */
  detail: string;
  /** Strict mode refuses this start or resume (exit 2). Never for a migration's destination. */
  refuse: boolean;
  /** Args to write to the VM for its next start, or null. */
  repair: string | null;
  /** The stale-run record: set it (with this reason), clear it, or leave it. */
  stale: { mark: string } | "clear" | null;
}

const STALE_REASON: Record<HookEvent, string> = {
  "vm-pre-start": "started with stale vGPU args",
  "vm-pre-resume": "resumed with stale vGPU args",
  "vm-pre-migrate": "migrated with stale vGPU args",
  "vm-post-migrate": "arrived by migration with stale vGPU args",
};

/** What the hook `event` does for VM `vmUuid` carrying `args` (null: no args key). */
export function planHook(
  event: HookEvent,
  reg: HookRegistry,
  settings: Settings,
  vmUuid: string,
  args: string | null,
): HookPlan {
  const vm = reg.getVm(vmUuid);
  const stubs = parseDeviceArgs(args).stubs;
  // A refusal aborts the operation before the VM runs: only a start or a resume, and only in
  // strict mode. The source of a migration cannot see the destination in standalone mode (pool
  // mode can), and a destination must never refuse: xapi would shut the VM down.
  const mayRefuse = settings.hookStrict && (event === "vm-pre-start" || event === "vm-pre-resume");
  const leaving = event === "vm-pre-migrate";
  const arriving = event === "vm-post-migrate";
  const what = event === "vm-pre-resume" ? "resume" : "start";
  if (vm !== null) {
    const inSync = stubs.length === 1 && stubs[0].config !== null &&
      sameConfig(stubs[0].config, vm);
    if (inSync) {
      const hadStale = reg.hasStaleRun(vmUuid);
      // A VM leaving keeps its record: it is cleared where it arrives (post-migrate).
      const clear = hadStale && !leaving;
      return {
        action: arriving ? "arrived" : "in-sync",
        detail: arriving
          ? `arrived by migration; vGPU args match the database${
            hadStale ? "; the pending change took effect" : ""
          }`
          : leaving
          ? "vGPU args match the database; migrating to another host"
          : "vGPU args match the database",
        refuse: false,
        repair: null,
        stale: clear ? "clear" : null,
      };
    }
    const was = stubs.length === 0 ? "no vgpu-stub device" : stubs.map((s) => s.raw).join(" ");
    if (leaving) {
      // The destination gets these args (a migration carries the current ones); its
      // vm-post-migrate repairs them for the next start there.
      return {
        action: "stale-args",
        detail: `args are ${
          JSON.stringify(was)
        }, not what the database says; the destination runs them until the VM restarts (fix: vgpu-admin sync, then restart the VM)`,
        refuse: false,
        repair: null,
        stale: null,
      };
    }
    const refuse = mayRefuse;
    return {
      action: "repaired",
      detail: `args were ${JSON.stringify(was)}; repaired for the next start${
        refuse
          ? `; strict mode refuses this ${what}`
          : arriving
          ? "; the VM runs with the old args until it restarts"
          : `; this ${what} runs with the old args`
      }`,
      refuse,
      repair: mergeDeviceArgs(args, vm),
      // A refused start does not run, so it does not run stale either.
      stale: refuse ? null : { mark: STALE_REASON[event] },
    };
  }
  for (const s of stubs) {
    if (s.vmId === null) continue;
    const holder = reg.getVmByVmId(s.vmId);
    if (holder !== null) {
      const refuse = mayRefuse;
      return {
        action: "collision",
        detail: `unregistered VM carries vm_id=${s.vmId}, registered to VM ${holder.vmUuid}${
          refuse ? `; strict mode refuses this ${what}` : ""
        }; fix: vgpu-admin register-vm --vm-uuid=${vmUuid} --vm-id=${reg.lowestFreeVmId()}`,
        refuse,
        repair: null,
        stale: null,
      };
    }
  }
  return {
    action: "unregistered",
    detail: arriving
      ? "arrived by migration; not registered; left as it is"
      : "not registered; left as it is",
    refuse: false,
    repair: null,
    stale: null,
  };
}

/** The stdout line that, with exit code 2, tells the hook script to refuse the start. */
export function refusalMarker(vmUuid: string): string {
  return `VGPU-ADMIN-STRICT-REFUSAL vm=${vmUuid}`;
}

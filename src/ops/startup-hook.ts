// The VM start check (design.md §4). xapi has already handed the VM's platform map to the
// start machinery, so a repair here reaches only the next start; it is recorded as a stale
// start, logged, and in strict mode the start is refused. Unregistered VMs are never touched.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "../domain/device-args.ts";
import type { Settings } from "../domain/settings.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";

export type HookAction = "in-sync" | "repaired" | "unregistered" | "collision";

export interface HookResult {
  action: HookAction;
  /** One line for the log and stderr. */
  detail: string;
  /** Strict mode refuses this start (exit 2). */
  refuse: boolean;
}

export async function checkVmStart(
  store: Store,
  xe: Xe,
  settings: Settings,
  vmUuid: string,
): Promise<HookResult> {
  const vm = store.getVm(vmUuid);
  const args = await xe.vmGetArgs(vmUuid);
  const stubs = parseDeviceArgs(args).stubs;
  if (vm !== null) {
    const inSync = stubs.length === 1 && stubs[0].config !== null &&
      sameConfig(stubs[0].config, vm);
    if (inSync) {
      if (store.getStaleRun(vmUuid) !== null) store.clearStaleRun(vmUuid);
      return { action: "in-sync", detail: "vGPU args match the database", refuse: false };
    }
    const repaired = mergeDeviceArgs(args, vm);
    // a lost answer is read back (design.md §5 step 11); loaded only on this rare repair path
    const { setArgsVerified } = await import("./xe-write.ts");
    await setArgsVerified(xe, vmUuid, repaired);
    const refuse = settings.hookStrict;
    // A refused start does not run, so it does not run stale either.
    if (!refuse) store.markStaleRun(vmUuid, "started with stale vGPU args");
    const was = stubs.length === 0 ? "no vgpu-stub device" : stubs.map((s) => s.raw).join(" ");
    return {
      action: "repaired",
      detail: `args were ${JSON.stringify(was)}; repaired for the next start${
        refuse ? "; strict mode refuses this start" : "; this start runs with the old args"
      }`,
      refuse,
    };
  }
  for (const s of stubs) {
    if (s.vmId === null) continue;
    const holder = store.getVmByVmId(s.vmId);
    if (holder !== null) {
      const refuse = settings.hookStrict;
      return {
        action: "collision",
        detail: `unregistered VM carries vm_id=${s.vmId}, registered to VM ${holder.vmUuid}${
          refuse ? "; strict mode refuses this start" : ""
        }; fix: vgpu-admin register-vm --vm-uuid=${vmUuid} --vm-id=${store.lowestFreeVmId()}`,
        refuse,
      };
    }
  }
  return { action: "unregistered", detail: "not registered; left as it is", refuse: false };
}

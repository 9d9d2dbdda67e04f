// adopt: register hand-configured VMs from the vgpu-stub args they already carry (their args
// are already right, so only the database changes). Conflicts are reported, never overwritten.
import type { UnregisteredVmState } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import type { HostVm, VgpuConfig } from "../domain/types.ts";
import type { Store } from "../store/store.ts";
import { sanitizeHostName } from "../domain/validate.ts";
import { poolDisabledMessage } from "./pools.ts";
import type { HostView } from "./scan.ts";
import { type PoolBulk, stoppedLine } from "./pool-bulk.ts";

export interface AdoptCandidate {
  host: HostVm;
  config: VgpuConfig;
}

export interface AdoptRefusal {
  host: HostVm;
  reason: string;
}

export interface AdoptPlan {
  candidates: AdoptCandidate[];
  refused: AdoptRefusal[];
}

/** Unregistered VMs with exactly one valid vgpu-stub whose vm_id nobody else holds or carries. */
export function planAdopt(store: Store, view: HostView, onlyUuid?: string): AdoptPlan {
  const candidates: AdoptCandidate[] = [];
  const refused: AdoptRefusal[] = [];
  const carriers = new Map<number, number>();
  const states = view.drift.vms.filter((s): s is UnregisteredVmState =>
    s.registered === null && s.parsed.stubs.length > 0 &&
    (onlyUuid === undefined || s.vmUuid === onlyUuid)
  );
  for (const s of view.drift.vms) {
    if (s.host === null) continue;
    for (const st of s.parsed.stubs) {
      if (st.vmId !== null) carriers.set(st.vmId, (carriers.get(st.vmId) ?? 0) + 1);
    }
  }
  for (const s of states) {
    const host = s.host;
    const stubs = s.parsed.stubs;
    if (stubs.length > 1) {
      refused.push({ host, reason: `carries ${stubs.length} vgpu-stub devices` });
      continue;
    }
    const config = stubs[0].config;
    if (config === null) {
      refused.push({
        host,
        reason: `its vgpu-stub device is invalid: ${stubs[0].problems.join("; ")}`,
      });
      continue;
    }
    const holder = store.getVmByVmId(config.vmId);
    if (holder !== null) {
      refused.push({
        host,
        reason:
          `vm_id ${config.vmId} is already registered to VM ${holder.vmUuid} (a clone?); register it with a new id: vgpu-admin register-vm --vm-uuid=${host.uuid} --vm-id=${store.lowestFreeVmId()}`,
      });
      continue;
    }
    if ((carriers.get(config.vmId) ?? 0) > 1) {
      refused.push({
        host,
        reason:
          `vm_id ${config.vmId} is carried by another VM too; register one of them with a new id`,
      });
      continue;
    }
    const pool = store.getPool(config.pool);
    if (!pool.enabled) {
      refused.push({ host, reason: poolDisabledMessage(pool) });
      continue;
    }
    candidates.push({ host, config });
  }
  return { candidates, refused };
}

export interface AdoptResult {
  candidate: AdoptCandidate;
  error: string | null;
}

export function applyAdopt(store: Store, candidates: readonly AdoptCandidate[]): AdoptResult[] {
  return candidates.map((c) => {
    try {
      store.insertVm({
        vmUuid: c.host.uuid,
        vmName: sanitizeHostName(c.host.nameLabel) || null,
        ...c.config,
      });
      return { candidate: c, error: null };
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      return { candidate: c, error: e.message };
    }
  });
}

/**
 * adopt in pool mode (design.md §8): for each VM its ticket, then the claim of the vm_id its args
 * carry (xapi), then this host's row. A claim held by another VM refuses that VM alone, naming
 * the holder; the master gone stops the run (the VMs not reached are reported, untouched).
 */
export async function applyAdoptPooled(
  store: Store,
  candidates: readonly AdoptCandidate[],
  pool: PoolBulk,
): Promise<AdoptResult[]> {
  const results: AdoptResult[] = [];
  for (const [i, c] of candidates.entries()) {
    const uuid = c.host.uuid;
    try {
      const refused = await pool.take(uuid, c.config.vmId, c.host.deviceModelArgs);
      if (refused !== null) {
        results.push({ candidate: c, error: refused });
        continue;
      }
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      const line = stoppedLine(e, i, candidates.length);
      for (const rest of candidates.slice(i)) results.push({ candidate: rest, error: line });
      break;
    }
    try {
      const [r] = applyAdopt(store, [c]);
      // the row could not be written: the claim this run added goes with it
      if (r.error !== null) await pool.giveBack(uuid);
      results.push(r);
    } finally {
      await pool.finish(uuid);
    }
  }
  return results;
}

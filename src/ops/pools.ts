// vGPU pool use cases: summaries with per-priority counts, one pool with its VMs, renaming.
import { PoolDisabledError } from "../domain/errors.ts";
import type { Pool, PoolId, Vm } from "../domain/types.ts";
import type { Store } from "../store/store.ts";

export interface PoolSummary extends Pool {
  /** VMs per priority: [low, medium, high]. */
  counts: [number, number, number];
  total: number;
}

export function poolSummaries(store: Store): PoolSummary[] {
  const counts = store.poolCounts();
  return store.listPools().map((p) => {
    const c = counts[p.poolId];
    return { ...p, counts: c, total: c[0] + c[1] + c[2] };
  });
}

export interface PoolDetail {
  pool: PoolSummary;
  vms: Vm[];
}

export function showPool(store: Store, poolId: PoolId): PoolDetail {
  const pool = poolSummaries(store).find((p) => p.poolId === poolId)!;
  return { pool, vms: store.listVms({ pool: poolId }) };
}

export interface RenamePoolResult {
  before: Pool;
  after: Pool;
  changed: boolean;
}

/** Sets a pool's name (and description when given); metadata only, no VM is touched. */
export function renamePool(
  store: Store,
  poolId: PoolId,
  name: string,
  description: string | null | undefined,
): RenamePoolResult {
  const current = store.getPool(poolId);
  const same = current.name === name &&
    (description === undefined || current.description === description);
  if (same) return { before: current, after: current, changed: false };
  const { before, after } = store.updatePool(poolId, name, description);
  return { before, after, changed: true };
}

/**
 * A disabled pool takes no new VMs (seed 000 `enabled`): register-vm, adopt, import, and set-pool
 * or update-vm moving a VM into it are refused. `current` is the VM's pool today (undefined for a
 * new VM): a VM already in the pool may still change its priority or vm_id.
 */
export function assertPoolTakesVm(store: Store, pool: PoolId, current?: PoolId): void {
  if (current === pool) return;
  const p = store.getPool(pool);
  if (p.enabled) return;
  throw new PoolDisabledError(p);
}

export function poolDisabledMessage(p: Pool): string {
  return new PoolDisabledError(p).message;
}

export interface SetPoolEnabledResult {
  pool: Pool;
  changed: boolean;
}

/** Enables or disables a pool; its VMs keep their configuration and args either way. */
export function setPoolEnabled(
  store: Store,
  poolId: PoolId,
  enabled: boolean,
): SetPoolEnabledResult {
  const current = store.getPool(poolId);
  if (current.enabled === enabled) return { pool: current, changed: false };
  return { pool: store.setPoolEnabled(poolId, enabled).after, changed: true };
}

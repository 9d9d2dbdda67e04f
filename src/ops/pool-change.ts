// A reconfiguration or removal in pool mode (design.md §8): this host's lock on the VM first,
// then its pool-wide ticket and a fresh cache; a new vm_id claimed before the question; at the
// end the vm_id the VM no longer carries is released (only after reading it is ours).
import { COMMIT_KEY, formatCommit } from "../domain/pool.ts";
import type { VgpuConfig } from "../domain/types.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { claimVmId, releaseVmId } from "./pool-mode.ts";
import { beginPoolWrite, type PoolWrite } from "./pool-write.ts";

export interface PooledChange {
  write: PoolWrite;
  /** Claims `newId` pool-wide when it differs from `oldId`. */
  claimNewVmId(vmUuid: string, oldId: number, newId: number): Promise<void>;
  /**
   * The change reached its commit point (row and args written): the commit marker, added to the
   * VM's other-config, tells a take-over from another host to finish it. Never throws.
   */
  committed(vmUuid: string, target: VgpuConfig): Promise<void>;
  /** The change is over: keeps the claim of the vm_id the row holds, releases the other one. */
  applied(vmUuid: string, vmId: number): Promise<void>;
  /** Releases what is left (a claim never used, the ticket). Always called. */
  done(): Promise<void>;
}

export interface PooledChangeDeps {
  xe(): Promise<Xe>;
  locks(): VmLocks;
  now: () => Date;
  localHost(): string | null;
  command: string;
}

/** null when this host is standalone: no xe call, no lock, nothing changes for it. */
export async function beginPooledChange(
  store: Store,
  deps: PooledChangeDeps,
  vmUuid: string,
): Promise<PooledChange | null> {
  if (readPoolState(store) === null) return null;
  // this host's lock first: a ticket of this host held by another pid is then a dead one's
  deps.locks().acquire([vmUuid]);
  const write = await beginPoolWrite({
    store,
    xe: await deps.xe(),
    now: deps.now,
    host: deps.localHost(),
    command: deps.command,
    vmUuids: [vmUuid],
  });
  if (write === null) return null;
  let pending: { vmUuid: string; oldId: number; newId: number } | null = null;
  const settle = async (uuid: string, keep: number) => {
    if (pending === null || pending.vmUuid !== uuid) return;
    const other = keep === pending.newId ? pending.oldId : pending.newId;
    pending = null;
    await releaseVmId(write.ctx, uuid, other);
  };
  return {
    write,
    async claimNewVmId(uuid, oldId, newId) {
      if (oldId === newId) return;
      await claimVmId(store, write.ctx, uuid, newId);
      pending = { vmUuid: uuid, oldId, newId };
    },
    applied: settle,
    async committed(uuid, target) {
      const ticket = write.ticketOf(uuid);
      if (ticket === null) return;
      try {
        await write.ctx.xp.add("vm", uuid, COMMIT_KEY, formatCommit(target, ticket));
      } catch {
        // without the marker a take-over undoes the change; this host's recover then follows it
      }
    },
    async done() {
      try {
        if (pending !== null) {
          const p: { vmUuid: string; oldId: number; newId: number } = pending;
          // an interrupted change stays open for recover: its claims are reconcile's to settle
          const open = store.openJournalEntries(p.vmUuid).length > 0;
          const row = store.getVm(p.vmUuid);
          if (!open && row !== null) await settle(p.vmUuid, row.vmId);
        }
      } finally {
        await write.done();
      }
    },
  };
}

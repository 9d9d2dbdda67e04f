// Taking VMs for a change (design.md §5 steps 1 and 10): the operation lock first (a second
// command is refused at once, naming the holder), then no interrupted operation may be open on
// them (only `recover` touches such a VM).
import { humanTime } from "../domain/time.ts";
import { RecoveryNeededError } from "../domain/errors.ts";
import type { JournalEntry } from "../domain/journal.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";

/** The one-line advice every command gives for an interrupted operation. */
export function interruptedLine(e: JournalEntry): string {
  return `VM ${e.vmUuid} has an interrupted ${e.command} (pid ${e.pid}, started ${
    humanTime(e.startedAt)
  }, last step ${e.step}); run 'vgpu-admin recover --vm-uuid=${e.vmUuid}'`;
}

/** Locks the VMs, or throws BusyError / RecoveryNeededError having kept no lock. */
export function claimVms(store: Store, locks: VmLocks, vmUuids: readonly string[]): void {
  locks.acquire(vmUuids);
  const wanted = new Set(vmUuids);
  const open = store.openJournalEntries().filter((e) => wanted.has(e.vmUuid));
  if (open.length > 0) {
    locks.releaseAll();
    throw new RecoveryNeededError(`${interruptedLine(open[0])} first`);
  }
}

/** Open entries whose process is gone (nobody holds the VM's lock): what `recover` is for. */
export function abandonedEntries(store: Store, locks: VmLocks, vmUuid?: string): JournalEntry[] {
  return store.openJournalEntries(vmUuid).filter((e) => locks.isFree(e.vmUuid));
}

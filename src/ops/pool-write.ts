// A write in pool mode (design.md §8): the pool read afresh, the VM's pool-wide ticket taken,
// vm_ids claimed in xapi, and everything this process took given back at the end. Standalone
// (this host's database knows no pool mode): null, and the command runs exactly as before.
import { parseDeviceArgs } from "../domain/device-args.ts";
import { BusyError, VgpuError } from "../domain/errors.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import {
  acquireTicket,
  claimVmId,
  type PoolContext,
  poolContextForWrite,
  releaseTicket,
  releaseVmId,
  ticketFor,
} from "./pool-mode.ts";
import type { VmIdClaims } from "./register.ts";

export interface PoolWrite {
  ctx: PoolContext;
  claims: VmIdClaims;
  /** The ticket this process holds on the VM (its value in xapi), or null. */
  ticketOf(vmUuid: string): string | null;
  /** Gives back the tickets this process took (only after reading they are still ours). */
  done(): Promise<void>;
}

/** What a pool-mode change needs (pool-write.ts and pool-bulk.ts). */
export interface PoolOpInput {
  store: Store;
  xe: Xe;
  now: () => Date;
  /** This host's uuid (xapi inventory): tickets name it. */
  host: string | null;
  command: string;
}

export interface PoolWriteInput extends PoolOpInput {
  vmUuids: readonly string[];
}

/** Refuses a database-only change in pool mode: claims and tickets live in xapi. */
export function assertNotPooledOffline(store: Store, what: string): void {
  if (readPoolState(store) !== null) {
    throw new VgpuError(
      `this host is in pool mode, where ${what} goes through the pool's database (vm_id claims, tickets): --offline cannot be used; run it without --offline`,
    );
  }
}

export async function beginPoolWrite(input: PoolWriteInput): Promise<PoolWrite | null> {
  const { store, xe, now } = input;
  const ctx = await poolContextForWrite(store, xe, now);
  if (ctx === null) return null;
  let hostName = "this host";
  try {
    hostName = Deno.hostname();
  } catch {
    // the name is only for messages
  }
  const me = ticketFor(input.host ?? "unknown", hostName, Deno.pid, input.command, now());
  const held: [string, string][] = [];
  const done = async () => {
    for (const [vm, value] of held.splice(0)) {
      try {
        await releaseTicket(ctx.xp, vm, value);
      } catch {
        // a ticket left behind names a dead process of this host: the next change takes it over
      }
    }
  };
  try {
    for (const vm of input.vmUuids) {
      // the VM as it is now: a take-over from another host brings it back to this
      const now = ctx.snap.vms.find((v) => v.uuid === vm);
      const stubs = parseDeviceArgs(now?.deviceModelArgs ?? null).stubs;
      const t = await acquireTicket(ctx.xp, vm, {
        ...me,
        power: now?.powerState,
        orig: stubs.length === 1 ? stubs[0].config ?? undefined : undefined,
      });
      if (t !== null) held.push([vm, t]);
    }
    // a change another host finished between the read above and the ticket would be planned
    // from a stale row (and undone): the args are read again under the ticket
    for (const [vm] of held) {
      const seen = ctx.snap.vms.find((v) => v.uuid === vm)?.deviceModelArgs ?? null;
      if (await ctx.xp.xe.vmGetArgs(vm) !== seen) {
        throw new BusyError(
          `VM ${vm} changed since this command read the pool (another host's change?); nothing was changed: run the command again`,
        );
      }
    }
  } catch (e) {
    await done();
    throw e;
  }
  return {
    ctx,
    claims: {
      claim: (vmUuid, wanted) => claimVmId(store, ctx, vmUuid, wanted),
      release: (vmUuid, vmId) => releaseVmId(ctx, vmUuid, vmId),
    },
    ticketOf: (vmUuid) => held.find(([vm]) => vm === vmUuid)?.[1] ?? null,
    done,
  };
}

// Commands that write many VMs at once (sync, adopt, import) in pool mode (design.md §8): the pool
// read afresh once, then for each VM, before anything is written to it, its pool-wide ticket and
// the claim of the vm_id it will carry (one `pool-param-add` key `vgpu-admin:vm_id:<N>=<uuid>`);
// xapi first, then this host's database. A conflict or a busy VM refuses that VM alone; anything
// else (the master gone, xe failing) stops the run: what was done is whole, the rest untouched.
// None of the three allocates a vm_id (sync: the database's, adopt: the one the args carry,
// import: the file's), so a taken id is a conflict named with its holder, never renumbered.
import { BusyError, ConflictError, OperationFailedError, VgpuError } from "../domain/errors.ts";
import { parseDeviceArgs } from "../domain/device-args.ts";
import type { Store } from "../store/store.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { HostReport } from "./transfer.ts";
import { assertNotPooledOffline, type PoolOpInput } from "./pool-write.ts";
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

export interface PoolBulk {
  ctx: PoolContext;
  /**
   * Takes the VM's ticket, then claims `vmId` for it (already its claim: nothing to add).
   * `argsSeen`: the args the caller planned from; read again under the ticket, a VM changed
   * meanwhile (another host's change that ended between the plan and the ticket) is refused.
   * Returns null when done, else why this VM is refused (a conflict naming the holder, or a
   * change in flight elsewhere): nothing is kept for it then. Other failures throw.
   */
  take(vmUuid: string, vmId: number, argsSeen?: string | null): Promise<string | null>;
  /** The VM's write failed: the claim this run added for it goes (only if it is still ours). */
  giveBack(vmUuid: string): Promise<void>;
  /** The VM now carries `vmId`: its other claims go (each only after reading it is ours). */
  settled(vmUuid: string, vmId: number): Promise<void>;
  /** The VM is done: its ticket goes (only after reading it is still ours). */
  finish(vmUuid: string): Promise<void>;
  /** Gives back every ticket this run still holds. */
  done(): Promise<void>;
}

export type PoolBulkInput = PoolOpInput;

/** A failure that is about one VM only: the run goes on with the others. */
function refusalOf(e: unknown): string | null {
  return e instanceof ConflictError || e instanceof BusyError ? e.message : null;
}

/** null when this host is standalone (no xe call then). */
export async function beginPoolBulk(input: PoolBulkInput): Promise<PoolBulk | null> {
  const { store, now } = input;
  const ctx = await poolContextForWrite(store, input.xe, now);
  if (ctx === null) return null;
  let hostName = "this host";
  try {
    hostName = Deno.hostname();
  } catch {
    // the name is only for messages
  }
  const me = ticketFor(input.host ?? "unknown", hostName, Deno.pid, input.command, now());
  const tickets = new Map<string, string>();
  /** Claims this run added (not the ones a VM already held). */
  const added = new Map<string, number>();
  const finish = async (vmUuid: string) => {
    const t = tickets.get(vmUuid);
    tickets.delete(vmUuid);
    if (t === undefined) return;
    try {
      await releaseTicket(ctx.xp, vmUuid, t);
    } catch {
      // a ticket left behind names a dead process of this host: the next change takes it over
    }
  };
  const take = async (
    vmUuid: string,
    vmId: number,
    argsSeen?: string | null,
  ): Promise<string | null> => {
    const vm = ctx.snap.vms.find((v) => v.uuid === vmUuid);
    const stubs = parseDeviceArgs(vm?.deviceModelArgs ?? null).stubs;
    try {
      const ticket = await acquireTicket(ctx.xp, vmUuid, {
        ...me,
        power: vm?.powerState,
        orig: stubs.length === 1 ? stubs[0].config ?? undefined : undefined,
      });
      if (ticket !== null) tickets.set(vmUuid, ticket);
    } catch (e) {
      const why = refusalOf(e);
      if (why === null) throw e;
      return why;
    }
    if (argsSeen !== undefined && await ctx.xp.xe.vmGetArgs(vmUuid) !== argsSeen) {
      await finish(vmUuid);
      return `VM ${vmUuid} changed since this command read it (another host's change?); nothing was written to it: run the command again`;
    }
    const held = ctx.snap.claims.get(vmId) === vmUuid;
    try {
      await claimVmId(store, ctx, vmUuid, vmId);
    } catch (e) {
      const why = refusalOf(e);
      // the master gone: the ticket stays for reconcile (a dead process of this host's)
      if (why === null) throw e;
      await finish(vmUuid);
      return why;
    }
    if (!held) added.set(vmUuid, vmId);
    return null;
  };
  return {
    ctx,
    take,
    finish,
    async giveBack(vmUuid) {
      const id = added.get(vmUuid);
      added.delete(vmUuid);
      if (id !== undefined) await releaseVmId(ctx, vmUuid, id);
    },
    async settled(vmUuid, vmId) {
      added.delete(vmUuid);
      for (const [id, uuid] of ctx.snap.claims) {
        if (uuid === vmUuid && id !== vmId) await releaseVmId(ctx, vmUuid, id);
      }
    },
    async done() {
      for (const vm of [...tickets.keys()]) await finish(vm);
    },
  };
}

/** Why a run stopped part-way, as its last line says it. */
export function stoppedLine(e: unknown, done: number, total: number): string {
  const why = e instanceof VgpuError ? e.message : String(e);
  return `stopped after ${done} of ${total} VMs: ${why}; the VMs listed as done are complete, the others untouched: run the command again once the pool master answers`;
}

/** What an import writes pool-wide: the VMs it adds or changes, each with the vm_id it gets. */
export interface PooledImportVm {
  vmUuid: string;
  vmId: number;
}

/**
 * Before an import touches this host's database: every VM it adds or changes gets its ticket and
 * the claim of its vm_id. All or nothing: one refusal (or the master gone) gives back what this
 * run took and throws, nothing changed.
 */
export async function takeForImport(
  bulk: PoolBulk,
  vms: readonly PooledImportVm[],
): Promise<void> {
  const refused: string[] = [];
  try {
    for (const vm of vms) {
      const why = await bulk.take(vm.vmUuid, vm.vmId);
      if (why !== null) refused.push(why);
    }
  } catch (e) {
    await giveBackAll(bulk, vms);
    if (!(e instanceof VgpuError)) throw e;
    throw new OperationFailedError(
      `the pool's claims could not be taken (${e.message}); nothing was imported: run the import again once the pool master answers (it reuses the claims already made)`,
    );
  }
  if (refused.length > 0) {
    await giveBackAll(bulk, vms);
    throw new ConflictError(
      `cannot import in pool mode: ${refused.join("; ")}; nothing was changed`,
    );
  }
}

/** Gives back the claims and tickets of a run that stops, until the first call that fails. */
export async function giveBackAll(
  bulk: PoolBulk,
  vms: readonly PooledImportVm[],
): Promise<void> {
  try {
    for (const vm of vms) {
      await bulk.giveBack(vm.vmUuid);
      await bulk.finish(vm.vmUuid);
    }
  } catch {
    // the master is gone: the rest stays for a rerun (it reuses the claims) or reconcile
  }
}

/** An import in pool mode, as the command drives it. */
export interface PoolImport {
  takeForImport(vms: readonly PooledImportVm[]): Promise<void>;
  giveBackAll(vms: readonly PooledImportVm[]): Promise<void>;
  /** After the args were written: each VM written keeps only its new claim; tickets go. */
  settled(report: HostReport): Promise<void>;
}

/**
 * null when standalone. In pool mode `--replace` (it would unregister every VM of the other
 * hosts: this database holds the whole pool's registry) and `--offline` (claims live in xapi)
 * are refused; the pool is read afresh (this host's cache is what the import is planned against).
 */
export async function beginPoolImport(
  store: Store,
  opts: { replace: boolean; offline: boolean },
  deps: {
    xe(): Promise<Xe>;
    now: () => Date;
    localHost(): string | null;
    command: string;
  },
): Promise<PoolImport | null> {
  if (readPoolState(store) === null) return null;
  if (opts.replace) {
    throw new VgpuError(
      `import --replace does not run in pool mode (this host's database holds the registry of the whole pool: it would unregister the VMs of every other host); nothing was changed: import without --replace (a merge), and remove VMs with remove-vm`,
    );
  }
  if (opts.offline) assertNotPooledOffline(store, "an import");
  const bulk = await beginPoolBulk({
    store,
    xe: await deps.xe(),
    now: deps.now,
    host: deps.localHost(),
    command: deps.command,
  });
  if (bulk === null) return null;
  return {
    takeForImport: (vms) => takeForImport(bulk, vms),
    giveBackAll: (vms) => giveBackAll(bulk, vms),
    async settled(report) {
      try {
        for (const w of report.writes) {
          if (w.action === "set" && (w.result === "wrote" || w.result === "in-sync")) {
            const row = store.getVm(w.vmUuid);
            if (row !== null) await bulk.settled(w.vmUuid, row.vmId);
          }
        }
      } catch {
        // the master gone: the old claims stay (two claims of one VM: reconcile keeps its args')
      }
      await bulk.done().catch(() => {});
    },
  };
}

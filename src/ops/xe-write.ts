// Writes whose answer may be lost (design.md §5 step 11): xapi runs every write as a task that
// goes on when its client dies or times out, so after a failed write read the value back and
// act on what the host really holds.
import { VgpuError, XePowerStateError, XeTimeoutError } from "../domain/errors.ts";
import type { PowerState } from "../domain/types.ts";
import type { Xe } from "../xe/client.ts";

/** Retries a read a few times (a transient xe failure must not decide anything). */
export async function readWithRetry<T>(read: () => Promise<T>, tries = 3): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if (i < tries - 1) await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
  }
  return undefined;
}

export type WriteOutcome = "written" | "not-written" | "unknown";

/**
 * Writes the VM's args. On failure, reads them back: "written" when the host holds `value`
 * anyway (the answer was lost), else the error is rethrown with `outcome` telling whether the
 * host may still hold the value ("unknown": the read-back failed too).
 */
export async function setArgsVerified(xe: Xe, vmUuid: string, value: string | null): Promise<void> {
  try {
    await xe.vmSetArgs(vmUuid, value);
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    const now = await readWithRetry(() => xe.vmGetArgs(vmUuid));
    if (now === value) return; // it happened; only the answer was lost
    throw new WriteFailedError(e.message, now === undefined ? "unknown" : "not-written");
  }
}

/** A write that did not happen ("not-written") or whose effect could not be read ("unknown"). */
export class WriteFailedError extends VgpuError {
  constructor(message: string, readonly outcome: Exclude<WriteOutcome, "written">) {
    super(message);
  }
}

/** True when a failed vm-start (its answer lost, e.g. timed out) started the VM anyway. */
export async function startedAnyway(xe: Xe, vmUuid: string, e: unknown): Promise<boolean> {
  if (!(e instanceof VgpuError)) return false;
  const state: PowerState | undefined = await readWithRetry(() => xe.vmPowerState(vmUuid));
  return state === "running" && (e instanceof XeTimeoutError || !(e instanceof XePowerStateError));
}

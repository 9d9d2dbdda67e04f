// Writes and starts whose answer may be lost or wrong (design.md §5 step 11, issue 18 B6): xapi
// runs every write as a task that goes on when its client dies or times out, and an answer can
// say "done" when nothing (or something else) happened. So every args write is read back and
// every start is confirmed by the power state before it counts.
import {
  OperationFailedError,
  VgpuError,
  XePowerStateError,
  XeTimeoutError,
  XeVmNotFoundError,
} from "../domain/errors.ts";
import type { Clock } from "../domain/clock.ts";
import type { PowerState } from "../domain/types.ts";
import type { Xe } from "../xe/client.ts";

/**
 * Retries a read a few times (a transient xe failure must not decide anything); undefined when
 * every try failed. An answer that no retry can change (the VM does not exist) is rethrown.
 */
export async function readWithRetry<T>(
  read: () => Promise<T>,
  clock: Clock | null,
  tries = 3,
): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if (e instanceof XeVmNotFoundError) throw e;
      // no clock (the start hook's bounded path): retry at once
      if (i < tries - 1) await clock?.sleep(200 * (i + 1));
    }
  }
  return undefined;
}

/** readWithRetry, but a VM that does not exist reads as undefined too. */
async function readQuietly<T>(
  read: () => Promise<T>,
  clock: Clock | null,
): Promise<T | undefined> {
  try {
    return await readWithRetry(read, clock);
  } catch (e) {
    if (e instanceof XeVmNotFoundError) return undefined;
    throw e;
  }
}

export type WriteOutcome = "written" | "not-written" | "unknown";

/**
 * Writes the VM's args and reads them back: it counts only when the host holds `value`. A failed
 * write whose value is there anyway had its answer lost ("written"); otherwise WriteFailedError
 * says whether the host may still hold the value ("unknown": the read-back failed too).
 */
export async function setArgsVerified(
  xe: Xe,
  vmUuid: string,
  value: string | null,
  clock: Clock | null = null,
  o: { readBack: "always" | "on-failure" } = { readBack: "always" },
): Promise<void> {
  let failure: VgpuError | null = null;
  try {
    await xe.vmSetArgs(vmUuid, value);
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    failure = e;
  }
  if (failure === null && o.readBack === "on-failure") return;
  const now = await readQuietly(() => xe.vmGetArgs(vmUuid), clock);
  if (now === value) return; // it is there (after a failure: only the answer was lost)
  if (failure !== null) {
    throw new WriteFailedError(failure.message, now === undefined ? "unknown" : "not-written");
  }
  // exit 0, but the host does not hold what was written (issue 18 B6)
  throw new WriteFailedError(
    now === undefined
      ? `xe vm-param-set answered, but the VM's args could not be read back to check them`
      : `xe vm-param-set answered, but the VM's args read back as ${
        now === null ? "(none)" : JSON.stringify(now)
      }, not what was written`,
    now === undefined ? "unknown" : "not-written",
  );
}

/** A write that did not happen ("not-written") or whose effect could not be read ("unknown"). */
export class WriteFailedError extends VgpuError {
  constructor(message: string, readonly outcome: Exclude<WriteOutcome, "written">) {
    super(message);
  }
}

/** True when a failed vm-start (its answer lost, e.g. timed out) started the VM anyway. */
export async function startedAnyway(
  xe: Xe,
  vmUuid: string,
  e: unknown,
  clock: Clock,
): Promise<boolean> {
  if (!(e instanceof VgpuError)) return false;
  const state: PowerState | undefined = await readQuietly(() => xe.vmPowerState(vmUuid), clock);
  return state === "running" && (e instanceof XeTimeoutError || !(e instanceof XePowerStateError));
}

/**
 * `vm-start` (on `onHost` when given), confirmed by the power state: a start counts only when the
 * VM then runs (exit 0 with the VM still halted is a failure); a lost answer is read back.
 * Returns true when xe's answer was lost but the VM runs.
 */
export async function startConfirmed(
  xe: Xe,
  vmUuid: string,
  o: { onHost: string | null; timeoutMs: number },
  clock: Clock,
): Promise<boolean> {
  try {
    await xe.vmStart(vmUuid, { onHost: o.onHost, timeoutMs: o.timeoutMs });
  } catch (e) {
    if (await startedAnyway(xe, vmUuid, e, clock)) return true;
    throw e;
  }
  const state = await readQuietly(() => xe.vmPowerState(vmUuid), clock);
  if (state !== "running") {
    throw new OperationFailedError(
      `xe vm-start answered, but VM ${vmUuid} is ${
        state ?? "in a power state that cannot be read"
      }, not running`,
    );
  }
  return false;
}

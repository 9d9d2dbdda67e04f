// Typed errors. Only src/cli/exit-code.ts maps them to exit codes (style.md rule 6):
// UsageError → 2, every other VgpuError → 1, anything else → 1 with a "bug:" prefix.
// Messages are one line, lower-case first word where natural, and say what to do.

/** Base of every error a user can cause or meet; carries a one-line message. */
export class VgpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown option, missing or invalid value. Exit 2. */
export class UsageError extends VgpuError {}

/** A VM, pool or setting that does not exist. */
export class NotFoundError extends VgpuError {}

/** A uuid or vm_id already held by another VM. */
export class ConflictError extends VgpuError {}

/** A disabled vGPU pool takes no new VMs (design.md §2); checked again inside the write. */
export class PoolDisabledError extends ConflictError {
  constructor(pool: { poolId: string; name: string }) {
    super(
      `vGPU pool ${pool.poolId} (${
        JSON.stringify(pool.name)
      }) is disabled and takes no new VMs; enable it with 'vgpu-admin enable-pool --pool-id=${pool.poolId}', or choose the other pool`,
    );
  }
}

/** The user answered no (or stdin ended) at a confirmation. */
export class DeclinedError extends VgpuError {
  constructor(message = "Cancelled; nothing changed.") {
    super(message);
  }
}

/** The database cannot be opened, is damaged, busy, or from a newer version. */
export class DatabaseError extends VgpuError {
  /** What failed, without the advice to the user: the part another report can quote. */
  readonly cause_: string;
  constructor(message: string, cause?: string) {
    super(message);
    this.cause_ = cause ?? message;
  }
}

/**
 * SQLite answered busy. It does after the busy timeout, but also AT ONCE where waiting could
 * deadlock (a read transaction that wants to write while another connection writes): the words
 * are true in both cases, and the holder may be any program, not only vgpu-admin.
 */
export function databaseLocked(path: string): DatabaseError {
  return new DatabaseError(
    `database ${path} is locked by another process (another vgpu-admin, or a program with a transaction open on it); try again once it is done`,
  );
}

/**
 * A file at the database path that is not SQLite at all, in SQLite's words ("file is not a
 * database"): an overwritten database, or any other file a mistyped --db names, which must never
 * be told to be moved aside without that doubt (/etc/passwd).
 */
export function notSqliteFile(path: string): DatabaseError {
  return new DatabaseError(
    `database ${path} is not an SQLite file (file is not a database); if it is not vgpu-admin's database (a mistyped --db), pass the right --db PATH, otherwise move it aside and restore a backup or re-import an export`,
  );
}

/** A database whose pages SQLite (or our probe) cannot read as they should be: `what` says how. */
export function damagedDatabase(path: string, what: string): DatabaseError {
  return new DatabaseError(
    `database ${path} is damaged (${what}); move it aside and restore a backup or re-import an export`,
  );
}

/** What went wrong, for quoting inside another message (a DatabaseError's advice left out). */
export function causeOf(e: Error): string {
  return e instanceof DatabaseError ? e.cause_ : e.message;
}

/** A reconfiguration or registration that failed part-way; the message tells the final state. */
export class OperationFailedError extends VgpuError {}

/** The VM is in a power state the operation cannot work with (paused, suspended). */
export class PowerStateRefusedError extends VgpuError {}

/** Base of failures of the `xe` command; `argv` never includes the xe path itself. */
export class XeError extends VgpuError {
  constructor(
    message: string,
    readonly argv: readonly string[] = [],
    readonly exitCode: number | null = null,
    readonly stderr: string = "",
  ) {
    super(message);
  }
}

/** `xe` is not installed or not executable at the configured path. */
export class XeMissingError extends XeError {}

/** An `xe` call did not finish within its time bound (it was killed). */
export class XeTimeoutError extends XeError {
  constructor(
    message: string,
    argv: readonly string[],
    readonly timeoutMs: number,
  ) {
    super(message, argv, null, "");
  }
}

/** xe said the VM does not exist ("The uuid you supplied was invalid." or "No matching VMs found"). */
export class XeVmNotFoundError extends XeError {
  constructor(
    message: string,
    argv: readonly string[],
    exitCode: number | null,
    stderr: string,
    readonly vmUuid: string,
  ) {
    super(message, argv, exitCode, stderr);
  }
}

/** xe refused because the VM was in the wrong power state; expected/actual as xe printed them. */
export class XePowerStateError extends XeError {
  constructor(
    message: string,
    argv: readonly string[],
    exitCode: number | null,
    stderr: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message, argv, exitCode, stderr);
  }
}

/** A map key (e.g. platform:device-model-args) is absent: "Key X not found in map" / "is not in map". */
export class XeKeyMissingError extends XeError {
  constructor(
    message: string,
    argv: readonly string[],
    exitCode: number | null,
    stderr: string,
    readonly key: string,
  ) {
    super(message, argv, exitCode, stderr);
  }
}

/** xe printed something we cannot parse (garbage on stdout). */
export class XeOutputError extends XeError {}

/** Another vgpu-admin holds the VM's operation lock, or the VM changed under us. */
export class BusyError extends VgpuError {}

/** An interrupted operation left the VM in the journal: `vgpu-admin recover` must run first. */
export class RecoveryNeededError extends VgpuError {}

/** Args read from xe that cannot be QEMU arguments (garbage, a cut answer): never written back. */
export class ImplausibleArgsError extends XeOutputError {
  constructor(message: string) {
    super(message, [], 0, "");
  }
}

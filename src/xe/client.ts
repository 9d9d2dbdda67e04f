// The xe verbs vgpu-admin needs, named after xe's own (style.md rule 11), over one XeRunner.

import {
  VgpuError,
  XeKeyMissingError,
  XeOutputError,
  XeVmNotFoundError,
} from "../domain/errors.ts";
import type { KnownRegistered } from "../domain/drift.ts";
import type { Host, HostVm, PowerState } from "../domain/types.ts";
import { isUuid } from "../domain/validate.ts";
import { ownString } from "../domain/own-string.ts";
import { MAP_KEY_RE, mapEntry, parsePowerState, parseRecords, RecordReader } from "./parse.ts";
import { VM_LIST_DOMID_PARAMS, VM_LIST_PARAMS } from "./read-argv.ts";
import type { XeRunner } from "./runner.ts";
import { readVmArgs } from "./vm-args.ts";

export interface XeClientOptions {
  /** The platform map key holding QEMU args: "device-model-args" (default) or e.g. "device_model_args". */
  platformKey: string;
  /**
   * Told of each vm-start and vm-shutdown xe completed: history records every stop and start
   * vgpu-admin caused ("why did this VM reboot at 05:26?", issue 18 C12).
   */
  onPower?: (e: PowerEvent) => Promise<void>;
}

/** A stop or start vgpu-admin caused: `how` is "clean shutdown", "forced shutdown" or "start". */
export interface PowerEvent {
  vmUuid: string;
  from: PowerState;
  to: PowerState;
  how: string;
}

export const DEFAULT_PLATFORM_KEY = "device-model-args";

/**
 * The registered VM of a uuid, if any (vmList's `known`; drift's plan answers it): a VM xe lists
 * takes that VM's own uuid and, when equal, name and args strings instead of copies of its own
 * (10,000 VMs: ~1.2 MB, issue 19; and args that are the very string drift expects are known in
 * sync at a glance).
 */
export type KnownVm = (uuid: string) => KnownRegistered | undefined;

// A halted VM's resident-on is a null reference, printed like this.
const NOT_IN_DATABASE = "<not in database>";

/** The hypervisor's VM verbs; every call goes through the runner and is counted in `calls`. */
export class Xe {
  #runner: XeRunner;
  #key: string;
  #calls = 0;
  #onPower: XeClientOptions["onPower"];
  #lastHost = "";

  constructor(runner: XeRunner, o: XeClientOptions) {
    // parseMap only recognises keys of this shape; "=" would also end the key in `platform:K=V`
    if (!MAP_KEY_RE.test(o.platformKey)) {
      throw new VgpuError(
        `platform key "${o.platformKey}" is not usable: use letters, digits, "_", ".", ":" and "-"`,
      );
    }
    this.#runner = runner;
    this.#key = o.platformKey;
    this.#onPower = o.onPower;
  }

  /** How many xe invocations this client made. */
  get calls(): number {
    return this.#calls;
  }

  /** The platform map key holding QEMU args (setting platform-key). */
  get platformKey(): string {
    return this.#key;
  }

  /** One call of a verb this class does not wrap (the pool verbs of pool.ts), counted. */
  call(argv: readonly string[], timeoutMs?: number): Promise<string> {
    return this.#run(argv, timeoutMs);
  }

  /**
   * Every guest (dom0 excluded by is-control-domain, never by name) in one `vm-list` call, plus
   * one `vm-param-get` per VM whose platform value is ambiguous. `uuid` filters (unknown → []).
   * `domIds` (the QEMU check: doctor, scan-vms --deep): filled in the same call with the dom-id of
   * each VM that has a domain (running or paused; a halted VM prints -1), keyed by each HostVm's
   * own uuid string: one snapshot of the host, one call fewer than asking them apart.
   */
  async vmList(
    filter: { uuid?: string } = {},
    known?: KnownVm,
    domIds?: Map<string, number>,
  ): Promise<HostVm[]> {
    const argv = ["vm-list", "is-control-domain=false"];
    if (filter.uuid !== undefined) argv.push(`uuid=${filter.uuid}`);
    argv.push(domIds === undefined ? VM_LIST_PARAMS : VM_LIST_DOMID_PARAMS);
    // Each record becomes its HostVm as xe prints it (neither the whole answer nor 10,000 Maps
    // are ever held at once); the VMs whose platform line is ambiguous are read alone
    // afterwards, in host order.
    const vms: (HostVm | null)[] = [];
    const unclear: { at: number; vm: Omit<HostVm, "deviceModelArgs"> }[] = [];
    const records = new RecordReader((r) => {
      const read = this.#toHostVm(argv, filter.uuid, r, known);
      if (read === null) return;
      if (domIds !== undefined) {
        const domId = domIdOf(argv, r);
        if (domId !== null) domIds.set(read.uuid, domId);
      }
      if ("deviceModelArgs" in read) vms.push(read);
      else {
        unclear.push({ at: vms.length, vm: read });
        vms.push(null);
      }
    }, { reuse: true });
    await this.#stream(argv, (text) => records.push(text));
    readable(argv, () => records.end());
    // one at a time: the extra reads are rare, and xapi serialises them anyway
    for (const { at, vm } of unclear) vms[at] = await this.#readArgs(vm);
    return vms.filter((v): v is HostVm => v !== null);
  }

  /** Hosts of the XCP-ng pool, in one `host-list` call. */
  async hostList(): Promise<Host[]> {
    const argv = ["host-list", "params=uuid,name-label"];
    const stdout = await this.#run(argv);
    return readable(argv, () => parseRecords(stdout)).map((r) => ({
      uuid: canonical(argv, required(argv, r, "uuid")),
      nameLabel: required(argv, r, "name-label"),
    }));
  }

  /** The VM's power state (`vm-param-get param-name=power-state`), validated. */
  async vmPowerState(uuid: string): Promise<PowerState> {
    const argv = ["vm-param-get", `uuid=${uuid}`, "param-name=power-state"];
    const stdout = await this.#run(argv);
    return readable(argv, () => parsePowerState(stdout));
  }

  /** The raw value of platform:<platformKey>; null when the key is absent. */
  vmGetArgs(uuid: string): Promise<string | null> {
    return readVmArgs((argv) => this.#run(argv), uuid, this.#key);
  }

  /** Writes platform:<platformKey>=value (any power state); null removes the key, idempotently. */
  async vmSetArgs(uuid: string, value: string | null): Promise<void> {
    if (value !== null) {
      await this.#run(["vm-param-set", `uuid=${uuid}`, `platform:${this.#key}=${value}`]);
      return;
    }
    try {
      await this.#run([
        "vm-param-remove",
        `uuid=${uuid}`,
        "param-name=platform",
        `param-key=${this.#key}`,
      ]);
    } catch (e) {
      // "Error: Key K is not in map": already absent, which is what we wanted
      if (!(e instanceof XeKeyMissingError)) throw e;
    }
  }

  /** `vm-start uuid=U [on=<host>]`; blocks until xe returns. */
  async vmStart(
    uuid: string,
    o: { onHost?: string | null; timeoutMs?: number } = {},
  ): Promise<void> {
    const argv = ["vm-start", `uuid=${uuid}`];
    if (o.onHost) argv.push(`on=${o.onHost}`);
    await this.#run(argv, o.timeoutMs);
    await this.#onPower?.({ vmUuid: uuid, from: "halted", to: "running", how: "start" });
  }

  /** Clean (`vm-shutdown uuid=U`) or hard (`force=true`) shutdown, bounded by `timeoutMs`. */
  async vmShutdown(uuid: string, o: { force: boolean; timeoutMs: number }): Promise<void> {
    const argv = ["vm-shutdown", `uuid=${uuid}`];
    if (o.force) argv.push("force=true");
    await this.#run(argv, o.timeoutMs);
    const how = o.force ? "forced shutdown" : "clean shutdown";
    await this.#onPower?.({ vmUuid: uuid, from: "running", to: "halted", how });
  }

  async #run(argv: readonly string[], timeoutMs?: number): Promise<string> {
    this.#calls++;
    const out = await this.#runner.run(argv, timeoutMs === undefined ? undefined : { timeoutMs });
    // xe ends its lines with "\n" only: CRLF means something between us and xapi rewrote the
    // answer, and a "\r" left on a uuid or on args is never data to act on (issue 21.6)
    if (out.includes("\r\n")) throw crlf(argv);
    return out;
  }

  /**
   * #run with the answer handed to `each` as it arrives (the runner's stream, or its whole
   * answer at once from a runner without one). Errors come in #run's order: xe's failure, then
   * CRLF line ends anywhere in the answer, then the first error `each` threw (reading stops
   * there; later pieces are only checked for CRLF).
   */
  async #stream(argv: readonly string[], each: (text: string) => void): Promise<void> {
    this.#calls++;
    let failed: { error: unknown } | null = null;
    let crlfSeen = false;
    let lastCr = false;
    const take = (text: string) => {
      if (!crlfSeen && (text.includes("\r\n") || (lastCr && text.startsWith("\n")))) {
        crlfSeen = true;
      }
      lastCr = text.endsWith("\r");
      if (failed !== null || crlfSeen) return;
      try {
        each(text);
      } catch (e) {
        failed = { error: e };
      }
    };
    if (this.#runner.stream === undefined) take(await this.#runner.run(argv));
    else await this.#runner.stream(argv, take);
    if (crlfSeen) throw crlf(argv);
    if (failed !== null) throw readableError(argv, (failed as { error: unknown }).error);
  }

  /**
   * One vm-list record → HostVm; without its args when the platform line is ambiguous (the
   * caller reads them alone); null for dom0.
   */
  #toHostVm(
    argv: readonly string[],
    asked: string | undefined,
    r: Map<string, string>,
    known: KnownVm | undefined,
  ): HostVm | Omit<HostVm, "deviceModelArgs"> | null {
    // xe lists dom0 as a VM; the filter should hide it, but never trust a name (xe-reference.md)
    if (required(argv, r, "is-control-domain") !== "false") return null;
    const printed = required(argv, r, "uuid");
    // a registered VM's own strings when equal: one copy of each uuid and name (issue 19); its
    // uuid, read from the database, is a canonical one already
    const reg = known?.(printed);
    const uuid = reg?.vmUuid ?? canonical(argv, printed);
    // an answer about another VM than the one asked for is never data to act on (issue 21.6)
    if (asked !== undefined && uuid !== asked) {
      throw new XeOutputError(
        `xe ${argv[0]} was asked for VM ${asked} and answered with VM ${uuid}; nothing was done`,
        argv,
        0,
        "",
      );
    }
    const residentOn = required(argv, r, "resident-on");
    const name = required(argv, r, "name-label");
    const nameLabel = reg !== undefined && reg.vmName === name ? reg.vmName : ownString(name);
    const id = reg?.vmUuid ?? ownString(uuid);
    const power = required(argv, r, "power-state");
    // as xe prints it (nearly always): no trimmed, lower-cased copy to check
    const powerState = powerConstant(power) ?? readable(argv, () => parsePowerState(power));
    const on = residentOn === NOT_IN_DATABASE || residentOn === ""
      ? null
      : this.#hostUuid(residentOn);
    const platform = required(argv, r, "platform");
    try {
      const args = mapEntry(platform, this.#key);
      // a value holding "; " or ": " makes the line ambiguous: read that key alone
      if (!args.ambiguous) {
        // one object per VM, built whole
        return {
          uuid: id,
          nameLabel,
          powerState,
          residentOn: on,
          deviceModelArgs: args.value === null
            ? null
            : args.value === reg?.deviceArgs
            ? reg.deviceArgs
            : ownString(args.value),
        };
      }
    } catch (e) {
      if (!(e instanceof XeOutputError)) throw e;
    }
    return { uuid: id, nameLabel, powerState, residentOn: on };
  }

  /**
   * A resident-on uuid, one string for the VMs on the same host as the VM before (every running
   * VM of a host names it: 3,000 copies at 10,000 VMs, issue 19).
   */
  #hostUuid(uuid: string): string {
    if (uuid !== this.#lastHost) this.#lastHost = ownString(uuid);
    return this.#lastHost;
  }

  /** The args of a VM whose platform line was ambiguous; null when it vanished meanwhile. */
  async #readArgs(vm: Omit<HostVm, "deviceModelArgs">): Promise<HostVm | null> {
    try {
      return { ...vm, deviceModelArgs: await this.vmGetArgs(vm.uuid) };
    } catch (e) {
      // deleted between vm-list and vm-param-get: it is no longer on the host
      if (e instanceof XeVmNotFoundError) return null;
      throw e;
    }
  }
}

/**
 * A power state as xe prints it, as the program's own constant (not the copy cut from xe's
 * answer: 10,000 VMs, one string each, issue 19); null for any other text.
 */
function powerConstant(s: string): PowerState | null {
  switch (s) {
    case "halted":
      return "halted";
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "suspended":
      return "suspended";
  }
  return null;
}

/** A uuid as xe prints it: canonical lower-case 8-4-4-4-12 (a CRLF answer leaves "\r" on it). */
function canonical(argv: readonly string[], uuid: string): string {
  if (!isUuid(uuid)) {
    throw new XeOutputError(
      `xe ${argv[0]} printed ${
        JSON.stringify(uuid)
      } where a VM uuid belongs; nothing was done (is xe's output passing through something that changes line ends?)`,
      argv,
      0,
      "",
    );
  }
  return uuid;
}

/** Runs a parse step; an XeOutputError gets the argv and its message the verb. */
function readable<T>(argv: readonly string[], f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw readableError(argv, e);
  }
}

/** A record's dom-id when the VM has a domain; null for a halted VM's -1 (or 0, dom0's). */
function domIdOf(argv: readonly string[], r: Map<string, string>): number | null {
  const raw = required(argv, r, "dom-id").trim();
  return /^[1-9][0-9]*$/.test(raw) ? Number(raw) : null;
}

function readableError(argv: readonly string[], e: unknown): unknown {
  // parse.ts messages start "xe printed": name the verb there
  if (e instanceof XeOutputError && e.argv.length === 0) {
    return new XeOutputError(e.message.replace(/^xe /, `xe ${argv[0]} `), argv, 0, "");
  }
  return e;
}

function crlf(argv: readonly string[]): XeOutputError {
  return new XeOutputError(
    `xe ${
      argv[0]
    } printed CRLF line ends, which xe never does; nothing was done (is its output passing through a wrapper?)`,
    argv,
    0,
    "",
  );
}

/** A field xe must have printed; its absence means output we cannot trust. */
function required(argv: readonly string[], r: Map<string, string>, label: string): string {
  const v = r.get(label);
  if (v === undefined) {
    throw new XeOutputError(
      `xe ${argv[0]} printed a record without ${label}: ${r.get("uuid") ?? "(no uuid)"}`,
      argv,
      0,
      "",
    );
  }
  return v;
}

/**
 * Renders an argv as a copy-pasteable shell line `xe ...`, single-quoting (POSIX) only the
 * values that need it: `xe vm-param-set uuid=U platform:device-model-args='-device …'`.
 */
export function xeCommandLine(args: readonly string[]): string {
  return ["xe", ...args.map(quoteArg)].join(" ");
}

// Characters no POSIX shell treats specially anywhere in a word ("~" is special at the start).
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quoteArg(arg: string): string {
  const eq = arg.indexOf("=");
  const name = eq > 0 ? arg.slice(0, eq) : "";
  // quote only the value so the line reads like xe's documentation: name='value'
  if (name !== "" && SHELL_SAFE.test(name)) return `${name}=${shellQuote(arg.slice(eq + 1))}`;
  return shellQuote(arg);
}

function shellQuote(s: string): string {
  if (SHELL_SAFE.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

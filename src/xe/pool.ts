// The xe verbs of pool mode (xe-reference.md "Pools"): the pool record, every guest with its
// other-config, the hosts, and the one atomic primitive xapi has: `*-param-add` of a map key.
import { VgpuError, XeError, XeKeyMissingError, XeTimeoutError } from "../domain/errors.ts";
import type { PoolVm } from "../domain/pool.ts";
import type { Xe } from "./client.ts";
import { parseMap, parsePowerState, parseRecords } from "./parse.ts";
import { HOST_LIST_ARGV, POOL_LIST_ARGV, POOL_VM_LIST_ARGV } from "./read-argv.ts";

export interface PoolRecord {
  uuid: string;
  nameLabel: string;
  /** The master's host uuid. */
  master: string;
  haEnabled: boolean;
  otherConfig: Map<string, string>;
}

export interface PoolHost {
  uuid: string;
  nameLabel: string;
  enabled: boolean;
  /** host-metrics-live: false when the pool thinks the host is dead. */
  live: boolean;
  otherConfig: Map<string, string>;
}

const NOT_RUNNING = "not running";

/** "on host2", or "not running". */
export function where(hostName: string): string {
  return hostName === NOT_RUNNING ? NOT_RUNNING : `on ${hostName}`;
}

/** A host's name-label by uuid (the uuid when unknown); null: "not running". */
export function hostName(hosts: readonly PoolHost[], uuid: string | null): string {
  if (uuid === null) return NOT_RUNNING;
  return hosts.find((h) => h.uuid === uuid)?.nameLabel ?? uuid;
}

/** What `*-param-add` did: added, or the key was already there (whoever put it). */
export type AddResult = "added" | "exists";

// xapi's MAP_DUPLICATE_KEY sentence (xe-reference.md): the add found the key already there
const DUPLICATE_KEY = "You tried to add a key-value pair to a map, but that key is already there.";

const NOT_IN_DATABASE = "<not in database>";

function field(argv: readonly string[], r: Map<string, string>, label: string): string {
  const v = r.get(label);
  if (v === undefined) {
    throw new XeError(
      `xe ${argv[0]} printed a record without ${label}; is this xe too old for pool mode?`,
      argv,
    );
  }
  return v;
}

function mapOf(value: string): Map<string, string> {
  return parseMap(value).entries;
}

function isDuplicate(e: unknown): boolean {
  return e instanceof XeError && e.stderr.includes(DUPLICATE_KEY);
}

/** Pool verbs over the one xe client (every call goes through its runner and is counted). */
export class XePool {
  constructor(readonly xe: Xe) {}

  /** The pool record with its other-config: ONE `pool-list` call (marker and claims included). */
  async poolRecord(): Promise<PoolRecord> {
    const argv = POOL_LIST_ARGV;
    const records = parseRecords(await this.xe.call(argv));
    if (records.length !== 1) {
      throw new XeError(`xe pool-list printed ${records.length} pools; expected one`, argv);
    }
    const r = records[0];
    return {
      uuid: field(argv, r, "uuid"),
      nameLabel: r.get("name-label") ?? "",
      master: field(argv, r, "master"),
      haEnabled: r.get("ha-enabled") === "true",
      otherConfig: mapOf(field(argv, r, "other-config")),
    };
  }

  /** Every guest of the pool with platform args and other-config: ONE `vm-list` call. */
  async vmList(): Promise<PoolVm[]> {
    const argv = POOL_VM_LIST_ARGV;
    const key = this.xe.platformKey;
    const out: PoolVm[] = [];
    for (const r of parseRecords(await this.xe.call(argv))) {
      if (field(argv, r, "is-control-domain") !== "false") continue;
      const uuid = field(argv, r, "uuid");
      const residentOn = field(argv, r, "resident-on");
      const { entries, ambiguous } = parseMap(field(argv, r, "platform"));
      // an ambiguous rendering is read alone (rare: a value holding "; " or ": ")
      const args = ambiguous.has(key) ? await this.xe.vmGetArgs(uuid) : entries.get(key) ?? null;
      out.push({
        uuid,
        nameLabel: field(argv, r, "name-label"),
        powerState: parsePowerState(field(argv, r, "power-state")),
        residentOn: residentOn === NOT_IN_DATABASE || residentOn === "" ? null : residentOn,
        deviceModelArgs: args,
        otherConfig: mapOf(field(argv, r, "other-config")),
      });
    }
    return out;
  }

  /** Every host with enabled, host-metrics-live and other-config: ONE `host-list` call. */
  async hostList(): Promise<PoolHost[]> {
    const argv = HOST_LIST_ARGV;
    return parseRecords(await this.xe.call(argv)).map((r) => ({
      uuid: field(argv, r, "uuid"),
      nameLabel: field(argv, r, "name-label"),
      enabled: r.get("enabled") !== "false",
      live: r.get("host-metrics-live") !== "false",
      otherConfig: mapOf(r.get("other-config") ?? ""),
    }));
  }

  /** host-metrics-live of one host. */
  async hostLive(host: string): Promise<boolean> {
    const out = await this.xe.call([
      "host-param-get",
      `uuid=${host}`,
      "param-name=host-metrics-live",
    ]);
    return out.trim() !== "false";
  }

  /**
   * `<cls>-param-add uuid=U param-name=other-config K=V`: atomic in xapi. A duplicate-key answer
   * is "exists". An answer lost (timeout) is settled by reading the key back: our value → added.
   */
  async add(
    cls: "pool" | "vm" | "host",
    uuid: string,
    key: string,
    value: string,
  ): Promise<AddResult> {
    const argv = [`${cls}-param-add`, `uuid=${uuid}`, "param-name=other-config", `${key}=${value}`];
    try {
      await this.xe.call(argv);
      return "added";
    } catch (e) {
      if (isDuplicate(e)) return "exists";
      if (!(e instanceof XeTimeoutError)) throw e;
      // the add may have happened in xapi after our client gave up (design.md §5 step 11)
      const now = await this.get(cls, uuid, key);
      if (now === value) return "added";
      if (now !== null) return "exists";
      throw new VgpuError(
        `xe ${cls}-param-add of ${key} did not answer and the key is absent: nothing was claimed; run the command again`,
      );
    }
  }

  /** The value of other-config:K, or null when absent. */
  async get(cls: "pool" | "vm" | "host", uuid: string, key: string): Promise<string | null> {
    try {
      const out = await this.xe.call([
        `${cls}-param-get`,
        `uuid=${uuid}`,
        "param-name=other-config",
        `param-key=${key}`,
      ]);
      return out.endsWith("\n") ? out.slice(0, -1) : out;
    } catch (e) {
      if (e instanceof XeKeyMissingError) return null;
      throw e;
    }
  }

  /**
   * Removes other-config:K only when it holds `expected` (read first: the key is ours). Returns
   * what was there (null: absent). Between the read and the remove nobody else writes a key we
   * hold: every writer adds (never sets) and removes only its own.
   */
  async removeIfOurs(
    cls: "pool" | "vm" | "host",
    uuid: string,
    key: string,
    expected: string,
  ): Promise<string | null> {
    const now = await this.get(cls, uuid, key);
    if (now !== expected) return now;
    try {
      await this.xe.call([
        `${cls}-param-remove`,
        `uuid=${uuid}`,
        "param-name=other-config",
        `param-key=${key}`,
      ]);
    } catch (e) {
      if (!(e instanceof XeKeyMissingError)) throw e;
    }
    return now;
  }
}

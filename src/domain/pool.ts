// Pool mode (design.md §8): the keys vgpu-admin writes into xapi's pool database, and the pure
// reading of what a pool holds (claims, markers, tickets) into a registry with its problems.
import { parseDeviceArgs } from "./device-args.ts";
import type { HostVm, PoolId, Priority, VgpuConfig } from "./types.ts";
import { VM_ID_MAX, VM_ID_MIN } from "./types.ts";

/** Pool other-config: pool mode is on; its value is the format version (`1`). */
export const MARKER_KEY = "vgpu-admin:pool-mode";
/** The format this vgpu-admin reads and writes. A newer one: it refuses to write. */
export const POOL_FORMAT = 1;
/** Pool other-config: `vgpu-admin:vm_id:<N>=<vm uuid>`, one claim per vm_id. */
export const CLAIM_PREFIX = "vgpu-admin:vm_id:";
/** VM other-config: the one change in progress on this VM, pool-wide (`vm-param-add`). */
export const TICKET_KEY = "vgpu-admin:ticket";
/** VM other-config: the change under the ticket reached its commit point (row and args written). */
export const COMMIT_KEY = "vgpu-admin:commit";
/** Host other-config: this host joined pool mode (`v=<version>;hooks=<names>`). */
export const MEMBER_KEY = "vgpu-admin:member";

export function claimKey(vmId: number): string {
  return `${CLAIM_PREFIX}${vmId}`;
}

/** vm_id → vm uuid from a pool other-config; keys of another shape are ignored. */
export function parseClaims(otherConfig: ReadonlyMap<string, string>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, v] of otherConfig) {
    if (!k.startsWith(CLAIM_PREFIX)) continue;
    const n = k.slice(CLAIM_PREFIX.length);
    if (!/^[1-9][0-9]{0,9}$/.test(n)) continue;
    const id = Number(n);
    if (id < VM_ID_MIN || id > VM_ID_MAX) continue;
    out.set(id, v.trim().toLowerCase());
  }
  return out;
}

/** The marker's value once `pool disable` turned pool mode off (every host leaves it). */
export const MARKER_OFF = "off";

/**
 * The marker's format version; null when absent (never enabled, or lost: a rollback, a wiped
 * other-config); 0 when turned off (`off`); NaN when unreadable.
 */
export function markerFormat(otherConfig: ReadonlyMap<string, string>): number | null {
  const v = otherConfig.get(MARKER_KEY);
  if (v === undefined) return null;
  if (v.trim() === MARKER_OFF) return 0;
  return /^[1-9][0-9]{0,5}$/.test(v.trim()) ? Number(v.trim()) : NaN;
}

/** Who holds a VM's ticket: written into xapi, shown in a refusal. */
export interface Ticket {
  host: string;
  hostName: string;
  pid: number;
  command: string;
  at: string;
  /** The VM's power state when the ticket was taken (a take-over brings it back). */
  power?: string;
  /** The configuration its args carried then (a take-over without commit marker restores it). */
  orig?: VgpuConfig;
}

/** `A.1.5`: vGPU pool, stored priority, vm_id (no "; " or ": ", xe map rendering). */
export function formatConfig(c: VgpuConfig): string {
  return `${c.pool}.${c.priority}.${c.vmId}`;
}

export function parseConfig(s: string | undefined): VgpuConfig | undefined {
  const m = /^([AB])\.([012])\.([1-9][0-9]{0,9})$/.exec(s ?? "");
  if (m === null) return undefined;
  return { pool: m[1] as PoolId, priority: Number(m[2]) as Priority, vmId: Number(m[3]) };
}

/** The commit marker's value: the change's target, and whose ticket committed it. */
export function formatCommit(target: VgpuConfig, ticket: string): string {
  const t = parseTicket(ticket);
  return `target=${formatConfig(target)} host=${t?.host ?? "?"} pid=${t?.pid ?? 0}`;
}

export function parseCommitTarget(s: string): VgpuConfig | undefined {
  return parseConfig(/(?:^|\s)target=(\S+)/.exec(s)?.[1]);
}

/** `host=<uuid> name=<label> pid=<n> command=<c> at=<iso>`: no "; " or ": " (xe map rendering). */
export function formatTicket(t: Ticket): string {
  const name = t.hostName.replace(/[;:=\s]+/g, "_");
  return `host=${t.host} name=${name} pid=${t.pid} command=${t.command} at=${t.at}${
    t.power === undefined ? "" : ` power=${t.power}`
  }${t.orig === undefined ? "" : ` orig=${formatConfig(t.orig)}`}`;
}

export function parseTicket(s: string): Ticket | null {
  const f = new Map<string, string>();
  for (const part of s.trim().split(/\s+/)) {
    const eq = part.indexOf("=");
    if (eq > 0) f.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const pid = Number(f.get("pid"));
  if (!f.get("host") || !Number.isInteger(pid) || !f.get("command") || !f.get("at")) return null;
  return {
    host: f.get("host")!,
    hostName: f.get("name") ?? f.get("host")!,
    pid,
    command: f.get("command")!,
    at: f.get("at")!,
    power: f.get("power"),
    orig: parseConfig(f.get("orig")),
  };
}

/** The lowest vm_id ≥ 1 not in `used`. */
export function lowestFree(used: ReadonlySet<number>): number {
  return freeAmongLowest(used, 1, () => 0);
}

/**
 * One of the `k` lowest vm_ids ≥ 1 not in `used`, picked by `random` (in [0, 1)): k = 1 is the
 * lowest free. Hosts claiming at once spread over the k lowest instead of all racing for one.
 */
export function freeAmongLowest(
  used: ReadonlySet<number>,
  k: number,
  random: () => number,
): number {
  let pick = Math.min(Math.floor(random() * k), k - 1);
  let n = VM_ID_MIN;
  for (;;) {
    while (used.has(n)) n++;
    if (pick-- <= 0) return n;
    n++;
  }
}

/** One guest of the pool as `vm-list` shows it, with its other-config. */
export interface PoolVm extends HostVm {
  otherConfig: ReadonlyMap<string, string>;
}

/** A registered VM of the pool: its claim, and the configuration its args carry. */
export interface RegistryEntry {
  vmId: number;
  vmUuid: string;
  /** null: the claimed VM no longer exists in the pool. */
  vm: PoolVm | null;
  /** From the VM's vgpu-stub; null when it carries none (or several, or a broken one). */
  pool: PoolId | null;
  priority: Priority | null;
  /** The vm_id the args carry (may differ from the claim). */
  argsVmId: number | null;
}

export type ProblemKind =
  | "claim-without-args"
  | "args-without-claim"
  | "duplicate-vm-id"
  | "claim-vm-gone"
  | "two-claims";

export interface PoolProblem {
  kind: ProblemKind;
  vmId: number;
  vmUuid: string;
  /** The other VM of a duplicate, or the other vm_id of a VM claimed twice. */
  other: string | null;
  fix: string;
}

export interface Registry {
  entries: RegistryEntry[];
  problems: PoolProblem[];
}

function stubOf(args: string | null) {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

/** The pool-wide registry from the claims and every guest's args (pure). */
export function buildRegistry(
  claims: ReadonlyMap<number, string>,
  vms: readonly PoolVm[],
): Registry {
  const byUuid = new Map(vms.map((v) => [v.uuid, v]));
  // each VM's args parsed once (the claims and the carriers below both need them)
  const cfgs = new Map(vms.map((v) => [v.uuid, stubOf(v.deviceModelArgs)]));
  const entries: RegistryEntry[] = [];
  const problems: PoolProblem[] = [];
  const claimedBy = new Map<string, number[]>();
  for (const [vmId, vmUuid] of [...claims].sort((a, b) => a[0] - b[0])) {
    const vm = byUuid.get(vmUuid) ?? null;
    const cfg = vm === null ? null : cfgs.get(vm.uuid) ?? null;
    entries.push({
      vmId,
      vmUuid,
      vm,
      pool: cfg?.pool ?? null,
      priority: cfg?.priority ?? null,
      argsVmId: cfg?.vmId ?? null,
    });
    claimedBy.set(vmUuid, [...(claimedBy.get(vmUuid) ?? []), vmId]);
    if (vm === null) {
      problems.push({
        kind: "claim-vm-gone",
        vmId,
        vmUuid,
        other: null,
        fix: `vgpu-admin pool reconcile (releases vm_id ${vmId})`,
      });
    } else if (cfg === null || cfg.vmId !== vmId) {
      problems.push({
        kind: "claim-without-args",
        vmId,
        vmUuid,
        other: null,
        fix: `vgpu-admin pool reconcile on the host that registered it, or vgpu-admin sync`,
      });
    }
  }
  for (const [vmUuid, ids] of claimedBy) {
    if (ids.length > 1) {
      problems.push({
        kind: "two-claims",
        vmId: ids[0],
        vmUuid,
        other: ids.slice(1).join(","),
        fix: `vgpu-admin pool reconcile (keeps the vm_id its args carry)`,
      });
    }
  }
  const carriers = new Map<number, string[]>();
  for (const vm of vms) {
    const cfg = cfgs.get(vm.uuid) ?? null;
    if (cfg === null) continue;
    carriers.set(cfg.vmId, [...(carriers.get(cfg.vmId) ?? []), vm.uuid]);
    if (claims.get(cfg.vmId) !== vm.uuid && !claimedBy.has(vm.uuid)) {
      problems.push({
        kind: "args-without-claim",
        vmId: cfg.vmId,
        vmUuid: vm.uuid,
        other: claims.get(cfg.vmId) ?? null,
        fix: claims.has(cfg.vmId)
          ? `vgpu-admin set-vm-id --vm-uuid=${vm.uuid} --vm-id=<a free id> (vm_id ${cfg.vmId} belongs to VM ${
            claims.get(cfg.vmId)
          })`
          : `vgpu-admin pool reconcile on the host that registered it, or vgpu-admin adopt --vm-uuid=${vm.uuid}`,
      });
    }
  }
  for (const [vmId, uuids] of carriers) {
    if (uuids.length < 2) continue;
    const owner = claims.get(vmId);
    const second = uuids.find((u) => u !== owner) ?? uuids[1];
    const first = uuids.find((u) => u !== second)!;
    problems.push({
      kind: "duplicate-vm-id",
      vmId,
      vmUuid: second,
      other: first,
      fix: `vgpu-admin set-vm-id --vm-uuid=${second} --vm-id=<a free id>`,
    });
  }
  return { entries, problems };
}

/** One line per problem kind, as `pool status` and `pool reconcile` say it. */
export function problemText(p: PoolProblem): string {
  switch (p.kind) {
    case "claim-without-args":
      return `vm_id ${p.vmId} is claimed by VM ${p.vmUuid}, whose args do not carry it`;
    case "args-without-claim":
      return p.other === null
        ? `VM ${p.vmUuid} carries vm_id ${p.vmId} in its args but holds no claim`
        : `VM ${p.vmUuid} carries vm_id ${p.vmId}, claimed by VM ${p.other}`;
    case "duplicate-vm-id":
      return `vm_id ${p.vmId} is carried by two VMs: ${p.other} and ${p.vmUuid}`;
    case "claim-vm-gone":
      return `vm_id ${p.vmId} is claimed by VM ${p.vmUuid}, which no longer exists`;
    case "two-claims":
      return `VM ${p.vmUuid} holds two claims: vm_id ${p.vmId} and ${p.other}`;
  }
}

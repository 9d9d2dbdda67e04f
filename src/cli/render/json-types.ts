// Every `--format=json` document, as a named type (docs/json.md describes each field); format.ts
// writeJson puts `"schema_version": 1` before its keys. A change here is a change of the public
// shape: within schema_version 1 fields may only be added (docs/json.md "Compatibility").
import type { PoolId, PowerState, PriorityName } from "../../domain/types.ts";

export interface PoolJson {
  pool_id: PoolId;
  name: string;
  description: string | null;
  enabled: boolean;
  vm_count: number;
  priorities: { high: number; medium: number; low: number };
  created_at: string;
  updated_at: string;
}

export interface VmJson {
  vm_uuid: string;
  vm_name: string | null;
  pool_id: PoolId;
  priority: PriorityName;
  priority_value: number;
  vm_id: number;
  device: string;
  created_at: string;
  updated_at: string;
}

export interface DeviceJson {
  raw: string;
  pool_id: PoolId | null;
  priority: PriorityName | null;
  vm_id: number | null;
  problems: string[];
}

export interface DriftJson {
  kind: string;
  detail: string;
  fix: string;
  other_vm_uuid: string | null;
  vm_id: number | null;
}

/** What xe reports for one VM: the same shape in scan-vms, status and show-vm. */
export interface HostVmJson {
  name_label: string;
  power_state: PowerState;
  resident_on: string | null;
  on_this_host: boolean | null;
  args: string | null;
  devices: DeviceJson[];
}

export type VmStatusJson = "configured" | "drift" | "not-on-host" | "not-registered" | "unknown";

/** One VM compared between the database and the host (docs/json.md "VM state"). */
export interface VmStateJson {
  vm_uuid: string;
  status: VmStatusJson;
  registered: VmJson | null;
  host: HostVmJson | null;
  drift: DriftJson[];
  stale_since: string | null;
  /** scan-vms --deep only. */
  qemu?: QemuJson | null;
}

export interface QemuJson {
  status: string;
  dom_id: number | null;
  pid: number | null;
  devices: DeviceJson[];
  matches_xapi: boolean | null;
  matches_database: boolean | null;
  detail: string;
  fix: string | null;
}

export interface ListPoolsJson {
  pools: PoolJson[];
}

export interface ShowPoolJson {
  pool: PoolJson;
  vms: VmJson[];
}

export interface ListVmsJson {
  filter: { pool_id: PoolId | null; priority: PriorityName | null };
  /** Each VM with its pool's name and whether that pool is enabled (seed 000 step 3.7). */
  vms: (VmJson & { pool_name: string; pool_enabled: boolean })[];
}

export interface ShowVmJson {
  vm: VmStateJson;
  pool_name: string;
}

export interface StatusJson {
  host: { available: boolean; error: string | null };
  pools: (PoolJson & { vms: VmStateJson[] })[];
  unregistered: VmStateJson[] | null;
  summary: {
    pools: number;
    pools_enabled: number;
    vms_registered: number;
    vms_unregistered: number | null;
    vms_total: number | null;
    drift_items: number | null;
    stale_runs: number | null;
  };
}

export interface ScanJson {
  host: { available: boolean; error: string | null; local_host: string | null; xe_calls: number };
  pools: { pool_id: PoolId; vms: VmStateJson[] }[];
  unregistered: VmStateJson[] | null;
  drift: (DriftJson & { vm_uuid: string })[];
  /** --deep only. */
  qemu?: { proc_root: string; error: string | null };
}

export interface SettingsJson {
  settings: { key: string; value: string; default: string; is_default: boolean }[];
}

export interface HistoryJson {
  history: {
    id: number;
    at: string;
    actor: string;
    command: string;
    vm_uuid: string | null;
    pool_id: string | null;
    before: unknown;
    after: unknown;
  }[];
}

export interface DoctorJson {
  root: string | null;
  database: string;
  ok: boolean;
  summary: { ok: number; warning: number; failed: number; skipped: number };
  xe_calls: number;
  checks: {
    id: string;
    status: string;
    message: string;
    fix: string | null;
    items: { vm_uuid: string | null; message: string; fix: string | null }[];
  }[];
}

// The vocabulary of vgpu-admin (design.md §2). Pure types, no I/O.

export type PoolId = "A" | "B";
export const POOL_IDS: readonly PoolId[] = ["A", "B"];

/** Stored priority: 0 low, 1 medium, 2 high. */
export type Priority = 0 | 1 | 2;
export const PRIORITY_NAMES = ["low", "medium", "high"] as const;
export type PriorityName = typeof PRIORITY_NAMES[number];

export const VM_ID_MIN = 1;
export const VM_ID_MAX = 2147483647;

/** The three properties our vgpu-stub device carries. */
export interface VgpuConfig {
  pool: PoolId;
  priority: Priority;
  vmId: number;
}

export interface Pool {
  poolId: PoolId;
  name: string;
  description: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Vm extends VgpuConfig {
  vmUuid: string;
  vmName: string | null;
  createdAt: string;
  updatedAt: string;
}

export type PowerState = "halted" | "paused" | "running" | "suspended";

/** One guest as xe reports it (dom0 already excluded). */
export interface HostVm {
  uuid: string;
  nameLabel: string;
  powerState: PowerState;
  /** Host uuid the VM runs on; null when halted (xe prints `<not in database>`). */
  residentOn: string | null;
  /** Value of the platform key holding QEMU args (setting platform-key); null when the key is absent. */
  deviceModelArgs: string | null;
}

export interface Host {
  uuid: string;
  nameLabel: string;
}

export function priorityName(p: Priority): PriorityName {
  return PRIORITY_NAMES[p];
}

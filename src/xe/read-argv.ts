// The argv of the reads that main.ts spawns before anything else loads (src/xe/early.ts): no
// imports, so that naming them costs no module of ours before the spawn (issue 19).

/** The params every vm-list of ours asks for (client.ts). */
export const VM_LIST_PARAMS =
  "params=uuid,name-label,power-state,resident-on,is-control-domain,platform";

/** VM_LIST_PARAMS and each VM's domain id, for the QEMU check (doctor, scan-vms --deep). */
export const VM_LIST_DOMID_PARAMS = `${VM_LIST_PARAMS},dom-id`;

/** The vm-list of a whole-host scan (Xe.vmList without a filter). */
export const SCAN_VM_LIST: readonly string[] = [
  "vm-list",
  "is-control-domain=false",
  VM_LIST_PARAMS,
];

/** The vm-list of `scan-vms --deep`: the same, with the domain ids. */
export const DEEP_SCAN_VM_LIST: readonly string[] = [
  "vm-list",
  "is-control-domain=false",
  VM_LIST_DOMID_PARAMS,
];

/** The pool record with its other-config (marker and claims included). */
export const POOL_LIST_ARGV: readonly string[] = [
  "pool-list",
  "params=uuid,name-label,master,ha-enabled,other-config",
];
/** Every guest of the pool with platform args and other-config. */
export const POOL_VM_LIST_ARGV: readonly string[] = [
  "vm-list",
  "is-control-domain=false",
  "params=uuid,name-label,power-state,resident-on,is-control-domain,platform,other-config",
];
/** Every host with enabled, host-metrics-live and other-config. */
export const HOST_LIST_ARGV: readonly string[] = [
  "host-list",
  "params=uuid,name-label,enabled,host-metrics-live,other-config",
];
/** The three calls `pool status` always makes, the longest answer first (cli/early-pool.ts). */
export const POOL_STATUS_READS: readonly (readonly string[])[] = [
  POOL_VM_LIST_ARGV,
  POOL_LIST_ARGV,
  HOST_LIST_ARGV,
];

-- vgpu-admin schema v3: VMs that run with vGPU args other than the database's.
-- Written when a VM starts with stale args (the start hook repairs them for the next start)
-- or when a running VM's args are rewritten; cleared when a start finds them in sync.
CREATE TABLE stale_runs (
    vm_uuid TEXT PRIMARY KEY,
    since TEXT NOT NULL,
    reason TEXT NOT NULL
);

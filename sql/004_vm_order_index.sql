-- vgpu-admin schema v4: an index in the order VMs are listed (vGPU pool, then vm_id), so that
-- list-vms, status and show-pool read 10,000 rows without sorting them (measured in the
-- benchmark: the sort was a third of list-vms at 10,000 VMs).
CREATE INDEX idx_vm_pool_vmid ON vms(pool_id, vm_id);

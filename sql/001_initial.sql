-- vgpu-admin schema v1: the tables of seeds 001/002 (FINAL), with their exact columns and constraints.
-- Only vGPU pools A and B exist; both are created here, enabled.

CREATE TABLE pools (
    pool_id CHAR(1) PRIMARY KEY CHECK(pool_id IN ('A', 'B')),
    pool_name TEXT NOT NULL,
    description TEXT,
    enabled INTEGER DEFAULT 1 CHECK(enabled IN (0, 1)),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO pools (pool_id, pool_name, enabled) VALUES
    ('A', 'Pool A', 1),
    ('B', 'Pool B', 1);

CREATE TABLE vms (
    vm_id INTEGER NOT NULL UNIQUE,
    vm_uuid TEXT UNIQUE NOT NULL,
    vm_name TEXT,
    pool_id CHAR(1) NOT NULL DEFAULT 'A' CHECK(pool_id IN ('A', 'B')),
    priority INTEGER NOT NULL DEFAULT 1 CHECK(priority IN (0, 1, 2)),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (pool_id) REFERENCES pools(pool_id)
);

CREATE INDEX idx_vm_uuid ON vms(vm_uuid);
CREATE INDEX idx_vm_pool ON vms(pool_id);
CREATE INDEX idx_vm_priority ON vms(priority);

-- vgpu-admin schema v2: the change log and the settings the CLI and the start hook share.

-- One row per change, written in the same transaction as the change itself.
-- before_json/after_json hold the VM (or pool) as it was and as it became; NULL for none.
CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    vm_uuid TEXT,
    pool_id CHAR(1),
    before_json TEXT,
    after_json TEXT
);

CREATE INDEX idx_history_vm ON history(vm_uuid);

-- Settings the hook must see too (xapi runs it with no environment): design.md §7.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

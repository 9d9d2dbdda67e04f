-- vgpu-admin schema v5: the operation journal (design.md §5 steps 4 and 10). One row per
-- reconfiguration that touches the host: what the VM was (row, args, power state), what it is to
-- become, and the last step that completed. It is written before the first change to the host
-- and closed in the same transaction as the last database change; a row left open by a process
-- that died (kill -9, power loss) is what `vgpu-admin recover` finishes or undoes.
CREATE TABLE op_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_uuid TEXT NOT NULL,
    command TEXT NOT NULL,
    actor TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    step TEXT NOT NULL,
    original_json TEXT NOT NULL,
    target_json TEXT NOT NULL,
    closed_at TEXT,
    outcome TEXT
);
CREATE INDEX idx_op_journal_open ON op_journal(vm_uuid) WHERE closed_at IS NULL;

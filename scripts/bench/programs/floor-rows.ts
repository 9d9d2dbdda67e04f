// The rows floor of the bench (issue 19): a bare script that reads the same rows with node:sqlite
// and prints them the same way as the product, byte for byte (the bench checks it), with plain
// code: one SELECT per table, template strings, one JSON.stringify, one write.
//   list-table   list-vms                          list-json   list-vms --format=json
//   status-json  status --offline --format=json
import { DatabaseSync } from "node:sqlite";

interface VmRow {
  vm_id: number;
  vm_uuid: string;
  vm_name: string | null;
  pool_id: string;
  priority: number;
  created_at: string;
  updated_at: string;
}
interface PoolRow {
  pool_id: string;
  pool_name: string;
  description: string | null;
  enabled: number;
  created_at: string;
  updated_at: string;
}

const mode = Deno.args[0];
const db = new DatabaseSync(Deno.env.get("VGPU_DB")!, { readOnly: true });
const vms = db.prepare(
  "SELECT vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at FROM vms " +
    "ORDER BY pool_id, vm_id",
).all() as unknown as VmRow[];
const pools = db.prepare("SELECT * FROM pools ORDER BY pool_id").all() as unknown as PoolRow[];
const stale = new Map(
  (db.prepare("SELECT vm_uuid, since FROM stale_runs").all() as {
    vm_uuid: string;
    since: string;
  }[])
    .map((r) => [r.vm_uuid, r.since]),
);
const PRIO = ["low", "medium", "high"];
const poolOf = new Map(pools.map((p) => [p.pool_id, p]));
const vmJson = (v: VmRow) => ({
  vm_uuid: v.vm_uuid,
  vm_name: v.vm_name,
  pool_id: v.pool_id,
  priority: PRIO[v.priority],
  priority_value: v.priority,
  vm_id: v.vm_id,
  device: `-device vgpu-stub,pool_id=${v.pool_id},priority=${PRIO[v.priority]},vm_id=${v.vm_id}`,
  created_at: v.created_at,
  updated_at: v.updated_at,
});

let text: string;
if (mode === "list-json") {
  const doc = {
    schema_version: 1,
    filter: { pool_id: null, priority: null },
    vms: vms.map((v) => ({
      ...vmJson(v),
      pool_name: poolOf.get(v.pool_id)!.pool_name,
      pool_enabled: poolOf.get(v.pool_id)!.enabled === 1,
    })),
  };
  text = JSON.stringify(doc, null, 2) + "\n";
} else if (mode === "list-table") {
  const head = ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"];
  const rows = vms.map((v) => {
    const p = poolOf.get(v.pool_id)!;
    const pool = `${v.pool_id} (${p.pool_name}${p.enabled === 1 ? "" : ", disabled"})`;
    return [String(v.vm_id), v.vm_uuid, v.vm_name ?? "<no name>", pool, PRIO[v.priority]];
  });
  // terminal columns: one per character for printable ASCII, string-width for anything else
  const ascii = /^[\x20-\x7e]*$/;
  let width = (s: string) => s.length;
  if (rows.some((r) => r.some((c) => !ascii.test(c)))) {
    const { default: stringWidth } = await import("string-width");
    width = (s) => ascii.test(s) ? s.length : stringWidth(s);
  }
  const w = head.map((h, i) => rows.reduce((m, r) => Math.max(m, width(r[i])), h.length));
  const line = (r: string[]) =>
    "│" + r.map((c, i) => ` ${c}${" ".repeat(w[i] - width(c))} `).join("│") + "│";
  const rule = (l: string, m: string, r: string) => l + w.map((n) => "─".repeat(n + 2)).join(m) + r;
  const out = [rule("┌", "┬", "┐"), line(head), rule("├", "┼", "┤")];
  for (const r of rows) out.push(line(r));
  out.push(rule("└", "┴", "┘"), `${vms.length} VM${vms.length === 1 ? "" : "s"}`);
  text = out.join("\n") + "\n";
} else if (mode === "status-json") {
  const doc = {
    schema_version: 1,
    host: { available: false, error: null },
    pools: pools.map((p) => {
      const these = vms.filter((v) => v.pool_id === p.pool_id);
      const n = (prio: number) => these.filter((v) => v.priority === prio).length;
      return {
        pool_id: p.pool_id,
        name: p.pool_name,
        description: p.description,
        enabled: p.enabled === 1,
        vm_count: these.length,
        priorities: { high: n(2), medium: n(1), low: n(0) },
        created_at: p.created_at,
        updated_at: p.updated_at,
        vms: these.map((v) => ({
          vm_uuid: v.vm_uuid,
          status: "unknown",
          registered: vmJson(v),
          host: null,
          drift: [],
          stale_since: stale.get(v.vm_uuid) ?? null,
        })),
      };
    }),
    unregistered: null,
    summary: {
      pools: pools.length,
      pools_enabled: pools.filter((p) => p.enabled === 1).length,
      vms_registered: vms.length,
      vms_unregistered: null,
      vms_total: null,
      drift_items: null,
      stale_runs: null,
    },
  };
  text = JSON.stringify(doc, null, 2) + "\n";
} else {
  throw new Error(`unknown mode ${mode}`);
}
const bytes = new TextEncoder().encode(text);
for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));

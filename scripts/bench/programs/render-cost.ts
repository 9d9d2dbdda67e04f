// The cost of printing N rows of list-vms with the product's renderer, timed inside a fresh
// process (cold JIT, as in the CLI). Arguments: table|json|plain N. Prints the rows on stdout
// and the milliseconds on stderr.
import { renderTable } from "../../../src/cli/render/table.ts";
import { vmJson, vmLabel } from "../../../src/cli/render/vm-fields.ts";
import type { PoolId, Priority, Vm } from "../../../src/domain/types.ts";

const [format, nText] = Deno.args;
const n = Number(nText);
const names = ["low", "medium", "high"];
const vms: Vm[] = Array.from({ length: n }, (_, k) => {
  const i = k + 1;
  return {
    vmId: i,
    vmUuid: "7d1e2f00-0000-4000-8000-" + i.toString(16).padStart(12, "0"),
    vmName: "vm-" + i,
    pool: (i % 4 === 0 ? "B" : "A") as PoolId,
    priority: (i % 3) as Priority,
    createdAt: "2025-01-01 00:00:00",
    updatedAt: "2025-01-01 00:00:00",
  } as Vm;
});
// list-vms pays the table library's load at every size: load it before the clock starts.
renderTable(["x"], [["y"]], false);
const enc = new TextEncoder();
const t0 = performance.now();
let text: string;
if (format === "plain") {
  // Reference only, not the product: the same rows padded to fixed widths by hand.
  const head = ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"];
  const rows = vms.map((
    v,
  ) => [String(v.vmId), v.vmUuid, v.vmName ?? "", v.pool, names[v.priority]]);
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => "│ " + r.map((x, c) => x.padEnd(w[c])).join(" │ ") + " │";
  text = [line(head), ...rows.map(line)].join("\n") + "\n" + n + " VMs\n";
} else if (format === "json") {
  text = JSON.stringify(
    { schema_version: 1, filter: { pool_id: null, priority: null }, vms: vms.map(vmJson) },
    null,
    2,
  ) + "\n";
} else {
  const table = renderTable(
    ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"],
    vms.map((v) => [v.vmId, v.vmUuid, vmLabel(v), v.pool, names[v.priority]]),
    false,
  );
  text = table + "\n" + n + " VMs\n";
}
const buf = enc.encode(text);
let off = 0;
while (off < buf.length) off += Deno.stdout.writeSync(buf.subarray(off));
Deno.stderr.writeSync(enc.encode(String(performance.now() - t0)));

// The start hook's floor (issue 12): the work startup-hook cannot avoid, done by a bare Deno
// script: open the database, one SELECT of the VM's row, spawn the same xe once (the VM's
// device-model-args), append one line to the hook log. Argument: the VM's uuid.
import { DatabaseSync } from "node:sqlite";
const uuid = Deno.args[0];
const db = new DatabaseSync(Deno.env.get("VGPU_DB")!);
const row = db.prepare("SELECT pool_id, priority, vm_id FROM vms WHERE vm_uuid = ?").get(uuid);
db.close();
const r = await new Deno.Command(Deno.env.get("VGPU_XE") ?? "xe", {
  args: [
    "vm-param-get",
    `uuid=${uuid}`,
    "param-name=platform",
    "param-key=device-model-args",
  ],
  stdin: "null",
}).output();
const args = new TextDecoder().decode(r.stdout).trim();
Deno.writeTextFileSync(
  Deno.env.get("VGPU_LOG")!,
  `${new Date().toISOString()} vm=${uuid} floor row=${row ? "yes" : "no"} args=${args.length}\n`,
  { append: true },
);

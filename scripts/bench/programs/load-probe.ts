// The floor plus one module: where start-up goes. Arguments: the module to import (a path or a
// specifier of deno.json's import map), then an optional call to make on it:
//   table      renderTable(["x"], [["y"]], false)
import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.env.get("VGPU_DB")!);
const row = db.prepare("SELECT count(*) AS n FROM vms").get() as { n: number };
db.close();
Deno.stdout.writeSync(new TextEncoder().encode(row.n + "\n"));
const [specifier, call] = Deno.args;
const mod = await import(specifier);
if (call === "table") mod.renderTable(["x"], [["y"]], false);

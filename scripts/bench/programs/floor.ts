// The bare-Deno floor of the bench: open the database with node:sqlite, run one query, print.
// Every start-up figure is paired with a run of this (scripts/bench/scenarios.ts).
import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.env.get("VGPU_DB")!);
const row = db.prepare("SELECT count(*) AS n FROM vms").get() as { n: number };
db.close();
Deno.stdout.writeSync(new TextEncoder().encode(row.n + "\n"));

// The floor plus the node: built-ins a bundle imports statically (arguments), and the
// createRequire that esbuild's CommonJS shim calls: their share of the bundle's start-up.
import { createRequire } from "node:module";
import { DatabaseSync } from "node:sqlite";
await Promise.all(Deno.args.map((m) => import(m)));
createRequire(import.meta.url);
const db = new DatabaseSync(Deno.env.get("VGPU_DB")!);
const row = db.prepare("SELECT count(*) AS n FROM vms").get() as { n: number };
db.close();
Deno.stdout.writeSync(new TextEncoder().encode(row.n + "\n"));

// The cost of Store.listVms() (the SQL read behind list-vms), timed inside a fresh process.
// Argument: the database. Prints "<ms> <rows>" on stderr.
import { openDatabase } from "../../../src/store/open.ts";
import { Store } from "../../../src/store/store.ts";

const path = Deno.args[0];
const now = () => new Date();
const o = await openDatabase(path, { now, create: true });
const store = new Store(o.db, path, { actor: "bench", command: "list-vms" }, now);
const t0 = performance.now();
const vms = store.listVms({});
const ms = performance.now() - t0;
store.close();
Deno.stderr.writeSync(new TextEncoder().encode(ms + " " + vms.length));

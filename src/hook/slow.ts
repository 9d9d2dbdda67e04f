// The hooks' rare paths, loaded only when taken: the full database open (a database to migrate,
// or one that is not there), the verified args write (a repair) and pool mode's part. src/hook/ reaches this module
// through a specifier Deno cannot see before the run (slowPath), so a hook in sync never loads,
// nor prepares, the migration machinery or the write path (issue 19). build:portable bundles it
// as a second entry beside hook.ts (lib/hook/slow.js), sharing their chunks.
export { openDatabase } from "../store/open.ts";
export { setArgsVerified } from "../ops/xe-write.ts";
export { Xe } from "../xe/client.ts";
export { poolHookPlan } from "./pool.ts";

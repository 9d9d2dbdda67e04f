// The fault matrix for set-pool: 4 signals × 9 step boundaries (tests/fault-matrix.ts).
import { hit, type MatrixSignal, pointName, POINTS } from "./fault-matrix.ts";
import { UUID1 } from "./helpers.ts";

const SIGNALS: MatrixSignal[] = ["SIGKILL", "SIGINT", "SIGTERM", "SIGHUP"];

for (const sig of SIGNALS) {
  for (const p of POINTS) {
    Deno.test(`fault matrix: set-pool, ${sig} ${pointName(p)}: running again, row = args`, async () => {
      await hit(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"], p, sig);
    });
  }
}

// The fault matrix for set-pool: 4 signals × 9 step boundaries (tests/fault-matrix.ts).
import { hit, type MatrixSignal, pointName, POINTS } from "./fault-matrix.ts";
import { UUID1 } from "./helpers.ts";
import assert from "node:assert/strict";

const SIGNALS: MatrixSignal[] = ["SIGKILL", "SIGINT", "SIGTERM", "SIGHUP"];

for (const sig of SIGNALS) {
  for (const p of POINTS) {
    Deno.test(`fault matrix: set-pool, ${sig} ${pointName(p)}: running again, row = args`, async () => {
      await hit(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"], p, sig);
    });
  }
}

// Ctrl-\ (SIGQUIT) during the change is treated like Ctrl-C (issue 18 B8): put back, exit 131.
for (const p of POINTS.filter((p) => p.when === "during" && p.verb !== "vm-list")) {
  Deno.test(`fault matrix: set-pool, SIGQUIT ${pointName(p)}: treated like Ctrl-C`, async () => {
    const ended = await hit(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"], p, "SIGQUIT");
    assert.equal(ended, "caught", "the run finished or undid the change itself");
  });
}

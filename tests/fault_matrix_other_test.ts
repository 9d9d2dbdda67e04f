// The fault matrix for set-vm-id and update-vm: SIGKILL and SIGINT at each xe call of the
// change (tests/fault-matrix.ts); set-pool gets every signal at every boundary in its own file.
import { DURING, hit, type MatrixSignal, pointName } from "./fault-matrix.ts";
import { UUID1 } from "./helpers.ts";

const COMMANDS: string[][] = [
  ["set-vm-id", `--vm-uuid=${UUID1}`, "--vm-id=7", "--yes"],
  ["update-vm", `--vm-uuid=${UUID1}`, "--pool=B", "--priority=low", "--yes"],
];
const SIGNALS: MatrixSignal[] = ["SIGKILL", "SIGINT"];

for (const argv of COMMANDS) {
  for (const sig of SIGNALS) {
    for (const p of DURING) {
      Deno.test(`fault matrix: ${argv[0]}, ${sig} ${pointName(p)}: running again, row = args`, async () => {
        await hit(argv, p, sig);
      });
    }
  }
}

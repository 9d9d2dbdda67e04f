// The interrupted operations a view shows at its top (design.md §5 step 10): one line each, so
// that status, scan-vms and show-vm never show a VM as fine while a change of it is half done.
import { abandonedEntries, interruptedLine } from "../ops/vm-claim.ts";
import type { Store } from "../store/store.ts";
import type { Deps } from "./deps.ts";
import type { Paint } from "./render/style.ts";

export function interruptedLines(
  store: Store,
  deps: Pick<Deps, "locks">,
  c: Paint,
  vmUuid?: string,
): string[] {
  return abandonedEntries(store, deps.locks(), vmUuid).map((e) =>
    c.warn(`⚠ Interrupted: ${interruptedLine(e)}`)
  );
}

// The interrupted operations a view shows at its top (design.md §5 step 10): one line each, so
// that status, scan-vms and show-vm never show a VM as fine while a change of it is half done.
// Those views are spared the generic stderr warning (deps.ts NO_WARNING): each entry is said once,
// on stdout in a human view, on stderr beside JSON or when the view is about another VM.
import type { JournalEntry } from "../domain/journal.ts";
import { abandonedEntries, interruptedLine } from "../ops/vm-claim.ts";
import type { Store } from "../store/store.ts";
import type { Deps } from "./deps.ts";
import type { Paint } from "./render/style.ts";

export interface InterruptedView {
  /** Open entries whose process is gone. */
  entries: JournalEntry[];
  /** The lines for the top of a human view. */
  lines: string[];
}

/**
 * The abandoned entries; those the view shows (all, or only `vmUuid`'s; none in JSON) become
 * its lines, the others one stderr warning each, as every other command gives them.
 */
export function interruptedView(
  store: Store,
  deps: Pick<Deps, "locks" | "io">,
  c: Paint,
  o: { json: boolean; vmUuid?: string },
): InterruptedView {
  const entries = abandonedEntries(store, deps.locks());
  const lines: string[] = [];
  for (const e of entries) {
    if (!o.json && (o.vmUuid === undefined || e.vmUuid === o.vmUuid)) {
      lines.push(c.warn(`⚠ Interrupted: ${interruptedLine(e)}`));
    } else deps.io.err.write(`warning: ${interruptedLine(e)}\n`);
  }
  return { entries, lines };
}

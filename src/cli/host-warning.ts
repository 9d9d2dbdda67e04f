import type { Deps } from "./deps.ts";
import type { Outcome } from "./outcome.ts";

/** One warning line naming the xe problem; the command then exits 1 (design.md §3). */
export function hostWarning(deps: Deps, hostError: string | null): Outcome {
  if (hostError === null) return;
  deps.io.err.write(
    `warning: the host could not be read, only the database is shown: ${hostError}\n`,
  );
  return "degraded";
}

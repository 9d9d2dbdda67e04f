import { poolSummaries } from "../../ops/pools.ts";
import { hostError, scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { hostWarning } from "../host-warning.ts";
import { paint } from "../render/style.ts";
import { statusJson, statusLines } from "../render/status.ts";
import { interruptedView } from "../interrupted.ts";
import { fitLines } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface StatusOptions {
  offline: boolean;
  format: Format;
}

export function parseOptions(input: RawOptions): StatusOptions {
  const raw = input.pick({ offline: "flag", format: "text" });
  return { offline: raw.offline === true, format: parseFormat(raw.format) };
}

/** The control panel; when xe fails it still prints the database part, warns once, exits 1. */
export async function run(opts: StatusOptions, deps: Deps): Promise<Outcome> {
  const store = await deps.store();
  const view = await scan({
    store,
    xe: deps.xe,
    offline: opts.offline,
    localHostUuid: deps.localHost(),
  });
  const pools = poolSummaries(store);
  const c = paint(deps.io.color);
  const interrupted = interruptedView(store, deps, c, { json: opts.format === "json" });
  if (opts.format === "json") writeJson(deps.io.out, statusJson(pools, view));
  else {
    const all = function* () {
      yield* interrupted.lines;
      yield* statusLines(pools, view, c, interrupted.entries);
    };
    writeLines(deps.io.out, fitLines(all(), deps.io.columns ?? null));
  }
  return hostWarning(deps, hostError(view));
}

export const command = defineCommand({ parseOptions, run });

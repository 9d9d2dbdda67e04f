import { scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { scanJson, scanLines } from "../render/scan.ts";
import { paint } from "../render/style.ts";
import { hostWarning } from "../host-warning.ts";

export interface ScanVmsOptions {
  format: Format;
}

export function parseOptions(raw: { format?: string }): ScanVmsOptions {
  return { format: parseFormat(raw.format) };
}

export async function run(opts: ScanVmsOptions, deps: Deps): Promise<Outcome> {
  const store = await deps.store();
  const view = await scan({ store, xe: deps.xe, offline: false, localHostUuid: deps.localHost() });
  if (opts.format === "json") writeJson(deps.io.out, scanJson(view));
  else writeLines(deps.io.out, scanLines(view, store.listPools(), paint(deps.io.color)));
  return hostWarning(deps, view.hostError);
}

import type { QemuReport } from "../../ops/qemu-cmdline.ts";
import { hostError, scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { lineWriter } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { eachScanLine, scanJson } from "../render/scan.ts";
import { paint } from "../render/style.ts";
import { hostWarning } from "../host-warning.ts";
import { interruptedView } from "../interrupted.ts";
import { fitLine } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ScanVmsOptions {
  format: Format;
  /** Also compare each running VM's QEMU command line (/proc) with xapi and the database. */
  deep: boolean;
}

export function parseOptions(input: RawOptions): ScanVmsOptions {
  const raw = input.pick({ format: "text", deep: "flag" });
  return { format: parseFormat(raw.format), deep: raw.deep === true };
}

export async function run(opts: ScanVmsOptions, deps: Deps): Promise<Outcome> {
  const store = await deps.store();
  const view = await scan({
    store,
    xe: deps.xe,
    offline: false,
    localHostUuid: deps.localHost(),
    domIds: opts.deep,
  });
  let qemu: QemuReport | null = null;
  if (opts.deep && view.host.kind === "read") {
    // loaded only for --deep: a plain scan never reads /proc (issue 19, start-up)
    const { compareQemu, DEFAULT_PROC_ROOT } = await import("../../ops/qemu-cmdline.ts");
    // VGPU_PROC_ROOT points tests at a fake /proc.
    qemu = compareQemu(view, deps.env.get("VGPU_PROC_ROOT") || DEFAULT_PROC_ROOT);
  }
  const c = paint(deps.io.color);
  const interrupted = interruptedView(store, deps, c, { json: opts.format === "json" });
  if (opts.format === "json") writeJson(deps.io.out, scanJson(view, qemu));
  else {
    // each line written as it is made (fitted to a terminal's width): never all of them at once
    const out = lineWriter(deps.io.out);
    const columns = deps.io.columns ?? null;
    const emit = columns === null ? out.line : (l: string) => fitLine(l, columns).forEach(out.line);
    interrupted.lines.forEach(emit);
    eachScanLine(view, store.listPools(), c, qemu, emit);
    out.end();
  }
  const outcome = hostWarning(deps, hostError(view));
  if (qemu?.error) {
    deps.io.err.write(
      `warning: the QEMU command lines could not be compared: ${qemu.error}; ${qemu.errorFix}\n`,
    );
    return "degraded";
  }
  return outcome;
}

export const command = defineCommand({ parseOptions, run });

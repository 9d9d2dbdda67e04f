// doctor: one line per check (✓ ok, ⚠ warning, ✗ failed, - not checked) with its fix, the
// findings of a check indented below it, then one summary line; and the JSON of the same view.
import type { Check, CheckStatus, DoctorReport } from "../../ops/doctor.ts";
import type { DoctorJson } from "./json-types.ts";
import { mapped } from "../format.ts";
import type { Paint } from "./style.ts";

function mark(status: CheckStatus, c: Paint): string {
  switch (status) {
    case "ok":
      return c.ok("✓");
    case "warning":
      return c.warn("⚠");
    case "failed":
      return c.bad("✗");
    case "skipped":
      return c.dim("-");
  }
}

export function doctorCounts(r: DoctorReport): Record<CheckStatus, number> {
  const n: Record<CheckStatus, number> = { ok: 0, warning: 0, failed: 0, skipped: 0 };
  for (const ch of r.checks) n[ch.status]++;
  return n;
}

function* checkLines(ch: Check, c: Paint): Generator<string> {
  const fix = ch.fix === null ? "" : ` -> fix: ${ch.fix}`;
  yield `${mark(ch.status, c)} ${ch.id}: ${ch.message}${fix}`;
  for (const it of ch.items) {
    yield `    ${mark(ch.status, c)} ${it.message}${it.fix === null ? "" : ` -> fix: ${it.fix}`}`;
  }
}

/**
 * The report's lines, made as they are written: a check with thousands of items (every running
 * VM of a 10,000-VM host) never has all its lines at once (issue 19, peak RSS).
 */
export function* doctorLines(r: DoctorReport, c: Paint): Generator<string> {
  for (const ch of r.checks) yield* checkLines(ch, c);
  const n = doctorCounts(r);
  const parts = [`${n.ok} passed`];
  if (n.warning > 0) parts.push(`${n.warning} warning${n.warning === 1 ? "" : "s"}`);
  if (n.failed > 0) parts.push(`${n.failed} failed`);
  if (n.skipped > 0) parts.push(`${n.skipped} not checked`);
  const verdict = n.failed > 0 ? c.bad("✗ Doctor:") : c.ok("✓ Doctor:");
  yield "";
  yield `${verdict} ${parts.join(", ")}.`;
}

export function doctorJson(r: DoctorReport): DoctorJson {
  const n = doctorCounts(r);
  return {
    root: r.root,
    database: r.dbPath,
    ok: n.failed === 0,
    summary: n,
    xe_calls: r.xeCalls,
    checks: r.checks.map((ch) => ({
      id: ch.id,
      status: ch.status,
      message: ch.message,
      fix: ch.fix,
      // made as written, BATCH at a time (a check may have an item per VM of the host)
      items: mapped(ch.items, (it) => ({ vm_uuid: it.vmUuid, message: it.message, fix: it.fix })),
    })),
  };
}

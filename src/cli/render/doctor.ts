// doctor: one line per check (✓ ok, ⚠ warning, ✗ failed, - not checked) with its fix, the
// findings of a check indented below it, then one summary line; and the JSON of the same view.
import type { Check, CheckStatus, DoctorReport } from "../../ops/doctor.ts";
import type { DoctorJson } from "./json-types.ts";
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

function checkLines(ch: Check, c: Paint): string[] {
  const fix = ch.fix === null ? "" : ` -> fix: ${ch.fix}`;
  const lines = [`${mark(ch.status, c)} ${ch.id}: ${ch.message}${fix}`];
  for (const it of ch.items) {
    lines.push(
      `    ${mark(ch.status, c)} ${it.message}${it.fix === null ? "" : ` -> fix: ${it.fix}`}`,
    );
  }
  return lines;
}

export function doctorLines(r: DoctorReport, c: Paint): string[] {
  const lines = r.checks.flatMap((ch) => checkLines(ch, c));
  const n = doctorCounts(r);
  const parts = [`${n.ok} passed`];
  if (n.warning > 0) parts.push(`${n.warning} warning${n.warning === 1 ? "" : "s"}`);
  if (n.failed > 0) parts.push(`${n.failed} failed`);
  if (n.skipped > 0) parts.push(`${n.skipped} not checked`);
  const verdict = n.failed > 0 ? c.bad("✗ Doctor:") : c.ok("✓ Doctor:");
  lines.push("", `${verdict} ${parts.join(", ")}.`);
  return lines;
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
      items: ch.items.map((it) => ({ vm_uuid: it.vmUuid, message: it.message, fix: it.fix })),
    })),
  };
}

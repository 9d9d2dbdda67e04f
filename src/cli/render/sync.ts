// sync: the drift `--check` finds, the commands `--dry-run` would run, what a sync wrote and
// what it could not fix, each from a plain view the command fills from the ops' results (issue 20
// item 5: ops return a view, render prints it).
import { countsAsDrift, type DriftItem, type VmDriftState } from "../../domain/drift.ts";
import type { JournalEntry } from "../../domain/journal.ts";
import type { UuidIndex } from "../../domain/uuid-table.ts";
import { printable } from "../../domain/printable.ts";
import type { SyncFix, SyncOutcome } from "../../ops/sync.ts";
import { interruptedLine } from "../../ops/vm-claim.ts";
import { xeCommandLine } from "../../xe/client.ts";
import type { Paint } from "./style.ts";
import { vmLabel } from "./vm-fields.ts";

/** Every VM the scan saw, by uuid: where each line finds the VM's name. */
type VmStates = UuidIndex<VmDriftState>;

export type SyncView =
  /** `--check`: the drift items that count, and the operations left open by dead processes. */
  | {
    kind: "check";
    drift: readonly DriftItem[];
    interrupted: readonly JournalEntry[];
    registered: number;
    vms: VmStates;
  }
  /** `--dry-run`: the args each fix would write, and the drift sync does not repair. */
  | {
    kind: "dry-run";
    platformKey: string;
    fixes: readonly SyncFix[];
    others: readonly DriftItem[];
    vms: VmStates;
  }
  /** A sync: one result per fix, and the drift sync does not repair. */
  | {
    kind: "applied";
    results: readonly SyncOutcome[];
    others: readonly DriftItem[];
    vms: VmStates;
  };

/** `VM <uuid> (<name>)`: the registered name, else the host's name-label. */
function label(vms: VmStates, uuid: string): string {
  const s = vms.get(uuid);
  const name = s?.registered ? vmLabel(s.registered) : printable(s?.host?.nameLabel ?? "");
  return `VM ${uuid} (${name})`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The failed writes of a sync view (0 for a check or a dry run). */
export function syncFailures(view: SyncView): number {
  return view.kind === "applied" ? view.results.filter((r) => r.error !== null).length : 0;
}

/** What sync prints on stdout, one string per line. */
export function syncLines(view: SyncView, c: Paint): string[] {
  const out: string[] = [];
  const drift = (d: DriftItem, prefix = "") =>
    `${c.warn("⚠")} ${prefix}${label(view.vms, d.vmUuid)}: ${d.detail} -> fix: ${d.fix}`;
  const notFixed = (others: readonly DriftItem[]) =>
    others.filter(countsAsDrift).map((d) => drift(d, "not fixed by sync: "));
  switch (view.kind) {
    case "check": {
      for (const d of view.drift) out.push(drift(d));
      // An interrupted reconfiguration is drift too: its VM may be stopped or half-changed.
      for (const e of view.interrupted) out.push(`${c.warn("⚠")} ${interruptedLine(e)}`);
      const open = view.interrupted.length;
      if (open > 0 && view.drift.length === 0) {
        out.push(c.warn(`⚠ Drift: ${plural(open, "interrupted operation")} to recover.`));
      } else {
        out.push(
          view.drift.length === 0
            ? c.ok(`✓ In sync: ${view.registered} registered VMs match the database.`)
            : c.warn(`⚠ Drift: ${plural(view.drift.length, "problem")} found.`),
        );
      }
      return out;
    }
    case "dry-run":
      for (const f of view.fixes) {
        out.push(xeCommandLine([
          "vm-param-set",
          `uuid=${f.vm.vmUuid}`,
          `platform:${view.platformKey}=${f.argsAfter}`,
        ]));
      }
      out.push(`# ${plural(view.fixes.length, "command")}; nothing was changed (--dry-run).`);
      return [...out, ...notFixed(view.others)];
    case "applied": {
      for (const r of view.results) {
        if (r.error !== null) {
          out.push(`${c.bad("✗")} ${label(view.vms, r.fix.vm.vmUuid)}: ${r.error}`);
          continue;
        }
        const power = r.fix.host.powerState;
        out.push(
          `${c.ok("✓")} ${label(view.vms, r.fix.vm.vmUuid)}: wrote ${r.fix.argsAfter}${
            power !== "halted" ? ` (the VM is ${power}: applies at its next start)` : ""
          }`,
        );
      }
      const failed = syncFailures(view);
      out.push(
        `Synced ${plural(view.results.length - failed, "VM")}${
          failed > 0 ? `; ${failed} failed` : ""
        }.`,
      );
      // after a failure every other problem is listed, so the whole state is in one place
      if (failed > 0) return [...out, ...view.others.map((d) => drift(d))];
      return [...out, ...notFixed(view.others)];
    }
  }
}

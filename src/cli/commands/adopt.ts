import { NotFoundError, OperationFailedError } from "../../domain/errors.ts";
import { applyAdopt, applyAdoptPooled, planAdopt } from "../../ops/adopt.ts";
import { hostError, scan } from "../../ops/scan.ts";
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { adoptPlanLines, adoptQuestion, adoptResultLines, notAdopted } from "../render/adopt.ts";
import { paint } from "../render/style.ts";
import { claimVms } from "../../ops/vm-claim.ts";
import { resolveVm, type VmRef, vmRefOf } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface AdoptOptions {
  vm?: VmRef;
  yes: boolean;
}

export function parseOptions(input: RawOptions): AdoptOptions {
  const raw = input.pick({ yes: "flag" });
  return {
    vm: vmRefOf(input),
    yes: raw.yes === true,
  };
}

export async function run(opts: AdoptOptions, deps: Deps): Promise<Outcome> {
  const vmUuid = opts.vm === undefined ? undefined : await resolveVm(opts.vm, deps, "host");
  const store = await deps.store({ create: true });
  // pool mode: the pool read afresh first; each VM's ticket and vm_id claim before its row
  const bulk = await import("../../ops/pool-bulk.ts");
  const pool = await bulk.beginPoolBulk({
    store,
    xe: await deps.xe(),
    now: deps.now,
    host: deps.localHost(),
    command: deps.command,
  });
  const view = await scan({ store, xe: deps.xe, offline: false, localHostUuid: deps.localHost() });
  const host = view.host;
  if (host.kind !== "read") {
    throw new OperationFailedError(`cannot adopt: the host could not be read: ${hostError(view)}`);
  }
  if (vmUuid !== undefined) {
    const s = host.drift.byUuid.get(vmUuid);
    if (s === undefined || s.host === null) {
      throw new NotFoundError(`VM ${vmUuid} does not exist on this host (xe vm-list)`);
    }
    if (s.registered !== null) {
      throw new NotFoundError(
        `VM ${vmUuid} is already registered; see 'vgpu-admin show-vm --vm-uuid=${vmUuid}'`,
      );
    }
    if (s.parsed.stubs.length === 0) {
      throw new NotFoundError(
        `VM ${vmUuid} carries no vgpu-stub device; register it with 'vgpu-admin register-vm --vm-uuid=${vmUuid}'`,
      );
    }
  }
  const c = paint(deps.io.color);
  const plan = planAdopt(store, host, vmUuid);
  writeLines(deps.io.out, adoptPlanLines(plan, c));
  if (plan.candidates.length === 0) return plan.refused.length === 0 ? undefined : "degraded";
  claimVms(store, deps.locks(), plan.candidates.map((cand) => cand.host.uuid));
  await confirmOrCancel(adoptQuestion(plan), opts.yes, deps);
  const results = pool === null
    ? applyAdopt(store, plan.candidates)
    : await applyAdoptPooled(store, plan.candidates, pool);
  writeLines(deps.io.out, adoptResultLines(plan, results, c));
  return notAdopted(plan, results) > 0 ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

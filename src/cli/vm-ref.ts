// --vm-uuid=<uuid> or --vm=<name | uuid | unique uuid prefix> (issue 18 C14): read in the flag
// layer, resolved when the command runs (against the database, or the host's VMs for
// register-vm and adopt). An ambiguous --vm is a usage error (exit 2) listing the candidates.
import { NotFoundError, UsageError } from "../domain/errors.ts";
import { printable } from "../domain/printable.ts";
import { isUuid, parseUuid, quote } from "../domain/validate.ts";
import { matchVm, UUID_PREFIX_MIN, type VmCandidate } from "../domain/vm-ref.ts";
import type { RawOptions } from "./command.ts";
import type { Deps } from "./deps.ts";

/** A VM as the command line names it. */
export type VmRef = { kind: "uuid"; uuid: string } | { kind: "name"; text: string };

/** `--vm-uuid` or `--vm` (the parser lets through one at most), or undefined when neither. */
export function vmRefOf(input: RawOptions): VmRef | undefined {
  const vmUuid = input.text("vmUuid");
  if (vmUuid !== undefined) return { kind: "uuid", uuid: parseUuid(vmUuid) };
  const vm = input.text("vm");
  if (vm === undefined) return undefined;
  const text = vm.trim();
  if (text === "") throw new UsageError(`invalid --vm "": give a VM's name, uuid or uuid prefix`);
  if (isUuid(text.toLowerCase())) return { kind: "uuid", uuid: text.toLowerCase() };
  return { kind: "name", text };
}

/** As vmRefOf, for a command that needs a VM (the parser made sure one of the two is there). */
export function requiredVmRef(input: RawOptions): VmRef {
  const ref = vmRefOf(input);
  if (ref === undefined) throw new UsageError("give the VM: --vm-uuid or --vm");
  return ref;
}

/** The VMs a name is looked up among: registered ones, or every VM the host has. */
export type VmScope = "registered" | "host";

/** The uuid `ref` means; a name or prefix is looked up among `scope`'s VMs. */
export async function resolveVm(ref: VmRef, deps: Deps, scope: VmScope): Promise<string> {
  if (ref.kind === "uuid") return ref.uuid;
  const candidates: VmCandidate[] = scope === "registered"
    ? (await deps.store()).listVms().map((v) => ({ uuid: v.vmUuid, name: v.vmName }))
    : (await (await deps.xe()).vmList()).map((v) => ({ uuid: v.uuid, name: v.nameLabel }));
  const m = matchVm(ref.text, candidates);
  if (m.kind === "one") return m.uuid;
  const where = scope === "registered" ? "registered VM" : "VM on this host (xe vm-list)";
  if (m.kind === "none") {
    throw new NotFoundError(
      `no ${where} is named ${
        quote(ref.text)
      } or has a uuid starting with it (${UUID_PREFIX_MIN}+ characters); see 'vgpu-admin ${
        scope === "registered" ? "list-vms" : "scan-vms"
      }'`,
    );
  }
  const list = m.candidates.map((c) => `${c.uuid} (${printable(c.name ?? "<no name>")})`);
  throw new UsageError(
    `--vm=${quote(ref.text)} matches ${m.candidates.length} VMs by ${m.by}: ${
      list.join(", ")
    }; give --vm-uuid=<uuid>`,
  );
}

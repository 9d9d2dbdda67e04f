// One VM state of scan-vms/status JSON (docs/json.md "VM state") written straight to text: the
// same bytes as JSON.stringify(scanVmJson(view, s), null, 2) at that indent, with jsonSafe's
// escapes, but without building the state's objects first (issue 19: at 10,000 VMs those
// objects and their native stringify were ~40 ms and much of the garbage collection).
// tests/scan_json_text_test.ts compares the two on every kind of state.
import type { VgpuStub } from "../../domain/device-args.ts";
import type { DriftItem, VmDriftState } from "../../domain/drift.ts";
import { jsonSafe } from "../../domain/printable.ts";
import { priorityName, type Vm } from "../../domain/types.ts";
import { buildDevice } from "../../domain/device-args.ts";
import type { ScanView } from "../../ops/scan.ts";

// What jsonSafe escapes (domain/printable.ts), tested per value instead of over the whole text.
const UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

// Printable ASCII that JSON leaves as it is (no quote, no backslash): nearly every value.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string, jsonSafe'd: any text. */
function str(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  const j = JSON.stringify(s);
  return UNSAFE.test(j) ? jsonSafe(j) : j;
}

/**
 * A value that is JSON as it is between quotes: a uuid the store or the xe client validated, an
 * enum, a device string buildDevice wrote (no regex test per value: 10,000 VMs, issue 19).
 */
function known(s: string): string {
  return `"${s}"`;
}

function strOrNull(s: string | null): string {
  return s === null ? "null" : str(s);
}

function numOrNull(n: number | null | undefined): string {
  return n === null || n === undefined ? "null" : String(n);
}

/** A JSON array of items at `indent`, each item's text made at the inner indent. */
function list<T>(items: readonly T[], indent: string, item: (x: T, inner: string) => string) {
  if (items.length === 0) return "[]";
  const inner = indent + "  ";
  let out = "[";
  for (let i = 0; i < items.length; i++) {
    out += (i === 0 ? "\n" : ",\n") + inner + item(items[i], inner);
  }
  return `${out}\n${indent}]`;
}

/** A registered VM (docs/json.md "vm") at indent `i`; `more`: further members, jsonSafe'd. */
export function registeredText(vm: Vm, i: string, more = ""): string {
  const n = i + "  ";
  return `{\n${n}"vm_uuid": ${known(vm.vmUuid)},\n${n}"vm_name": ${strOrNull(vm.vmName)},\n` +
    `${n}"pool_id": ${known(vm.pool)},\n${n}"priority": ${known(priorityName(vm.priority))},\n` +
    `${n}"priority_value": ${vm.priority},\n${n}"vm_id": ${vm.vmId},\n` +
    `${n}"device": ${known(buildDevice(vm))},\n${n}"created_at": ${str(vm.createdAt)},\n` +
    `${n}"updated_at": ${str(vm.updatedAt)}${more}\n${i}}`;
}

function deviceText(st: VgpuStub, i: string): string {
  const n = i + "  ";
  const c = st.config;
  return `{\n${n}"raw": ${str(st.raw)},\n` +
    `${n}"pool_id": ${c === null ? "null" : known(c.pool)},\n` +
    `${n}"priority": ${c === null ? "null" : known(priorityName(c.priority))},\n` +
    `${n}"vm_id": ${numOrNull(c?.vmId ?? st.vmId)},\n` +
    `${n}"problems": ${list(st.problems, n, str)}\n${i}}`;
}

function driftText(d: DriftItem, i: string): string {
  const n = i + "  ";
  return `{\n${n}"kind": ${known(d.kind)},\n${n}"detail": ${str(d.detail)},\n` +
    `${n}"fix": ${str(d.fix)},\n${n}"other_vm_uuid": ${strOrNull(d.otherVmUuid ?? null)},\n` +
    `${n}"vm_id": ${numOrNull(d.vmId)}\n${i}}`;
}

function hostText(view: ScanView, s: VmDriftState, i: string): string {
  const h = s.host;
  if (h === null) return "null";
  const n = i + "  ";
  const local = view.host.kind === "read" ? view.host.localHost : null;
  const here = h.residentOn === null || local === null ? "null" : String(h.residentOn === local);
  return `{\n${n}"name_label": ${str(h.nameLabel)},\n${n}"power_state": ${known(h.powerState)},\n` +
    `${n}"resident_on": ${strOrNull(h.residentOn)},\n${n}"on_this_host": ${here},\n` +
    `${n}"args": ${strOrNull(h.deviceModelArgs)},\n` +
    `${n}"devices": ${list(s.parsed.stubs, n, deviceText)}\n${i}}`;
}

function statusOf(view: ScanView, s: VmDriftState): string {
  if (s.registered === null) return "not-registered";
  if (view.host.kind !== "read") return "unknown";
  if (s.host === null) return "not-on-host";
  return s.drift.length === 0 ? "configured" : "drift";
}

/** JSON.stringify(scanVmJson(view, s), null, 2) with every line after the first at `indent`, jsonSafe'd. */
export function vmStateText(view: ScanView, s: VmDriftState, indent: string): string {
  const n = indent + "  ";
  const since = view.staleRuns.get(s.vmUuid)?.since ?? null;
  return `{\n${n}"vm_uuid": ${known(s.vmUuid)},\n${n}"status": "${statusOf(view, s)}",\n` +
    `${n}"registered": ${s.registered === null ? "null" : registeredText(s.registered, n)},\n` +
    `${n}"host": ${hostText(view, s, n)},\n${n}"drift": ${list(s.drift, n, driftText)},\n` +
    `${n}"stale_since": ${strOrNull(since)}\n${indent}}`;
}

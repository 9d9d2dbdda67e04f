/**
 * doctor's report is written as it is made (issue 19, peak RSS at 10,000 VMs): a check with an
 * item per running VM never has all its lines, or all its JSON items, at once. The items' text is
 * asked for only when written; the bytes are the plain rendering's.
 */
import assert from "node:assert/strict";
import { writeJson } from "../src/cli/format.ts";
import { writeLines } from "../src/cli/io.ts";
import { doctorJson, doctorLines } from "../src/cli/render/doctor.ts";
import { paint } from "../src/cli/render/style.ts";
import type { CheckItem, DoctorReport } from "../src/ops/doctor.ts";

const N = 1000;

/** Items whose message counts how often it was made (as doctor's QEMU items make it when read). */
function countedReport(): { report: DoctorReport; made: () => number } {
  let made = 0;
  const item = (i: number): CheckItem => ({
    vmUuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    get message() {
      made++;
      return `VM ${i}: no process with -xen-domid ${i} in /proc`;
    },
    fix: i % 2 === 0 ? "restart the VM to apply" : null,
  });
  const report: DoctorReport = {
    root: null,
    dbPath: "/etc/vgpu/vgpu_config.db",
    xeCalls: 3,
    checks: [
      { id: "database", status: "ok", message: "readable", fix: null, items: [] },
      {
        id: "qemu",
        status: "warning",
        message: `${N} running VMs: QEMU does not run with what xapi holds`,
        fix: "restart each VM listed below",
        items: Array.from({ length: N }, (_, i) => item(i)),
      },
      { id: "xe", status: "failed", message: "unreachable", fix: "run it on dom0", items: [] },
    ],
  };
  return { report, made: () => made };
}

Deno.test("doctor's lines are made as they are written, the same lines as before", () => {
  const { report, made } = countedReport();
  const lines = doctorLines(report, paint(false));
  const it = lines[Symbol.iterator]();
  for (let k = 0; k < 5; k++) it.next();
  assert.ok(made() <= 5, `${made()} item messages made for the first 5 lines`);
  const rest = [...{ [Symbol.iterator]: () => it }];
  assert.equal(made(), N);
  const all = [...doctorLines(countedReport().report, paint(false))];
  assert.equal(all.length, 5 + rest.length);
  assert.equal(all[0], "✓ database: readable");
  assert.equal(
    all[1],
    `⚠ qemu: ${N} running VMs: QEMU does not run with what xapi holds -> fix: restart each VM listed below`,
  );
  assert.equal(
    all[2],
    "    ⚠ VM 0: no process with -xen-domid 0 in /proc -> fix: restart the VM to apply",
  );
  assert.equal(all[3], "    ⚠ VM 1: no process with -xen-domid 1 in /proc");
  assert.deepEqual(all.slice(-4), [
    `    ⚠ VM ${N - 1}: no process with -xen-domid ${N - 1} in /proc`,
    "✗ xe: unreachable -> fix: run it on dom0",
    "",
    "✗ Doctor: 1 passed, 1 warning, 1 failed.",
  ]);
});

Deno.test("writeLines of doctor's report never holds its lines: each is made when its turn comes", () => {
  const { report, made } = countedReport();
  const seen: number[] = [];
  writeLines({ write: () => void seen.push(made()) }, doctorLines(report, paint(false)));
  assert.ok(seen.length > 2, `${seen.length} writes`);
  assert.ok(seen[0] < N, `the first write came after ${seen[0]} of ${N} items were made`);
});

Deno.test("doctor --format=json makes each item as written, the same document as JSON.stringify", () => {
  const { report, made } = countedReport();
  const doc = doctorJson(report);
  assert.equal(made(), 0, "no item made before writing");
  let text = "";
  const seen: number[] = [];
  writeJson({
    write: (t) => {
      text += t;
      seen.push(made());
    },
  }, doc);
  assert.equal(made(), N);
  assert.ok(seen.some((m) => m > 0 && m < N), "items made while the document is written");
  const plain = { schema_version: 1, ...doctorJson(countedReport().report) };
  assert.equal(text, JSON.stringify(plain, null, 2) + "\n");
  const items = JSON.parse(text).checks[1].items;
  assert.equal(items.length, N);
  assert.deepEqual(items[0], {
    vm_uuid: "00000000-0000-4000-8000-000000000000",
    message: "VM 0: no process with -xen-domid 0 in /proc",
    fix: "restart the VM to apply",
  });
});

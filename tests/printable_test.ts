// Control characters from outside never reach a terminal raw (issue 18 B9): a USER holding a
// newline or an ANSI escape, a VM name-label or QEMU args from xapi with escapes, xe's stderr.
// Human views show them as \xNN (one line each); JSON keeps the exact value, with C1 characters
// escaped so that the bytes are safe to print too.
import assert from "node:assert/strict";
import { fakeHost, runInProcess, UUID1, UUID2, UUID3 } from "./helpers.ts";
import { makeVm, updateState } from "./fake-xe/state.ts";

const ESC = "\x1b";
const CSI8 = "\x9b"; // the 8-bit CSI: as dangerous as ESC [ on many terminals
const EVIL_USER = `ev${ESC}[31mil\nroot`;
const EVIL_NAME = `web${ESC}]0;pwned${ESC}\\${CSI8}2J\u202eevil`;
const EVIL_ARGS = `-vga std -name x${ESC}[2J`;

/** No raw control character (newlines between lines excepted), no bidi override, in `text`. */
function assertPrintable(text: string, what: string): void {
  // deno-lint-ignore no-control-regex
  const bad = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
    .exec(text);
  assert.equal(bad, null, `${what}: raw ${JSON.stringify(bad?.[0])} in ${JSON.stringify(text)}`);
}

function host() {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: EVIL_NAME, platform: { "device-model-args": EVIL_ARGS } }),
    makeVm({
      uuid: UUID2,
      nameLabel: `hand${ESC}[1m`,
      platform: { "device-model-args": "-device vgpu-stub,pool_id=B,priority=high,vm_id=7" },
    }),
    makeVm({ uuid: UUID3, nameLabel: `db${CSI8}\u202eevil` }),
  ]);
  return h;
}

Deno.test("history: a USER with a newline and an ANSI escape is shown escaped on one line; JSON keeps it", async () => {
  const h = host();
  const reg = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`, "--offline"], {
    env: { ...h.env, USER: EVIL_USER },
  });
  assert.equal(reg.code, 0, reg.stderr);
  const t = await runInProcess(["history"], { env: h.env });
  assert.equal(t.code, 0, t.stderr);
  assertPrintable(t.stdout, "history");
  assert.match(t.stdout, /│ ev\\x1b\[31mil\\x0aroot +│ register-vm/);
  assert.equal(t.stdout.split("\n").filter((l) => l.includes("register-vm")).length, 1);
  const j = await runInProcess(["history", "--format=json"], { env: h.env });
  assertPrintable(j.stdout.replaceAll("\n", " "), "history json");
  assert.equal(JSON.parse(j.stdout).history[0].actor, EVIL_USER);
});

Deno.test("names and args from xapi with escapes: escaped in scan-vms, status, show-vm, adopt; exact in JSON", async () => {
  const h = host();
  assert.equal((await runInProcess(["settings", "hook-strict", "off"], { env: h.env })).code, 0);
  // unregistered: the name-label as xapi gives it
  for (const argv of [["scan-vms"], ["status"]]) {
    const r = await runInProcess(argv, { env: h.env });
    assertPrintable(r.stdout + r.stderr, `${argv.join(" ")} (unregistered)`);
    assert.match(r.stdout, /web\\x1b\]0;pwned/, argv.join(" "));
    assert.match(r.stdout + r.stderr, /hand\\x1b\[1m/, argv.join(" "));
  }
  const adopt = await runInProcess(["adopt", "--yes"], { env: h.env });
  assert.equal(adopt.code, 0, adopt.stderr);
  assertPrintable(adopt.stdout + adopt.stderr, "adopt");
  assert.match(adopt.stdout, /adopted VM \S+ \(hand\\x1b\[1m\)/);
  // a name typed by nobody: stored as read (control characters become spaces), shown escaped
  // args with control characters are never written to (register-vm refuses them): database only
  const off = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`, "--offline"], {
    env: h.env,
  });
  assert.equal(off.code, 0, off.stderr);
  // the name-label is stored as read (C0 and C1 become spaces; the bidi override stays)
  const reg = await runInProcess(["register-vm", `--vm-uuid=${UUID3}`], { env: h.env });
  assert.equal(reg.code, 0, reg.stderr);
  assertPrintable(reg.stdout + reg.stderr, "register-vm");
  assert.match(reg.stdout, /\(db \\u202eevil\)/);
  for (
    const argv of [["scan-vms"], ["status"], ["show-vm", `--vm-uuid=${UUID1}`], ["list-vms"], [
      "sync",
      "--check",
    ]]
  ) {
    const r = await runInProcess(argv, { env: h.env });
    assertPrintable(r.stdout + r.stderr, argv.join(" "));
  }
  const list = await runInProcess(["list-vms"], { env: h.env });
  assert.match(list.stdout, /│ db \\u202eevil +│/);
  const show = await runInProcess(["show-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.match(show.stdout, /Name-label: +web\\x1b\]0;pwned\\x1b\\\\x9b2J\\u202eevil\n/);
  assert.match(show.stdout, /Args on VM: +-vga std -name x\\x1b\[2J/);
  const scan = await runInProcess(["scan-vms", "--format=json"], { env: h.env });
  assertPrintable(scan.stdout.replaceAll("\n", " "), "scan-vms json");
  const all = JSON.parse(scan.stdout);
  const text = JSON.stringify(all);
  assert.ok(text.includes(JSON.stringify(EVIL_ARGS).slice(1, -1)), "args exact in JSON");
});

Deno.test("errors quoting outside text (a --db path, xe's stderr) stay one escaped line", async () => {
  const h = host();
  const path = `${h.dir}/x${ESC}[31my\n/db`;
  const r = await runInProcess(["list-vms", `--db=${path}`], { env: h.env });
  assert.equal(r.code, 1);
  assertPrintable(r.stderr.slice(0, -1), "no database");
  assert.match(r.stderr, /^error: no database at \S+\/x\\x1b\[31my\\x0a\/db; /);
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-list": { mode: "fail", stderr: `Error: ${ESC}[2Jboom\nsecond line\n` } };
  });
  const x = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.equal(x.code, 1);
  assertPrintable(x.stderr.slice(0, -1), "xe error");
  assert.equal(x.stderr.split("\n").length, 2, x.stderr);
});

/**
 * doctor: a healthy --root tree on the fake host passes every check (exit 0); then each failing
 * (✗, exit 1) and warning (⚠, exit 0) path, one problem at a time. doctor itself never changes
 * the database (read-only open: no creation, no migration) or the host.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { HOOK_PATH, LOGROTATE_PATH, MARKER, renderHook } from "../src/ops/install.ts";
import {
  fakeHost,
  type FakeHostEnv,
  fileHash,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
} from "./helpers.ts";
import {
  DEFAULT_HOST_UUID,
  type FakeVm,
  makeHost,
  makeVm,
  readCallLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;
const WEB_ARGS = `-m 1024 ${dev("A", "high", 1)}`;

/** Writes <proc>/<pid>/cmdline, NUL-separated and NUL-terminated like the kernel's. */
function writeProc(proc: string, pid: number, argv: string[]): void {
  Deno.mkdirSync(`${proc}/${pid}`, { recursive: true });
  Deno.writeTextFileSync(`${proc}/${pid}/cmdline`, argv.map((a) => a + "\0").join(""));
}

/** A device-model process for `domid` started with `args` (split like the qemu wrapper does). */
function qemuArgv(domid: number, args: string): string[] {
  return [
    `qemu-dm-${domid}`,
    "-machine",
    "pc-i440fx-2.10,accel=xen",
    "-xen-domid",
    String(domid),
    ...args.split(" "),
  ];
}

interface Setup {
  h: FakeHostEnv;
  root: string;
  db: string;
  hook: string;
  logrotate: string;
  bin: string;
  proc: string;
  env: Record<string, string>;
  run(argv: string[], env?: Record<string, string>): ReturnType<typeof runInProcess>;
}

/**
 * A healthy installation under a --root tree: database, hook, logrotate, binary; "web" (UUID1)
 * running as domain 5 with its QEMU in the fake /proc, "db" (UUID2) halted; both in sync.
 */
async function healthy(o: { others?: FakeVm[]; install?: boolean } = {}): Promise<Setup> {
  const h = fakeHost([
    makeVm({
      uuid: UUID1,
      nameLabel: "web",
      powerState: "running",
      domid: 5,
      platform: { [KEY]: WEB_ARGS },
    }),
    makeVm({ uuid: UUID2, nameLabel: "db", platform: { [KEY]: dev("B", "low", 2) } }),
    ...(o.others ?? []),
  ]);
  const root = tempDir("vgpu-root-");
  const proc = `${h.dir}/proc`;
  const { VGPU_DB: _, ...hostEnv } = h.env;
  const env = { ...hostEnv, VGPU_PROC_ROOT: proc };
  const s: Setup = {
    h,
    root,
    db: `${root}/etc/vgpu/vgpu_config.db`,
    hook: `${root}${HOOK_PATH}`,
    logrotate: `${root}${LOGROTATE_PATH}`,
    bin: `${root}/usr/local/bin/vgpu-admin`,
    proc,
    env,
    run: (argv, extra = {}) => runInProcess(argv, { env: { ...env, ...extra } }),
  };
  writeProc(proc, 1, ["/sbin/init"]);
  writeProc(proc, 2, []); // a kernel thread: empty cmdline
  writeProc(proc, 4242, qemuArgv(5, WEB_ARGS));
  writeProc(proc, 4300, ["/usr/bin/some-tool", "-xen-domid", "9"]);
  Deno.mkdirSync(`${proc}/self`, { recursive: true });
  if (o.install === false) return s;
  const inst = await s.run(["install-hook", `--root=${root}`]);
  assert.equal(inst.code, 0, inst.stderr);
  Deno.mkdirSync(`${root}/usr/local/bin`, { recursive: true });
  Deno.writeTextFileSync(s.bin, "#!/bin/sh\n", { mode: 0o755 });
  Deno.chmodSync(s.bin, 0o755);
  for (
    const flags of [
      [`--vm-uuid=${UUID1}`, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1"],
      [`--vm-uuid=${UUID2}`, "--vm-name=db", "--pool=B", "--priority=low", "--vm-id=2"],
    ]
  ) {
    const r = await s.run(["register-vm", `--db=${s.db}`, "--offline", ...flags]);
    assert.equal(r.code, 0, r.stderr);
  }
  return s;
}

interface CheckJson {
  id: string;
  status: string;
  message: string;
  fix: string | null;
  items: { vm_uuid: string | null; message: string; fix: string | null }[];
}

async function doctorJson(s: Setup, extra: Record<string, string> = {}, argv: string[] = []) {
  const r = await s.run(["doctor", `--root=${s.root}`, "--format=json", ...argv], extra);
  assert.equal(r.stderr, "");
  const json = JSON.parse(r.stdout);
  const check = (id: string): CheckJson => {
    const c = json.checks.find((c: CheckJson) => c.id === id);
    assert.ok(c, `check ${id}`);
    return c;
  };
  return { code: r.code, json, check };
}

const NO_XE = { VGPU_XE: "/nonexistent/xe" };

function sql(path: string, statements: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(statements);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

// ---- all good --------------------------------------------------------------------------------

Deno.test("doctor: a healthy installation passes every check, exit 0", async () => {
  const s = await healthy();
  const r = await s.run(["doctor", `--root=${s.root}`]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0, r.stdout);
  const R = s.root;
  assert.equal(
    r.stdout,
    [
      `✓ database: ${R}/etc/vgpu/vgpu_config.db is readable`,
      "✓ schema: version 5 (current); every table, column and index is present",
      "✓ integrity: PRAGMA integrity_check: ok",
      `✓ permissions: ${R}/etc/vgpu/vgpu_config.db is 0600, ${R}/etc/vgpu is 0755`,
      "✓ settings: platform key device-model-args (default); hook-strict off; xe-timeout 30 s; shutdown-timeout 120 s",
      "✓ interrupted: no interrupted reconfiguration",
      `✓ hook: ${R}/etc/xapi.d/vm-pre-start/10-vgpu-admin is installed, executable and current; it runs /usr/local/bin/vgpu-admin`,
      `✓ hook-binary: ${R}/usr/local/bin/vgpu-admin exists and is executable`,
      `✓ logrotate: ${R}/etc/logrotate.d/vgpu-admin rotates /var/log/vgpu-vm-startup.log (vgpu-admin also caps it at 1 MiB)`,
      "✓ xe: reachable: xe host-list lists 1 host",
      "✓ drift: database and VM args agree (2 registered VMs)",
      "✓ vm-id-collisions: no vm_id is carried by two VMs",
      "✓ strict-mode: hook-strict is off (the default); nothing drifts now",
      "✓ stale-runs: no running VM has stale vGPU args",
      "✓ qemu: 1 running VM: QEMU runs with the vgpu-stub xapi holds",
      "",
      "✓ Doctor: 15 passed.",
      "",
    ].join("\n"),
  );
});

Deno.test("doctor --format=json: the documented shape", async () => {
  const s = await healthy();
  const d = await doctorJson(s);
  assert.equal(d.code, 0);
  assert.deepEqual(Object.keys(d.json), [
    "schema_version",
    "root",
    "database",
    "ok",
    "summary",
    "xe_calls",
    "checks",
  ]);
  assert.equal(d.json.schema_version, 1);
  assert.equal(d.json.root, s.root);
  assert.equal(d.json.database, s.db);
  assert.equal(d.json.ok, true);
  assert.deepEqual(d.json.summary, { ok: 15, warning: 0, failed: 0, skipped: 0 });
  // host-list, then the scan (one vm-list with the QEMU check's dom-ids: the inventory names this
  // host, where every VM runs)
  assert.equal(d.json.xe_calls, 2);
  assert.deepEqual(d.json.checks.map((c: CheckJson) => c.id), [
    "database",
    "schema",
    "integrity",
    "permissions",
    "settings",
    "interrupted",
    "hook",
    "hook-binary",
    "logrotate",
    "xe",
    "drift",
    "vm-id-collisions",
    "strict-mode",
    "stale-runs",
    "qemu",
  ]);
  for (const c of d.json.checks) {
    assert.deepEqual(Object.keys(c), ["id", "status", "message", "fix", "items"]);
    assert.equal(c.fix, null);
    assert.deepEqual(c.items, []);
  }
});

Deno.test("doctor changes nothing: no database created, none migrated, no xe write", async () => {
  const s = await healthy({ install: false });
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  assert.deepEqual([...Deno.readDirSync(s.root)], [], "nothing created under the root");

  const t = await healthy();
  sql(t.db, "PRAGMA user_version = 2");
  const before = await fileHash(t.db);
  const names = () => [...Deno.readDirSync(`${t.root}/etc/vgpu`)].map((e) => e.name).sort();
  const files = names();
  await doctorJson(t);
  assert.equal(await fileHash(t.db), before, "not migrated");
  assert.deepEqual(names().filter((n) => n.includes(".bak-")), [], "no backup taken");
  assert.deepEqual(names().filter((n) => !n.endsWith("-wal") && !n.endsWith("-shm")), files);
  const verbs = readCallLog(readStateSync(t.h.statePath)).map((c) => c.argv[0]);
  assert.ok(
    verbs.length > 0 && verbs.every((v) => v === "host-list" || v === "vm-list"),
    `${verbs}`,
  );
});

// ---- the database ----------------------------------------------------------------------------

Deno.test("doctor ✗ database: missing -> install-hook creates it", async () => {
  const s = await healthy({ install: false });
  const r = await s.run(["doctor", `--root=${s.root}`], NO_XE);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(
      `^✗ database: ${s.db} does not exist -> fix: vgpu-admin install-hook --root=${s.root} \\(creates it\\)$`,
      "m",
    ),
  );
  assert.match(r.stdout, /^- schema: not checked: the database cannot be read$/m);
  assert.match(r.stdout, /^- drift: not checked: xe is not reachable$/m);
  assert.match(r.stdout, /\n✗ Doctor: 0 passed, 4 failed, 11 not checked\.\n$/);
});

Deno.test("doctor ✗ database: --db names a missing file -> the fix carries --db", async () => {
  const s = await healthy({ install: false });
  const d = await doctorJson(s, NO_XE, ["--db=/nonexistent/dir/v.db"]);
  assert.equal(d.code, 1);
  assert.equal(
    d.check("database").fix,
    `vgpu-admin install-hook --root=${s.root} --db=/nonexistent/dir/v.db (creates it)`,
  );
});

Deno.test("doctor ✗ database: damaged", async () => {
  const s = await healthy();
  Deno.writeTextFileSync(s.db, "not a database at all ".repeat(300));
  for (const f of ["-wal", "-shm"]) {
    try {
      Deno.removeSync(s.db + f);
    } catch { /* not there */ }
  }
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  const c = d.check("database");
  assert.equal(c.status, "failed");
  assert.match(c.message, /is not an SQLite file \(file is not a database\)/);
  assert.equal(
    c.fix,
    "if it is not vgpu-admin's database (a mistyped --db), pass the right --db PATH, otherwise move it aside and restore a backup or re-import an export",
  );
  assert.equal(d.check("schema").status, "skipped");
});

Deno.test("doctor ✗ schema: an older version is reported, not migrated", async () => {
  const s = await healthy();
  sql(s.db, "PRAGMA user_version = 2");
  const d = await doctorJson(s);
  assert.equal(d.code, 1);
  const c = d.check("schema");
  assert.equal(c.status, "failed");
  assert.equal(c.message, "schema version 2, this vgpu-admin uses 5");
  assert.equal(
    c.fix,
    "vgpu-admin list-pools (any command migrates it forward, after a backup copy)",
  );
  assert.equal(d.check("drift").status, "skipped");
  assert.equal(d.check("drift").message, "not checked: the database needs attention first");
});

Deno.test("doctor ✗ schema: a newer version", async () => {
  const s = await healthy();
  sql(s.db, "PRAGMA user_version = 99");
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  assert.equal(
    d.check("schema").message,
    "schema version 99 is newer than this vgpu-admin understands (5)",
  );
  assert.equal(d.check("schema").fix, "install a newer vgpu-admin");
});

Deno.test("doctor ✗ schema: a missing index", async () => {
  const s = await healthy();
  sql(s.db, "DROP INDEX idx_vm_pool");
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  assert.equal(d.check("schema").message, "schema version 5, but index idx_vm_pool is missing");
});

Deno.test("doctor ✗ integrity: PRAGMA integrity_check finds a damaged index", async () => {
  const s = await healthy();
  sql(s.db, "PRAGMA journal_mode = DELETE");
  const db = new DatabaseSync(s.db);
  const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'idx_vm_uuid'")
    .get() as { rootpage: number };
  const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
  db.close();
  const bytes = Deno.readFileSync(s.db);
  const page = bytes.subarray((rootpage - 1) * page_size, rootpage * page_size);
  const at = new TextDecoder("latin1").decode(page).indexOf(UUID2);
  assert.ok(at > 0, "the uuid is in the index page");
  page[at] = "9".charCodeAt(0); // the index entry no longer matches its row
  Deno.writeFileSync(s.db, bytes);
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  const c = d.check("integrity");
  assert.equal(c.status, "failed");
  assert.match(c.message, /^PRAGMA integrity_check: row \d+ missing from index idx_vm_uuid/);
  assert.equal(d.check("schema").status, "ok");
});

Deno.test("doctor ✗ permissions: file not 0600, directory not 0755", async () => {
  const s = await healthy();
  Deno.chmodSync(s.db, 0o644);
  Deno.chmodSync(`${s.root}/etc/vgpu`, 0o777);
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  const c = d.check("permissions");
  assert.equal(
    c.message,
    `${s.db} has mode 0644 (0600 expected); ${s.root}/etc/vgpu has mode 0777 (0755 or stricter expected: owner rwx, no write for others)`,
  );
  assert.equal(c.fix, `chmod 0600 ${s.db} && chmod u+rwx,go-w ${s.root}/etc/vgpu`);
});

Deno.test("doctor ✓ permissions: a directory stricter than 0755 (0700, 0750) passes", async () => {
  const s = await healthy();
  for (const mode of [0o700, 0o750]) {
    Deno.chmodSync(`${s.root}/etc/vgpu`, mode);
    const d = await doctorJson(s, NO_XE);
    const c = d.check("permissions");
    assert.equal(c.status, "ok", c.message);
    assert.equal(c.message, `${s.db} is 0600, ${s.root}/etc/vgpu is 0${mode.toString(8)}`);
    assert.ok(!JSON.stringify(c).includes("chmod"), "never advises loosening it");
  }
  Deno.chmodSync(`${s.root}/etc/vgpu`, 0o755);
});

Deno.test("doctor ⚠ settings: an invalid stored value (a warning: exit 0)", async () => {
  const s = await healthy();
  sql(
    s.db,
    "INSERT INTO settings (key, value, updated_at) VALUES ('xe-timeout', 'soon', '2026-01-01 00:00:00')",
  );
  const d = await doctorJson(s);
  assert.equal(d.code, 0, "warnings do not fail doctor");
  const c = d.check("settings");
  assert.equal(c.status, "warning");
  assert.match(c.message, /xe-timeout 30 s; .*; 1 stored value is not valid$/);
  assert.equal(c.fix, "vgpu-admin settings xe-timeout --unset");
  assert.deepEqual(c.items, [{
    vm_uuid: null,
    message: 'stored xe-timeout "soon" is not valid; the default "30" is used',
    fix: "vgpu-admin settings xe-timeout --unset",
  }]);
  assert.equal(d.json.ok, true);
});

// ---- hook and logrotate ----------------------------------------------------------------------

Deno.test("doctor ✗ hook: not installed", async () => {
  const s = await healthy();
  Deno.removeSync(s.hook);
  const d = await doctorJson(s, NO_XE);
  assert.equal(d.code, 1);
  const c = d.check("hook");
  assert.equal(c.message, `${s.hook} is not installed: no VM start is checked`);
  assert.equal(c.fix, `vgpu-admin install-hook --root=${s.root}`);
  assert.equal(d.check("hook-binary").status, "skipped");
});

Deno.test("doctor ✗ hook: a foreign file", async () => {
  const s = await healthy();
  Deno.writeTextFileSync(s.hook, "#!/bin/sh\nexit 0\n");
  const d = await doctorJson(s, NO_XE);
  const c = d.check("hook");
  assert.equal(c.status, "failed");
  assert.equal(c.message, `${s.hook} was not written by vgpu-admin (it has no '${MARKER}' line)`);
  assert.equal(
    c.fix,
    `move it out of ${s.root}/etc/xapi.d/vm-pre-start/, then vgpu-admin install-hook --root=${s.root}`,
  );
});

Deno.test("doctor ✗ hook: edited or older -> reinstall for the binary and db it names", async () => {
  const s = await healthy();
  const text = renderHook("/opt/vgpu/vgpu-admin", "/srv/vgpu.db").replace("exit 1", "exit 0");
  Deno.writeTextFileSync(s.hook, text);
  const d = await doctorJson(s, NO_XE);
  const c = d.check("hook");
  assert.equal(c.status, "failed");
  assert.equal(
    c.message,
    `${s.hook} differs from what this vgpu-admin installs (an older version, or edited); it runs /opt/vgpu/vgpu-admin --db=/srv/vgpu.db`,
  );
  assert.equal(
    c.fix,
    `vgpu-admin install-hook --binary=/opt/vgpu/vgpu-admin --root=${s.root} --db=/srv/vgpu.db`,
  );
});

Deno.test("doctor ✗ hook: not executable", async () => {
  const s = await healthy();
  Deno.chmodSync(s.hook, 0o644);
  const d = await doctorJson(s, NO_XE);
  const c = d.check("hook");
  assert.equal(c.status, "failed");
  assert.equal(c.message, `${s.hook} is not executable (mode 0644): xenopsd cannot run it`);
  assert.equal(c.fix, `chmod 0755 ${s.hook}`);
});

Deno.test("doctor ✗ hook-binary: the binary the hook runs is missing or not executable", async () => {
  const s = await healthy();
  Deno.chmodSync(s.bin, 0o644);
  let d = await doctorJson(s, NO_XE);
  assert.equal(d.check("hook-binary").status, "failed");
  assert.equal(
    d.check("hook-binary").message,
    `${s.bin} is not an executable file: the hook lets every VM start unchecked`,
  );
  Deno.removeSync(s.bin);
  d = await doctorJson(s, NO_XE);
  const c = d.check("hook-binary");
  assert.equal(c.message, `${s.bin} does not exist: the hook lets every VM start unchecked`);
  assert.equal(
    c.fix,
    `install vgpu-admin at ${s.bin} (mode 0755), or point the hook at it: vgpu-admin install-hook --binary=PATH --root=${s.root}`,
  );
  assert.equal(d.check("hook").status, "ok", "the script itself is fine");
});

Deno.test("doctor --root: the hook's binary is a link followed inside the root, not here", async () => {
  const s = await healthy();
  // as the RPM lays it out: an absolute link to the runtime under /opt (of the root)
  const opt = `/opt/vgpu-admin-doctor-test-${crypto.randomUUID()}/bin/vgpu-admin`;
  Deno.removeSync(s.bin);
  Deno.symlinkSync(opt, s.bin);
  let d = await doctorJson(s, NO_XE);
  assert.equal(
    d.check("hook-binary").message,
    `${s.bin} does not exist: the hook lets every VM start unchecked`,
  );
  Deno.mkdirSync(`${s.root}${opt.slice(0, opt.lastIndexOf("/"))}`, { recursive: true });
  Deno.writeTextFileSync(`${s.root}${opt}`, "#!/bin/sh\n", { mode: 0o755 });
  Deno.chmodSync(`${s.root}${opt}`, 0o755);
  d = await doctorJson(s, NO_XE);
  assert.equal(d.check("hook-binary").status, "ok", d.check("hook-binary").message);
  // a link to a file this machine has (/bin/sh) but the root has not: missing there
  Deno.removeSync(s.bin);
  Deno.symlinkSync("/bin/sh", s.bin);
  d = await doctorJson(s, NO_XE);
  assert.equal(d.check("hook-binary").status, "failed");
});

Deno.test("doctor ⚠ hook: it uses another database than the one checked", async () => {
  const s = await healthy();
  Deno.writeTextFileSync(s.hook, renderHook("/usr/local/bin/vgpu-admin", "/srv/other.db"));
  const d = await doctorJson(s, NO_XE);
  const c = d.check("hook");
  assert.equal(c.status, "warning");
  assert.equal(
    c.message,
    `${s.hook} uses database /srv/other.db, not ${s.db} that this doctor checked`,
  );
  assert.equal(
    c.fix,
    `vgpu-admin doctor --root=${s.root} --db=/srv/other.db, or vgpu-admin install-hook --root=${s.root}`,
  );
});

Deno.test("doctor ✗ logrotate: missing; ⚠ foreign or outdated", async () => {
  const s = await healthy();
  Deno.removeSync(s.logrotate);
  let d = await doctorJson(s, NO_XE);
  assert.deepEqual(
    [d.check("logrotate").status, d.check("logrotate").message, d.check("logrotate").fix],
    ["failed", `${s.logrotate} is not installed`, `vgpu-admin install-hook --root=${s.root}`],
  );
  Deno.writeTextFileSync(s.logrotate, "/var/log/vgpu-vm-startup.log { daily }\n");
  d = await doctorJson(s, NO_XE);
  assert.equal(d.check("logrotate").status, "warning");
  assert.match(d.check("logrotate").message, /was not written by vgpu-admin; it is left as it is/);
  Deno.writeTextFileSync(s.logrotate, `${MARKER}: old\n/var/log/vgpu-vm-startup.log { daily }\n`);
  d = await doctorJson(s, NO_XE);
  assert.equal(d.check("logrotate").status, "warning");
  assert.equal(d.check("logrotate").fix, `vgpu-admin install-hook --root=${s.root}`);
});

// ---- xe and the VMs --------------------------------------------------------------------------

Deno.test("doctor ✗ xe: not reachable; the host checks are not run", async () => {
  const s = await healthy();
  const r = await s.run(["doctor", `--root=${s.root}`], NO_XE);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    /^✗ xe: xe not found at \/nonexistent\/xe: vgpu-admin must run on the XCP-ng dom0; set VGPU_XE to the path of xe -> fix: run doctor on the XCP-ng dom0, where 'xe host-list' works \(VGPU_XE names another xe\)$/m,
  );
  for (const id of ["drift", "vm-id-collisions", "strict-mode", "stale-runs", "qemu"]) {
    assert.match(r.stdout, new RegExp(`^- ${id}: not checked: xe is not reachable$`, "m"));
  }
  assert.match(r.stdout, /\n✗ Doctor: 9 passed, 1 failed, 5 not checked\.\n$/);
});

Deno.test("doctor ✗ xe: host-list fails", async () => {
  const s = await healthy();
  await updateState(s.h.statePath, (st) => {
    st.faults = { "host-list": { mode: "fail", stderr: "Error: Connection refused\n" } };
  });
  const d = await doctorJson(s);
  assert.equal(d.code, 1);
  assert.equal(d.check("xe").message, "xe host-list failed: Error: Connection refused");
});

Deno.test("doctor ✗ drift: the host's VMs cannot be read", async () => {
  const s = await healthy();
  await updateState(s.h.statePath, (st) => {
    st.faults = { "vm-list": { mode: "fail", stderr: "Error: boom\n" } };
  });
  const d = await doctorJson(s);
  assert.equal(d.code, 1);
  assert.equal(
    d.check("drift").message,
    "the host's VMs could not be read: xe vm-list failed: Error: boom",
  );
  assert.equal(d.check("qemu").status, "skipped");
});

Deno.test("doctor ✗ drift, ⚠ strict-mode off while drift exists; ✓ strict-mode when on", async () => {
  const s = await healthy();
  await updateState(s.h.statePath, (st) => {
    st.vms.find((v) => v.uuid === UUID2)!.platform[KEY] = dev("A", "low", 2);
  });
  const r = await s.run(["doctor", `--root=${s.root}`]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(
      [
        "^✗ drift: 1 problem on 1 VM -> fix: vgpu-admin sync \\(each line below gives its own fix\\)",
        `    ✗ VM ${UUID2} \\(db\\): vgpu-stub differs from the database: pool_id=A \\(database B\\) -> fix: vgpu-admin sync$`,
      ].join("\n"),
      "m",
    ),
  );
  assert.match(
    r.stdout,
    /^⚠ strict-mode: hook-strict is off while 1 drift problem exists: such a VM starts with stale vGPU args -> fix: fix each drift problem above; to refuse such starts from now on: vgpu-admin settings hook-strict on$/m,
  );
  const on = await s.run(["settings", `--db=${s.db}`, "hook-strict", "on"]);
  assert.equal(on.code, 0, on.stderr);
  const d = await doctorJson(s);
  assert.equal(d.check("strict-mode").status, "ok");
  assert.match(d.check("settings").message, /hook-strict on/);
});

Deno.test("doctor ✗ vm-id-collisions: a clone carries a registered VM's vm_id", async () => {
  const s = await healthy({
    others: [makeVm({ uuid: UUID3, nameLabel: "web-clone", platform: { [KEY]: WEB_ARGS } })],
  });
  const d = await doctorJson(s);
  assert.equal(d.code, 1);
  const c = d.check("vm-id-collisions");
  assert.equal(c.status, "failed");
  assert.equal(c.message, "1 vm_id carried by more than one VM (clones copy platform args)");
  assert.deepEqual(c.items, [{
    vm_uuid: UUID3,
    message: `VM ${UUID3} (web-clone): vm_id 1 belongs to registered VM ${UUID1} (web)`,
    fix: `vgpu-admin register-vm --vm-uuid=${UUID3} --vm-id=3`, // 1 and 2 are held
  }]);
  // sync --check counts the collision as drift: never "✓ agree" beside it (issue 18 C10)
  assert.equal(d.check("drift").status, "failed");
  assert.equal(d.check("drift").message, "1 problem: the vm_id collision below");
});

/** The one human time format: local time with its zone offset, no milliseconds. */
const HUMAN_TIME = String.raw`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}`;

Deno.test("doctor ⚠ stale-runs: a running VM registered with new args (exit 0)", async () => {
  const s = await healthy({
    others: [
      makeVm({
        uuid: UUID3,
        nameLabel: "batch",
        powerState: "running",
        domid: 7,
        platform: { [KEY]: "-usb" },
      }),
    ],
  });
  writeProc(s.proc, 5000, qemuArgv(7, "-usb"));
  const reg = await s.run(["register-vm", `--db=${s.db}`, `--vm-uuid=${UUID3}`, "--pool=B"]);
  assert.equal(reg.code, 0, reg.stderr);
  const d = await doctorJson(s);
  assert.equal(
    d.code,
    0,
    JSON.stringify(d.json.checks.filter((c: CheckJson) => c.status !== "ok")),
  );
  const c = d.check("stale-runs");
  assert.equal(c.status, "warning");
  assert.equal(c.message, "1 VM runs with stale vGPU args");
  assert.equal(c.items.length, 1);
  assert.match(
    c.items[0].message,
    new RegExp(
      `^VM ${UUID3} \\(batch\\): running with stale vGPU args since ${HUMAN_TIME} \\(.+\\)$`,
    ),
  );
  assert.equal(c.items[0].fix, "restart the VM to apply");
  // the three-way check sees the same VM: QEMU has no vgpu-stub, xapi and the database do
  const q = d.check("qemu");
  assert.equal(q.status, "warning");
  assert.deepEqual(q.items, [{
    vm_uuid: UUID3,
    message: `VM ${UUID3} (batch): QEMU (pid 5000) runs no vgpu-stub device; differs from xapi`,
    fix: "restart the VM to apply",
  }]);
});

Deno.test("doctor ⚠ qemu: QEMU runs other args than xapi holds; restart to apply", async () => {
  const s = await healthy();
  writeProc(s.proc, 4242, qemuArgv(5, `-m 1024 ${dev("A", "low", 1)}`));
  const r = await s.run(["doctor", `--root=${s.root}`]);
  assert.equal(r.code, 0, "a pending restart is a warning");
  assert.match(
    r.stdout,
    new RegExp(
      [
        "^⚠ qemu: 1 running VM: QEMU does not run with what xapi holds -> fix: restart each VM listed below \\(after 'vgpu-admin sync' where it says so\\)",
        `    ⚠ VM ${UUID1} \\(web\\): QEMU \\(pid 4242\\) runs -device vgpu-stub,pool_id=A,priority=low,vm_id=1; differs from xapi -> fix: restart the VM to apply$`,
      ].join("\n"),
      "m",
    ),
  );
  assert.match(r.stdout, /\n✓ Doctor: 14 passed, 1 warning\.\n$/);
});

Deno.test("doctor ⚠ qemu: no device-model process for the VM's domain", async () => {
  const s = await healthy();
  Deno.removeSync(`${s.proc}/4242`, { recursive: true });
  const d = await doctorJson(s);
  const c = d.check("qemu");
  assert.equal(c.status, "warning");
  assert.deepEqual(c.items, [{
    vm_uuid: UUID1,
    message: `VM ${UUID1} (web): no process with -xen-domid 5 in ${s.proc}`,
    fix: null,
  }]);
});

Deno.test("doctor ⚠ qemu: /proc cannot be read", async () => {
  const s = await healthy();
  const d = await doctorJson(s, { VGPU_PROC_ROOT: `${s.proc}/missing` });
  assert.equal(d.code, 0);
  const c = d.check("qemu");
  assert.equal(c.status, "warning");
  assert.match(
    c.message,
    /^the QEMU command lines could not be compared: cannot read .*\/missing: /,
  );
  assert.equal(c.fix, "unset VGPU_PROC_ROOT, or point it at a readable /proc tree");
});

Deno.test("doctor: a VM running on another host of the pool is not compared", async () => {
  const other = makeHost({ uuid: "0b1e7c3a-1111-4a5b-8c9d-000000000002", nameLabel: "h2" });
  const s = await healthy();
  await updateState(s.h.statePath, (st) => {
    st.hosts.push(other);
    st.vms.find((v) => v.uuid === UUID1)!.residentOn = other.uuid;
  });
  Deno.removeSync(`${s.proc}/4242`, { recursive: true });
  const d = await doctorJson(s);
  assert.equal(d.code, 0);
  assert.equal(d.check("qemu").status, "ok");
  assert.equal(
    d.check("qemu").message,
    "no running VM on this host carries a vgpu-stub to compare",
  );
  assert.equal(DEFAULT_HOST_UUID !== other.uuid, true);
});

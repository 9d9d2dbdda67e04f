/**
 * install-hook / uninstall-hook under --root temp trees: what is written (content, modes, the
 * VGPU_ADMIN / VGPU_DB_PATH lines), idempotence, the marker rule for replacing and removing,
 * usage errors, and the installed script run the way xenopsd runs it.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_BINARY,
  hasMarker,
  HOOK_PATH,
  HOOK_PATHS,
  LOGROTATE_PATH,
  MARKER,
  readHookSettings,
  renderHook,
  renderLogrotate,
} from "../src/ops/install.ts";
import {
  fakeHost,
  fileHash,
  ROOT,
  runCli,
  runInProcess,
  tempDir,
  UUID1,
  writeCliWrapper,
} from "./helpers.ts";
import { HOOK_PATH as XENOPSD_PATH, makeVm } from "./fake-xe/state.ts";

const SOURCE_HOOK = `${ROOT}/hooks/vm-pre-start/10-vgpu-admin`;
const VERSION: string = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version;
const DEVICE = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";

type Run = Awaited<ReturnType<typeof runInProcess>>;

/** A root tree and a runner with no VGPU_DB (the database defaults to <root>/etc/vgpu/...). */
function rootTree(extraEnv: Record<string, string> = {}) {
  const root = tempDir("vgpu-root-");
  const run = (argv: string[]): Promise<Run> =>
    runInProcess(argv, { env: { VGPU_XE: "/nonexistent/xe", ...extraEnv } });
  return {
    root,
    hook: `${root}${HOOK_PATH}`,
    /** The four hooks (vm-pre-start first). */
    hooks: HOOK_PATHS.map((h) => ({ event: h.event, path: `${root}${h.path}` })),
    logrotate: `${root}${LOGROTATE_PATH}`,
    db: `${root}/etc/vgpu/vgpu_config.db`,
    run,
  };
}

function mode(path: string): string {
  return `0${(Deno.statSync(path).mode! & 0o777).toString(8)}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function writeExecutable(path: string): void {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  Deno.writeTextFileSync(path, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
}

// ---- the embedded content ------------------------------------------------------------------

Deno.test("the embedded hook is the source script; defaults render it unchanged", () => {
  const source = Deno.readTextFileSync(SOURCE_HOOK);
  assert.equal(renderHook(DEFAULT_BINARY, null), source);
  assert.equal(renderHook(DEFAULT_BINARY, "/etc/vgpu/vgpu_config.db"), source);
  assert.ok(hasMarker(source), "the script carries the marker line");
  assert.equal(source.match(/^VGPU_ADMIN=/gm)?.length, 1);
  assert.equal(source.match(/^VGPU_DB_PATH=/gm)?.length, 1);
  assert.ok(hasMarker(renderLogrotate()));
  assert.match(renderLogrotate(), /^\/var\/log\/vgpu-vm-startup\.log \{$/m);
});

Deno.test("renderHook quotes odd paths; readHookSettings reads them back", () => {
  const cases: [string, string | null][] = [
    ["/usr/local/bin/vgpu-admin", null],
    ["/opt/vgpu admin/bin/vgpu-admin", "/srv/it's here/v.db"],
    ["/opt/$HOME/`x`/vgpu-admin", '/srv/"q"/v.db'],
    ["/opt/vgpu/vgpu-admin", "/srv/vgpu/config.db"],
  ];
  for (const [binary, db] of cases) {
    const text = renderHook(binary, db);
    assert.deepEqual(readHookSettings(text), { binary, dbPath: db, event: "vm-pre-start" }, text);
  }
  const text = renderHook("/opt/vgpu/vgpu-admin", "/srv/vgpu/config.db");
  assert.match(text, /^VGPU_ADMIN=\/opt\/vgpu\/vgpu-admin$/m);
  assert.match(text, /^VGPU_DB_PATH="\/srv\/vgpu\/config\.db"$/m);
  assert.deepEqual(readHookSettings("VGPU_ADMIN=$(evil)\n"), {
    binary: null,
    dbPath: null,
    event: null,
  });
  assert.ok(!hasMarker("#!/bin/sh\n# my own hook\n"));
});

// ---- install-hook --------------------------------------------------------------------------

Deno.test("install-hook --root: database, hook 0755, logrotate 0644, one line per file", async () => {
  const t = rootTree();
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `✓ database ${t.db}: created (schema version 5)`,
      ...t.hooks.map((h) =>
        `✓ hook ${h.path}: installed (mode 0755; runs /usr/local/bin/vgpu-admin)`
      ),
      `✓ logrotate ${t.logrotate}: installed (mode 0644)`,
      "",
    ].join("\n"),
  );
  assert.equal(
    r.stderr,
    `warning: ${t.root}/usr/local/bin/vgpu-admin does not exist yet: until it is, the hook lets every VM start unchecked (install the rpm, or copy the single file vgpu-admin-${VERSION}-linux-x64 there, mode 0755)\n`,
  );
  assert.equal(Deno.readTextFileSync(t.hook), Deno.readTextFileSync(SOURCE_HOOK));
  for (const h of t.hooks) {
    assert.equal(Deno.readTextFileSync(h.path), renderHook(DEFAULT_BINARY, null, h.event));
    assert.match(Deno.readTextFileSync(h.path), new RegExp(`^VGPU_HOOK=${h.event}$`, "m"));
    assert.equal(mode(h.path), "0755");
  }
  assert.equal(Deno.readTextFileSync(t.logrotate), renderLogrotate());
  assert.equal(mode(t.logrotate), "0644");
  assert.equal(mode(t.db), "0600");
  assert.equal(mode(`${t.root}/etc/vgpu`), "0755");
  // no temporary file is left anywhere, least of all in vm-pre-start/ (xenopsd runs every file)
  assert.deepEqual([...Deno.readDirSync(`${t.root}/etc/xapi.d/vm-pre-start`)].map((e) => e.name), [
    "10-vgpu-admin",
  ]);
  assert.deepEqual(
    [...Deno.readDirSync(`${t.root}/etc/xapi.d`)].map((e) => e.name).sort(),
    ["vm-post-migrate", "vm-pre-migrate", "vm-pre-resume", "vm-pre-start"],
  );
  assert.deepEqual(
    [...Deno.readDirSync(`${t.root}/etc`)].map((e) => e.name).sort(),
    ["logrotate.d", "vgpu", "xapi.d"],
  );
});

Deno.test("install-hook --root: the binary's links are followed inside the root", async () => {
  const t = rootTree();
  const bin = `${t.root}/usr/local/bin/vgpu-admin`;
  const warning = (state: string) =>
    `warning: ${bin} ${state}: until it is, the hook lets every VM start unchecked (install the rpm, or copy the single file vgpu-admin-${VERSION}-linux-x64 there, mode 0755)\n`;
  Deno.mkdirSync(`${t.root}/usr/local/bin`, { recursive: true });
  // an absolute link (as the RPM makes it) whose target exists in the root only: no warning
  const opt = `/opt/vgpu-admin-install-test-${crypto.randomUUID()}`;
  writeExecutable(`${t.root}${opt}/bin/vgpu-admin`);
  Deno.symlinkSync(`${opt}/bin/vgpu-admin`, bin);
  let r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  // through a linked directory, relative, climbing above the root (which stays the root)
  Deno.removeSync(bin);
  Deno.symlinkSync(opt, `${t.root}/opt/current`);
  Deno.symlinkSync("../../../../../../opt/current/bin/vgpu-admin", bin);
  r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  // a target this machine has but the root has not: missing, for the host that boots the root
  Deno.removeSync(bin);
  Deno.symlinkSync("/bin/sh", bin);
  r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.deepEqual([r.code, r.stderr], [0, warning("does not exist yet")]);
  // a loop of links is no executable file
  Deno.removeSync(bin);
  Deno.symlinkSync("/usr/local/bin/vgpu-admin", bin);
  r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.deepEqual([r.code, r.stderr], [0, warning("is not an executable file")]);
});

Deno.test("install-hook a second time: already installed, up to date, nothing rewritten", async () => {
  const t = rootTree();
  writeExecutable(`${t.root}/usr/local/bin/vgpu-admin`);
  assert.equal((await t.run(["install-hook", `--root=${t.root}`])).code, 0);
  const before = [await fileHash(t.hook), await fileHash(t.logrotate)];
  const mtimes = [Deno.statSync(t.hook).mtime, Deno.statSync(t.logrotate).mtime];
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `✓ database ${t.db}: already present (schema version 5)`,
      ...t.hooks.map((h) => `✓ hook ${h.path}: already installed, up to date`),
      `✓ logrotate ${t.logrotate}: already installed, up to date`,
      "",
    ].join("\n"),
  );
  assert.equal(r.stderr, "", "the binary exists: no warning");
  assert.deepEqual([await fileHash(t.hook), await fileHash(t.logrotate)], before);
  assert.deepEqual([Deno.statSync(t.hook).mtime, Deno.statSync(t.logrotate).mtime], mtimes);
});

Deno.test("install-hook --binary and --db: written into the hook; the db is created there", async () => {
  const t = rootTree();
  const db = `${t.root}/data/vgpu config.db`;
  const r = await t.run([
    "install-hook",
    `--root=${t.root}`,
    "--binary=/opt/vgpu/bin/vgpu-admin",
    `--db=${db}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`runs /opt/vgpu/bin/vgpu-admin --db=${db}\\)`));
  const text = Deno.readTextFileSync(t.hook);
  assert.deepEqual(readHookSettings(text), {
    binary: "/opt/vgpu/bin/vgpu-admin",
    dbPath: db,
    event: "vm-pre-start",
  });
  assert.equal(text, renderHook("/opt/vgpu/bin/vgpu-admin", db));
  assert.ok(exists(db), "the database named by --db is created");
  assert.ok(!exists(t.db), "not the default one");
  assert.match(r.stderr, /\/opt\/vgpu\/bin\/vgpu-admin does not exist yet/);
});

Deno.test("install-hook with VGPU_DB at the default path writes VGPU_DB_PATH empty", async () => {
  const t = rootTree();
  const r = await t.run(["install-hook", `--root=${t.root}`, "--db=/etc/vgpu/vgpu_config.db"]);
  assert.equal(r.code, 0, r.stderr);
  // under --root the default database lives under the root
  assert.ok(exists(t.db));
  assert.match(Deno.readTextFileSync(t.hook), /^VGPU_DB_PATH=""$/m);
});

Deno.test("install-hook: usage errors (exit 2), nothing written", async () => {
  for (
    const [argv, message] of [
      [["--binary=vgpu-admin"], /invalid --binary "vgpu-admin": give the absolute path/],
      [["--binary=bin/vgpu-admin"], /invalid --binary/],
      [["--binary=/usr/local/bin/"], /invalid --binary/],
      [["--binary=/usr/bin/x\ny"], /control characters are not allowed/],
      [["--root="], /invalid --root ""/],
      [["--db=relative.db"], /install-hook needs an absolute database path, not "relative\.db"/],
    ] as const
  ) {
    const t = rootTree();
    // Each option once (given twice is a usage error of its own): --root= replaces the tree's.
    const root = argv.some((a) => a.startsWith("--root=")) ? [] : [`--root=${t.root}`];
    const r = await t.run(["install-hook", ...root, ...argv]);
    assert.equal(r.code, 2, `${argv}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
    assert.deepEqual([...Deno.readDirSync(t.root)], [], `${argv}: nothing created`);
  }
});

Deno.test("install-hook refuses a foreign file at the hook path; nothing changes", async () => {
  const t = rootTree();
  Deno.mkdirSync(`${t.root}/etc/xapi.d/vm-pre-start`, { recursive: true });
  Deno.writeTextFileSync(t.hook, "#!/bin/sh\n# someone else's hook\nexit 0\n", { mode: 0o755 });
  const before = await fileHash(t.hook);
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    `error: ${t.hook} exists and was not written by vgpu-admin (it has no '${MARKER}' line); move it out of ${t.root}/etc/xapi.d/vm-pre-start/ (xenopsd runs every file there), then run 'vgpu-admin install-hook' again\n`,
  );
  assert.equal(await fileHash(t.hook), before);
  assert.ok(!exists(t.logrotate), "nothing else written");
  assert.ok(!exists(t.db), "no database created");
});

Deno.test("install-hook refuses a foreign logrotate file too", async () => {
  const t = rootTree();
  Deno.mkdirSync(`${t.root}/etc/logrotate.d`, { recursive: true });
  Deno.writeTextFileSync(t.logrotate, "/var/log/other.log { weekly }\n");
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /logrotate\.d\/vgpu-admin exists and was not written by vgpu-admin/);
  assert.match(r.stderr, /move it aside/);
  assert.ok(!exists(t.hook));
});

Deno.test("install-hook replaces an older hook of ours and restores a lost mode", async () => {
  const t = rootTree();
  assert.equal((await t.run(["install-hook", `--root=${t.root}`])).code, 0);
  // an older version: ours (marker), other content
  Deno.writeTextFileSync(t.hook, `#!/bin/sh\n${MARKER}: old\nVGPU_ADMIN=/old\nexit 0\n`);
  Deno.chmodSync(t.logrotate, 0o600);
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `✓ hook ${t.hook}: updated, an older version was replaced \\(mode 0755; runs /usr/local/bin/vgpu-admin\\)`,
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(`✓ logrotate ${t.logrotate}: already installed, mode 0644 restored`),
  );
  assert.equal(Deno.readTextFileSync(t.hook), Deno.readTextFileSync(SOURCE_HOOK));
  assert.equal(mode(t.hook), "0755");
  assert.equal(mode(t.logrotate), "0644");
});

Deno.test("install-hook: a damaged database stops it before any file is written", async () => {
  const t = rootTree();
  Deno.mkdirSync(`${t.root}/etc/vgpu`, { recursive: true });
  Deno.writeTextFileSync(t.db, "this is not a database ".repeat(200));
  const r = await t.run(["install-hook", `--root=${t.root}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not an SQLite file \(file is not a database\)/);
  assert.ok(!exists(t.hook));
  assert.ok(!exists(t.logrotate));
});

// ---- uninstall-hook ------------------------------------------------------------------------

Deno.test("uninstall-hook removes what install-hook wrote, keeps the database; idempotent", async () => {
  const t = rootTree();
  assert.equal((await t.run(["install-hook", `--root=${t.root}`])).code, 0);
  const db = await fileHash(t.db);
  const r = await t.run(["uninstall-hook", `--root=${t.root}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      ...t.hooks.map((h) => `✓ hook ${h.path}: removed`),
      `✓ logrotate ${t.logrotate}: removed`,
      `The database ${t.db} is kept (remove it by hand if it is no longer needed).`,
      "",
    ].join("\n"),
  );
  for (const h of t.hooks) assert.ok(!exists(h.path), h.path);
  assert.ok(!exists(t.logrotate));
  assert.equal(await fileHash(t.db), db);
  const again = await t.run(["uninstall-hook", `--root=${t.root}`]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(
    again.stdout,
    [
      ...t.hooks.map((h) => `✓ hook ${h.path}: not installed, nothing to remove`),
      `✓ logrotate ${t.logrotate}: not installed, nothing to remove`,
      `The database ${t.db} is kept (remove it by hand if it is no longer needed).`,
      "",
    ].join("\n"),
  );
});

Deno.test("uninstall-hook leaves a foreign file in place and exits 1", async () => {
  const t = rootTree();
  assert.equal((await t.run(["install-hook", `--root=${t.root}`])).code, 0);
  Deno.writeTextFileSync(t.hook, "#!/bin/sh\nexit 0\n");
  const r = await t.run(["uninstall-hook", `--root=${t.root}`]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(
      `⚠ hook ${t.hook}: left in place: not written by vgpu-admin \\(no '${MARKER}' line\\); remove it by hand if it is not needed`,
    ),
  );
  assert.match(r.stdout, new RegExp(`✓ logrotate ${t.logrotate}: removed`));
  assert.ok(exists(t.hook));
});

// ---- the installed script, run as xenopsd runs it ------------------------------------------

Deno.test("the installed hook runs the --binary with --db, PATH only, and exits 0", async () => {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", platform: { "device-model-args": DEVICE } }),
  ]);
  const t = rootTree();
  // A binary path with a space: the script must quote it.
  const binary = `${t.root}/opt/vgpu admin/vgpu-admin`;
  Deno.mkdirSync(`${t.root}/opt/vgpu admin`, { recursive: true });
  const { VGPU_DB: _db, ...hostEnv } = h.env;
  writeCliWrapper(binary, hostEnv);
  const reg = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--priority=high", "--offline"],
    { env: h.env },
  );
  assert.equal(reg.code, 0, reg.stderr);
  const r = await t.run([
    "install-hook",
    `--binary=${binary}`,
    `--root=${t.root}`,
    `--db=${h.dbPath}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  // (stderr warns that <root><binary> is missing: the hook here runs on the real root)
  const run = await new Deno.Command("/bin/sh", {
    args: [t.hook, "-vmuuid", UUID1, "-reason", "none", "-vmdomid", "3"],
    clearEnv: true,
    env: { PATH: XENOPSD_PATH },
    cwd: "/",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, err);
  const log = Deno.readTextFileSync(h.logPath);
  assert.match(log, new RegExp(`${UUID1}.*in-sync`));
});

Deno.test("install-hook, doctor, uninstall-hook as a subprocess with the product's permissions", async () => {
  const root = tempDir("vgpu-root-");
  const env = { VGPU_XE: "/nonexistent/xe" };
  const inst = await runCli(["install-hook", `--root=${root}`], { env });
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(inst.stdout, /: installed \(mode 0755; runs \/usr\/local\/bin\/vgpu-admin\)\n/);
  const doc = await runCli(["doctor", `--root=${root}`, "--format=json"], { env });
  assert.equal(doc.code, 1, "xe is missing here");
  const ids = JSON.parse(doc.stdout).checks.filter((c: { status: string }) => c.status === "failed")
    .map((c: { id: string }) => c.id);
  assert.deepEqual(ids, ["hook-binary", "xe"]);
  const un = await runCli(["uninstall-hook", `--root=${root}`], { env });
  assert.equal(un.code, 0, un.stderr);
  assert.ok(!exists(`${root}${HOOK_PATH}`));
});

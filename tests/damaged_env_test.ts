/**
 * A damaged environment (issue 4): a corrupt, truncated, read-only, newer or hand-edited
 * database, a database directory that is read-only, missing or not creatable, and an `xe` that
 * is missing, not executable, hanging, failing or printing garbage. Each gives one error line
 * naming the problem and what to do, exit 1, and changes nothing (the database file's bytes and
 * the fake host's state are compared); `status`, `scan-vms` and `show-vm` show the database
 * part, then one warning line, and exit 1 (design.md §3).
 *
 * Tests run as root, which ignores file modes: the read-only cases run vgpu-admin as root
 * WITHOUT CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv --bounding-set), which makes the kernel
 * apply the modes again. Where setpriv cannot do that, those cases are ignored, saying why.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  cliCommand,
  cliEnv,
  type CliResult,
  fakeHost,
  type FakeHostEnv,
  fileHash,
  runCli,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
} from "./helpers.ts";
import { type FakeFault, makeVm, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const DEVICE = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";

// ---- helpers -------------------------------------------------------------------------------

/** A populated database file (UUID1 "web" in A, high, id 1) in a fresh directory. */
async function populatedDb(): Promise<{ dir: string; path: string }> {
  const dir = tempDir("vgpu-damaged-");
  const path = `${dir}/vgpu_config.db`;
  const r = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=web", "--priority=high", "--offline"],
    { env: { VGPU_DB: path } },
  );
  assert.equal(r.code, 0, r.stderr);
  return { dir, path };
}

function sql(path: string, statements: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(statements);
  } finally {
    db.close();
  }
}

/** Overwrites `bytes.length` bytes of `path` at `offset` with `bytes`. */
function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  const f = Deno.openSync(path, { read: true, write: true });
  try {
    f.seekSync(offset, Deno.SeekMode.Start);
    f.writeSync(bytes);
  } finally {
    f.close();
  }
}

const pattern = (n: number, byte: number) => new Uint8Array(n).fill(byte);

/** Names and hashes of every file in `dir`: a -wal or -shm left behind counts as a change. */
async function dirState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) out[e.name] = await fileHash(`${dir}/${e.name}`);
  }
  return out;
}

const SETPRIV = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"];

/** Whether root without the DAC capabilities is refused a 0400 file here (null) or why not. */
const NO_DAC_PROBLEM: string | null = (() => {
  const dir = Deno.makeTempDirSync({ prefix: "vgpu-dac-probe-" });
  try {
    const f = `${dir}/ro`;
    Deno.writeTextFileSync(f, "x", { mode: 0o400 });
    Deno.chmodSync(f, 0o400);
    if (Deno.uid() !== 0) return null; // not root: file modes already apply
    const out = new Deno.Command(SETPRIV[0], {
      args: [...SETPRIV.slice(1), "/bin/sh", "-c", `echo y >> '${f}'`],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.code !== 0 ? null : "setpriv could not drop CAP_DAC_OVERRIDE: root ignores modes";
  } catch (e) {
    return `setpriv is unavailable (${e instanceof Error ? e.message : e}): root ignores modes`;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
})();

/** Runs vgpu-admin as a subprocess as root without the DAC capabilities (modes apply). */
async function runNoDac(args: string[]): Promise<CliResult> {
  const pre = Deno.uid() === 0 ? SETPRIV : [];
  const [cmd, ...rest] = [...pre, ...cliCommand()];
  const out = await new Deno.Command(cmd, {
    args: [...rest, ...args],
    clearEnv: true,
    env: cliEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertOneErrorLine(what: string, r: CliResult, err: RegExp): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: nothing on stdout`);
  assert.ok(r.stderr.endsWith("\n") && r.stderr.indexOf("\n") === r.stderr.length - 1, what);
  assert.match(r.stderr.slice(0, -1), err, what);
}

// ---- the database --------------------------------------------------------------------------

/** Commands run against each damaged database: reads, writes, and the start hook. */
const DB_COMMANDS: { argv: string[]; writes: boolean }[] = [
  { argv: ["list-vms"], writes: false },
  { argv: ["status", "--offline"], writes: false },
  { argv: ["show-vm", `--vm-uuid=${UUID1}`, "--offline"], writes: false },
  {
    argv: ["register-vm", `--vm-uuid=${UUID2}`, "--vm-name=new", "--offline"],
    writes: true,
  },
  { argv: ["set-pool-name", "--pool-id=A", "--name=Renamed"], writes: true },
  { argv: ["remove-vm", `--vm-uuid=${UUID1}`, "--offline", "--yes"], writes: true },
  { argv: ["settings", "xe-timeout", "5"], writes: true },
  // Fails on the database before any xe call; the hook never exits 2 for it.
  { argv: ["startup-hook", `--vm-uuid=${UUID1}`], writes: false },
];

const DAMAGED = (p: string) =>
  new RegExp(
    `^error: database ${p} is damaged \\(.+\\); move it aside and restore a backup or re-import an export$`,
  );
/** A file that is not SQLite at all: a damaged database, or a mistyped --db (never "move it aside" alone). */
const NOT_SQLITE = (p: string) =>
  new RegExp(
    `^error: database ${p} is not an SQLite file \\(file is not a database\\); if it is not vgpu-admin's database \\(a mistyped --db\\), pass the right --db PATH, otherwise move it aside and restore a backup or re-import an export$`,
  );
const SCHEMA = (p: string, problem: string) =>
  new RegExp(
    `^error: database ${p} has a damaged schema \\(${problem}\\); restore it from a backup, or move it aside and re-import an export$`,
  );

interface DbCase {
  name: string;
  /** Damages the populated database at `path`; returns the path to use (default `path`). */
  damage(path: string, dir: string): string | void;
  err(path: string, dir: string): RegExp;
}

const DB_CASES: DbCase[] = [
  {
    name: "header overwritten",
    damage: (p) => overwrite(p, 0, pattern(100, 0x5a)),
    err: NOT_SQLITE,
  },
  {
    name: "first page overwritten after the header",
    damage: (p) => overwrite(p, 100, pattern(3996, 0xa5)),
    err: DAMAGED,
  },
  {
    name: "truncated to 2000 bytes",
    damage: (p) => Deno.truncateSync(p, 2000),
    err: DAMAGED,
  },
  {
    name: "a text file",
    damage: (p) => Deno.writeTextFileSync(p, "this is not a database\n"),
    err: NOT_SQLITE,
  },
  {
    name: "a newer schema version",
    damage: (p) => sql(p, "PRAGMA user_version = 99"),
    err: (p) =>
      new RegExp(
        `^error: database ${p} has schema version 99, newer than this vgpu-admin understands \\(\\d+\\); install a newer vgpu-admin$`,
      ),
  },
  {
    name: "a missing column",
    damage: (p) => sql(p, "ALTER TABLE vms DROP COLUMN vm_name"),
    err: (p) => SCHEMA(p, "table vms lacks column vm_name"),
  },
  {
    name: "a missing table",
    damage: (p) => sql(p, "DROP TABLE stale_runs"),
    err: (p) => SCHEMA(p, "table stale_runs is missing"),
  },
  {
    name: "a missing index",
    damage: (p) => sql(p, "DROP INDEX idx_vm_pool"),
    err: (p) => SCHEMA(p, "index idx_vm_pool is missing"),
  },
  {
    name: "a directory where the file should be",
    damage: (_p, dir) => {
      Deno.mkdirSync(`${dir}/dir.db`);
      return `${dir}/dir.db`;
    },
    err: (p) => new RegExp(`^error: cannot open database ${p}: it is a directory; pass --db PATH$`),
  },
  {
    name: "its directory is a file",
    damage: (_p, dir) => {
      Deno.writeTextFileSync(`${dir}/plain`, "");
      return `${dir}/plain/vgpu_config.db`;
    },
    err: (p, dir) =>
      new RegExp(
        `^error: cannot use database ${p}: ${dir}/plain is not a directory; pass --db PATH$`,
      ),
  },
  {
    name: "a file in the middle of its path (not creatable)",
    damage: (_p, dir) => {
      Deno.writeTextFileSync(`${dir}/plain`, "");
      return `${dir}/plain/sub/vgpu_config.db`;
    },
    err: (p, dir) =>
      new RegExp(
        `^error: cannot use database ${p}: ${dir}/plain/sub: a part of the path is not a directory; run as root or pass --db PATH$`,
      ),
  },
];

for (const c of DB_CASES) {
  Deno.test(`damaged database: ${c.name} -> one line, exit 1, nothing changed`, async () => {
    const { dir, path: good } = await populatedDb();
    const path = c.damage(good, dir) ?? good;
    const before = await dirState(dir);
    // the hook log beside the database's directory, whose state is compared
    const log = `${tempDir("vgpu-damaged-log-")}/vgpu-vm-startup.log`;
    for (const { argv } of DB_COMMANDS) {
      const r = await runInProcess(argv, { env: { VGPU_DB: path, VGPU_LOG: log } });
      const what = `${argv[0]} on ${c.name}`;
      if (argv[0] === "remove-vm") {
        // nothing is asked: the row cannot be read
        assert.doesNotMatch(r.stderr, /\(yes\/no\)/, what);
      }
      assertOneErrorLine(what, r, c.err(path, dir));
      assert.deepEqual(await dirState(dir), before, `${what}: nothing changed`);
    }
  });
}

Deno.test("damaged database: through the binary too (subprocess, product permissions)", async () => {
  const { dir, path } = await populatedDb();
  overwrite(path, 0, pattern(100, 0x5a));
  const before = await dirState(dir);
  const r = await runCli(["--db", path, "register-vm", `--vm-uuid=${UUID2}`, "--offline"]);
  assertOneErrorLine("register-vm", r, NOT_SQLITE(path));
  assert.deepEqual(await dirState(dir), before);
});

Deno.test("a file that is not SQLite at --db: the start hook logs the same doubt, exit 1 (the start goes on)", async () => {
  // the hook's quick open fails on it, and its full open (the CLI's probe) says the same doubt
  const dir = tempDir("vgpu-notsqlite-");
  const path = `${dir}/not-ours`;
  Deno.writeTextFileSync(path, "root:x:0:0:root:/root:/bin/bash\n");
  const log = `${dir}/vgpu-vm-startup.log`;
  const r = await runCli(["startup-hook", `--vm-uuid=${UUID1}`, `--db=${path}`], {
    env: { VGPU_LOG: log, VGPU_XE: "/nonexistent/xe" },
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    Deno.readTextFileSync(log).trim(),
    new RegExp(
      `action=error result=failed ${NOT_SQLITE(path).source.slice("^error: ".length)}`,
    ),
  );
  assert.equal(Deno.readTextFileSync(path), "root:x:0:0:root:/root:/bin/bash\n");
});

Deno.test("SQLite's own 'file is not a database' is said with the same doubt", async () => {
  const { sqliteError } = await import("../src/store/open.ts");
  const e = sqliteError(new Error("file is not a database"), "/x/y.db");
  assert.match(`error: ${e.message}`, NOT_SQLITE("/x/y.db"));
  // a malformed SQLite file is damaged, surely ours
  assert.match(
    sqliteError(new Error("database disk image is malformed"), "/x/y.db").message,
    /is damaged/,
  );
});

Deno.test("missing directory: created 0755 with the database 0600, and initialised", async () => {
  const dir = tempDir("vgpu-mkdir-");
  const path = `${dir}/etc/vgpu/vgpu_config.db`;
  const r = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`, "--offline"], {
    env: { VGPU_DB: path },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.statSync(`${dir}/etc/vgpu`).mode! & 0o777, 0o755);
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
  const list = await runInProcess(["list-vms", "--format=json"], { env: { VGPU_DB: path } });
  assert.equal(JSON.parse(list.stdout).vms.length, 1);
});

// ---- read-only file and directory (root without CAP_DAC_OVERRIDE) ---------------------------

const READ_ONLY = (p: string) =>
  new RegExp(
    `^error: database ${p} is read-only \\(.+\\); run as root or make the file and its directory writable$`,
  );

Deno.test({
  name: "read-only database file (0400): reads work, every write fails with one line",
  ignore: NO_DAC_PROBLEM !== null,
  async fn() {
    const { path } = await populatedDb();
    Deno.chmodSync(path, 0o400);
    const before = await fileHash(path);
    const list = await runNoDac(["--db", path, "list-vms", "--format=json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout).vms[0].vm_uuid, UUID1);
    for (const { argv } of DB_COMMANDS.filter((c) => c.writes)) {
      const r = await runNoDac(["--db", path, ...argv]);
      // remove-vm --yes prints its (pre-answered) question first
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      assert.equal(r.code, 1, `${argv[0]}: ${r.stderr}`);
      assert.equal(r.stdout, "", argv[0]);
      assert.equal(lines.filter((l) => l.startsWith("error:")).length, 1, r.stderr);
      assert.match(lines.at(-1)!, READ_ONLY(path), argv[0]);
      assert.equal(await fileHash(path), before, `${argv[0]}: the database is unchanged`);
    }
    Deno.chmodSync(path, 0o600);
    // The rows are all still there for a writable open.
    const after = await runInProcess(["list-vms", "--format=json"], { env: { VGPU_DB: path } });
    assert.equal(JSON.parse(after.stdout).vms.length, 1);
  },
});

Deno.test({
  name: "read-only directory (0555): one line naming it, exit 1, nothing changed",
  ignore: NO_DAC_PROBLEM !== null,
  async fn() {
    const { dir, path } = await populatedDb();
    Deno.chmodSync(dir, 0o555);
    try {
      const before = await dirState(dir);
      for (const { argv } of DB_COMMANDS.filter((c) => c.argv[0] !== "startup-hook")) {
        const r = await runNoDac(["--db", path, ...argv]);
        assertOneErrorLine(`${argv[0]} in a read-only directory`, r, READ_ONLY(path));
        assert.deepEqual(await dirState(dir), before, argv[0]);
      }
      // A database to create there: the file cannot be, nor a directory below it.
      // (a command that writes: only those create a missing database)
      const create = await runNoDac(["--db", `${dir}/new.db`, "settings", "xe-timeout", "30"]);
      assertOneErrorLine(
        "create in a read-only directory",
        create,
        new RegExp(
          `^error: cannot create database ${dir}/new\\.db: its directory ${dir} is read-only \\(permission denied\\); run as root or pass --db PATH$`,
        ),
      );
      const mk = await runNoDac(["--db", `${dir}/sub/new.db`, "settings", "xe-timeout", "30"]);
      assertOneErrorLine(
        "mkdir in a read-only directory",
        mk,
        new RegExp(
          `^error: cannot create directory ${dir}/sub for the database: permission denied; run as root or pass --db PATH$`,
        ),
      );
      assert.deepEqual(await dirState(dir), before);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["vgpu_config.db"]);
    } finally {
      Deno.chmodSync(dir, 0o755);
    }
  },
});

if (NO_DAC_PROBLEM !== null) {
  Deno.test({
    name: `read-only cases ignored: ${NO_DAC_PROBLEM}`,
    ignore: true,
    fn() {},
  });
}

// ---- xe missing, not executable, hanging, failing, printing garbage -------------------------

const XE_VERBS = ["vm-list", "host-list", "vm-param-get"] as const;

interface XeCase {
  name: string;
  /** Breaks xe on host `h`; returns environment overrides. */
  breakIt(h: FakeHostEnv): Promise<Record<string, string>>;
  /** The xe problem as the error/warning line names it. */
  says: RegExp;
}

const faultAll = (h: FakeHostEnv, f: FakeFault) =>
  updateState(h.statePath, (s) => {
    s.faults = Object.fromEntries(XE_VERBS.map((v) => [v, f]));
  });

const XE_CASES: XeCase[] = [
  {
    name: "xe missing",
    breakIt: (h) => Promise.resolve({ VGPU_XE: `${h.dir}/no-such-dir/xe` }),
    says:
      /xe not found at .*\/no-such-dir\/xe: vgpu-admin must run on the XCP-ng dom0; set VGPU_XE to the path of xe/,
  },
  {
    name: "xe not executable",
    breakIt(h) {
      Deno.writeTextFileSync(`${h.dir}/xe-noexec`, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
      Deno.chmodSync(`${h.dir}/xe-noexec`, 0o644);
      return Promise.resolve({ VGPU_XE: `${h.dir}/xe-noexec` });
    },
    says:
      /xe is not executable at .*\/xe-noexec: vgpu-admin must run on the XCP-ng dom0; set VGPU_XE/,
  },
  {
    name: "xe hanging (xe-timeout 2)",
    breakIt: async (h) => {
      await faultAll(h, { mode: "hang" });
      return {};
    },
    // scan-vms asks vm-list and host-list at once: either may be the one reported
    says: /xe (vm-list|host-list|vm-param-get) did not answer within 2 s/,
  },
  {
    name: "xe failing",
    breakIt: async (h) => {
      await faultAll(h, {
        mode: "fail",
        stderr: "Error: Connection refused (calling connect )\n",
      });
      return {};
    },
    says: /Connection refused/,
  },
  {
    name: "xe printing garbage",
    breakIt: async (h) => {
      // Multi-line: a platform value cannot hold a line break, so even vm-param-get's free-text
      // answer is recognisably not one; and garbage is never written back to the VM.
      await faultAll(h, { mode: "garbage", stdout: "<html>\n502 Bad Gateway\n</html>\n" });
      return {};
    },
    says: /<html>|cannot read|line break/,
  },
];

/** A host with UUID1 "web" (registered, in sync, running) and UUID3 "spare" (unregistered). */
async function xeHost(): Promise<FakeHostEnv> {
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web", powerState: "running", platform: { [KEY]: DEVICE } }),
    makeVm({ uuid: UUID2, nameLabel: "new" }),
    makeVm({ uuid: UUID3, nameLabel: "spare", platform: { [KEY]: DEVICE.replace("=1", "=9") } }),
  ]);
  for (
    const argv of [
      ["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=web", "--priority=high", "--vm-id=1"],
      ["settings", "xe-timeout", "2"],
    ]
  ) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  return h;
}

const XE_WRITES: string[][] = [
  ["register-vm", `--vm-uuid=${UUID2}`],
  ["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"],
  ["update-vm", `--vm-uuid=${UUID1}`, "--priority=low", "--vm-id=3", "--yes"],
  ["remove-vm", `--vm-uuid=${UUID1}`, "--yes"],
  ["sync"],
  ["adopt", "--yes"],
  ["startup-hook", `--vm-uuid=${UUID1}`, "--reason=none"],
];
const XE_READS: string[][] = [["status"], ["scan-vms"], ["show-vm", `--vm-uuid=${UUID1}`]];

for (const c of XE_CASES) {
  Deno.test(`${c.name}: write commands fail with one line, change nothing; reads degrade`, async () => {
    const h = await xeHost();
    const env = { ...h.env, ...(await c.breakIt(h)) };
    const dbBefore = await fileHash(h.dbPath);
    const stateBefore = await fileHash(h.statePath);
    // All at once: a hang costs its 2 s bound once, not once per command; except the three
    // that change UUID1, one after the other: at once, its operation lock refuses two of them.
    const onUuid1 = (argv: string[]) => ["set-pool", "update-vm", "remove-vm"].includes(argv[0]);
    let chain: Promise<unknown> = Promise.resolve();
    const all = await Promise.all(
      [...XE_WRITES, ...XE_READS].map((argv) => {
        if (!onUuid1(argv)) return runInProcess(argv, { env });
        const run = chain.then(() => runInProcess(argv, { env }));
        chain = run;
        return run;
      }),
    );
    const writes = all.slice(0, XE_WRITES.length);
    const reads = all.slice(XE_WRITES.length);
    for (const [i, argv] of XE_WRITES.entries()) {
      const r = writes[i];
      const what = `${c.name}: ${argv.join(" ")}`;
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, "", what);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      // remove-vm --yes echoes its pre-answered question first; everything else is one line
      const errors = lines.filter((l) => !/\(yes\/no\): yes \(--yes\)$/.test(l));
      assert.equal(errors.length, 1, `${what}: one error line: ${r.stderr}`);
      assert.match(errors[0], /^error: /, what);
      assert.match(errors[0], c.says, `${what}: ${errors[0]}`);
    }
    for (const [i, argv] of XE_READS.entries()) {
      const r = reads[i];
      const what = `${c.name}: ${argv.join(" ")}`;
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(UUID1), `${what}: the database part is shown`);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, `${what}: one warning line: ${r.stderr}`);
      assert.match(
        lines[0],
        /^warning: the host could not be read, only the database is shown: /,
        what,
      );
      assert.match(lines[0], c.says, `${what}: ${lines[0]}`);
    }
    assert.equal(await fileHash(h.dbPath), dbBefore, `${c.name}: the database is unchanged`);
    // Faults with `times` are decremented by the fake; these have none: the state is untouched.
    assert.equal(await fileHash(h.statePath), stateBefore, `${c.name}: the host is unchanged`);
    // The hook logged its failure (one line), never exit 2.
    const log = Deno.readTextFileSync(h.logPath).trim().split("\n");
    assert.equal(log.length, 1);
    assert.match(log[0], new RegExp(`vm=${UUID1} reason=none action=error result=failed `));
  });
}

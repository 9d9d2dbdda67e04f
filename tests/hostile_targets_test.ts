/**
 * The hostile-target corpus (issue 10, design.md §7): every path and file an administrator or a
 * careless script can hand vgpu-admin. Devices (made with mknod in the test's own directory,
 * never the system's), FIFOs, sockets, directories, symbolic links to each, foreign, garbled and
 * truncated SQLite files, empty and missing paths, read-only places, symlinked export, backup,
 * hook and logrotate targets, damaged rows, platform keys and the hook script's exit code.
 *
 * Each case runs the CLI as a subprocess (the product's permission flags) and asserts the exit
 * code, the one error line, and that its directory is unchanged: every entry's name, type,
 * mode, size, bytes and link target (so a -journal, -wal or -shm beside the target, a chmod or a
 * write through a link all fail it). A hang (a FIFO opened for reading) fails by timeout.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { renderHook } from "../src/ops/install.ts";
import { refusalMarker } from "../src/cli/commands/startup-hook.ts";
import { makeVm, readStateSync } from "./fake-xe/state.ts";
import {
  cliCommand,
  cliEnv,
  type CliResult,
  fakeHost,
  fileHash,
  runAsXenopsd,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
} from "./helpers.ts";

// ---- helpers -------------------------------------------------------------------------------

/** Runs the CLI as a subprocess, killed after 30 s (a blocked open must fail, not hang). */
async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const [cmd, ...pre] = cliCommand();
  const out = await new Deno.Command(cmd, {
    args: [...pre, ...args],
    clearEnv: true,
    env: cliEnv({
      VGPU_LOG: `${LOG_DIR}/hook.log`,
      VGPU_XE: "/nonexistent/xe",
      ...env,
    }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const LOG_DIR = tempDir("vgpu-hostile-log-");

/** Every entry under `dir` (not following links): type, mode, size, content hash, link target. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of [...Deno.readDirSync(d)].sort((a, b) => a.name.localeCompare(b.name))) {
      const p = `${d}/${e.name}`;
      const st = Deno.lstatSync(p);
      const mode = (st.mode! & 0o7777).toString(8);
      const kind = st.isSymlink
        ? `link->${Deno.readLinkSync(p)}`
        : st.isDirectory
        ? "dir"
        : st.isFile
        ? `file ${st.size} ${await fileHash(p)}`
        : st.isFifo
        ? "fifo"
        : st.isCharDevice
        ? `chr ${st.rdev}`
        : st.isBlockDevice
        ? `blk ${st.rdev}`
        : st.isSocket
        ? "socket"
        : "other";
      out.push(`${p.slice(dir.length)} ${mode} ${kind}`);
      if (st.isDirectory) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

function sh(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Whether this machine lets the test make device nodes (root in a normal container: yes). */
const CAN_MKNOD = (() => {
  const d = Deno.makeTempDirSync({ prefix: "vgpu-mknod-probe-" });
  try {
    return sh("mknod", [`${d}/null`, "c", "1", "3"]);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
})();

/** Whether `chattr +i` works here (ext4 as root): an immutable file or directory. */
const CAN_CHATTR = (() => {
  const d = Deno.makeTempDirSync({ prefix: "vgpu-chattr-probe-" });
  try {
    Deno.writeTextFileSync(`${d}/f`, "");
    const ok = sh("chattr", ["+i", `${d}/f`]);
    if (ok) sh("chattr", ["-i", `${d}/f`]);
    return ok;
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
})();

/** Whether a read-only bind mount can be made here (CAP_SYS_ADMIN). */
const CAN_RO_MOUNT = (() => {
  const d = Deno.makeTempDirSync({ prefix: "vgpu-mount-probe-" });
  try {
    if (!sh("mount", ["--bind", d, d])) return false;
    const ok = sh("mount", ["-o", "remount,bind,ro", d, d]);
    sh("umount", [d]);
    return ok;
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
})();

/** A vgpu-admin database with one VM (UUID1, pool A, high, vm_id 1), made in-process. */
async function ourDb(path: string): Promise<void> {
  const r = await runInProcess(
    ["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=web", "--priority=high", "--offline"],
    { env: { VGPU_DB: path } },
  );
  assert.equal(r.code, 0, r.stderr);
}

function rawSql(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

function mknod(path: string, type: "c" | "b", major: number, minor: number): void {
  if (!sh("mknod", [path, type, String(major), String(minor)])) {
    throw new Error(`mknod ${path} failed`);
  }
  Deno.chmodSync(path, 0o644);
}

function mkfifo(path: string): void {
  if (!sh("mkfifo", [path])) throw new Error(`mkfifo ${path} failed`);
  Deno.chmodSync(path, 0o644);
}

/** A unix socket file at `path`, left behind by a process that bound it and exited. */
function mksocket(path: string): void {
  // Deno removes its own socket file on close; a bind from python3 (or perl) leaves it.
  const py = `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`;
  if (
    !sh("python3", ["-c", py]) &&
    !sh("perl", [
      "-MIO::Socket::UNIX",
      "-e",
      `IO::Socket::UNIX->new(Local => ${JSON.stringify(path)}, Listen => 1)`,
    ])
  ) {
    throw new Error(`cannot make a socket at ${path} (no python3 or perl)`);
  }
  Deno.chmodSync(path, 0o755);
}

function foreignDb(path: string, o: { wal?: boolean; sql?: string; mode?: number } = {}): void {
  const db = new DatabaseSync(path);
  try {
    if (o.wal) db.exec("PRAGMA journal_mode = WAL");
    db.exec(
      o.sql ??
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann')",
    );
  } finally {
    db.close();
  }
  Deno.chmodSync(path, o.mode ?? 0o644);
}

function assertOneError(r: CliResult, code: number, err: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: nothing on stdout`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `${what}: one line: ${r.stderr}`);
  assert.match(lines[0], err, what);
  assert.doesNotMatch(lines[0], /^bug:|^\s+at /, what);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Case {
  name: string;
  needs?: "mknod" | "chattr" | "mount";
  /** Makes the target(s) in `dir`; returns the argv (and env) to run. */
  setup(dir: string): Promise<{ args: string[]; env?: Record<string, string> }> | {
    args: string[];
    env?: Record<string, string>;
  };
  code: number;
  err(dir: string): RegExp;
  /** Undoes what the test cannot leave behind (chattr, mounts), after the assertions. */
  cleanup?(dir: string): void;
  /**
   * What must be unchanged, when not the whole directory: our own database, whose -wal/-shm
   * SQLite may leave beside it (a read-only file cannot be checkpointed).
   */
  unchanged?(dir: string): string;
}

const CASES: Case[] = [];

function register(c: Case): void {
  const why = c.needs === "mknod" && !CAN_MKNOD
    ? "mknod is not permitted here"
    : c.needs === "chattr" && !CAN_CHATTR
    ? "chattr +i is not available here"
    : c.needs === "mount" && !CAN_RO_MOUNT
    ? "a read-only bind mount is not permitted here"
    : null;
  Deno.test({
    name: `hostile target: ${c.name}${why === null ? "" : ` (skipped: ${why})`}`,
    ignore: why !== null,
    async fn() {
      const dir = tempDir("vgpu-hostile-");
      const { args, env } = await c.setup(dir);
      const state = async () =>
        c.unchanged === undefined
          ? await snapshot(dir)
          : [await fileHash(c.unchanged(dir)), Deno.lstatSync(c.unchanged(dir)).mode];
      const before = await state();
      try {
        const r = await cli(args, env);
        assertOneError(r, c.code, c.err(dir), c.name);
        assert.deepEqual(await state(), before, `${c.name}: the target is unchanged`);
      } finally {
        c.cleanup?.(dir);
      }
    },
  });
  CASES.push(c);
}

// ---- database targets: special files and links to them ----------------------------------------

/** Commands tried on every special database target: reads, writes, the hook, an export. */
const DB_COMMANDS: { label: string; args: string[]; code?: number }[] = [
  { label: "list-vms", args: ["list-vms"] },
  { label: "register-vm", args: ["register-vm", `--vm-uuid=${UUID2}`, "--offline"] },
  { label: "settings KEY VALUE", args: ["settings", "hook-strict", "on"] },
  { label: "startup-hook", args: ["startup-hook", `--vm-uuid=${UUID1}`] },
  { label: "export", args: ["export"] },
];

const SPECIAL: {
  name: string;
  needs?: "mknod";
  make(p: string, dir: string): void;
  err: (p: string, dir: string) => string;
}[] = [
  {
    name: "a character device (a copy of /dev/null)",
    needs: "mknod",
    make: (p) => mknod(p, "c", 1, 3),
    err: (p) => `cannot open database ${esc(p)}: it is a character device; pass --db PATH`,
  },
  {
    name: "a character device (a copy of /dev/zero)",
    needs: "mknod",
    make: (p) => mknod(p, "c", 1, 5),
    err: (p) => `cannot open database ${esc(p)}: it is a character device; pass --db PATH`,
  },
  {
    name: "a block device",
    needs: "mknod",
    make: (p) => mknod(p, "b", 7, 200),
    err: (p) => `cannot open database ${esc(p)}: it is a block device; pass --db PATH`,
  },
  {
    name: "a FIFO",
    make: (p) => mkfifo(p),
    err: (p) => `cannot open database ${esc(p)}: it is a named pipe \\(FIFO\\); pass --db PATH`,
  },
  {
    name: "a socket",
    make: (p) => mksocket(p),
    err: (p) => `cannot open database ${esc(p)}: it is a socket; pass --db PATH`,
  },
  {
    name: "a directory",
    make: (p) => Deno.mkdirSync(p, { mode: 0o700 }),
    err: (p) => `cannot open database ${esc(p)}: it is a directory; pass --db PATH`,
  },
  {
    name: "a symbolic link to a character device",
    needs: "mknod",
    make: (p, dir) => {
      mknod(`${dir}/null`, "c", 1, 3);
      Deno.symlinkSync(`${dir}/null`, p);
    },
    err: (p, dir) =>
      `cannot open database ${esc(p)}: it is a symbolic link to ${
        esc(dir)
      }/null, a character device; pass --db PATH`,
  },
  {
    name: "a symbolic link to a FIFO",
    make: (p, dir) => {
      mkfifo(`${dir}/fifo`);
      Deno.symlinkSync(`${dir}/fifo`, p);
    },
    err: (p, dir) =>
      `cannot open database ${esc(p)}: it is a symbolic link to ${
        esc(dir)
      }/fifo, a named pipe \\(FIFO\\); pass --db PATH`,
  },
  {
    name: "a symbolic link to a directory",
    make: (p, dir) => {
      Deno.mkdirSync(`${dir}/d`);
      Deno.symlinkSync(`${dir}/d`, p);
    },
    err: (p, dir) =>
      `cannot open database ${esc(p)}: it is a symbolic link to ${
        esc(dir)
      }/d, a directory; pass --db PATH`,
  },
  {
    name: "a dangling symbolic link",
    make: (p, dir) => Deno.symlinkSync(`${dir}/nowhere.db`, p),
    err: (p, dir) =>
      `cannot open database ${esc(p)}: it is a symbolic link to ${
        esc(dir)
      }/nowhere\\.db, which does not exist; remove the link or pass --db PATH`,
  },
];

for (const s of SPECIAL) {
  for (const c of DB_COMMANDS) {
    register({
      name: `--db at ${s.name}: ${c.label}`,
      needs: s.needs,
      setup(dir) {
        const p = `${dir}/target.db`;
        s.make(p, dir);
        return { args: ["--db", p, ...c.args] };
      },
      code: 1,
      err: (dir) => new RegExp(`^error: ${s.err(`${dir}/target.db`, dir)}$`),
    });
  }
}

// ---- database targets: files that are not our database ---------------------------------------

const NOT_OURS: {
  name: string;
  make(p: string): void | Promise<void>;
  err: (p: string) => string;
}[] = [
  {
    name: "another application's SQLite database",
    make: (p) => foreignDb(p),
    err: (p) =>
      `${
        esc(p)
      } is not a vgpu-admin database \\(an SQLite database of another application: tables users\\); nothing was changed: pass --db PATH`,
  },
  {
    name: "another application's SQLite database in WAL mode",
    make: (p) => foreignDb(p, { wal: true }),
    err: (p) => `${esc(p)} is not a vgpu-admin database \\(an SQLite database of another`,
  },
  {
    name: "a foreign database with a pools table of its own",
    make: (p) =>
      foreignDb(p, {
        sql: "CREATE TABLE pools (id INTEGER, owner TEXT); CREATE TABLE swimmers (name TEXT)",
      }),
    err: (p) =>
      `${
        esc(p)
      } is not a vgpu-admin database \\(an SQLite database of another application: tables pools, swimmers\\)`,
  },
  {
    name: "a foreign database with our table names and a schema version of its own",
    make: (p) =>
      foreignDb(p, {
        sql:
          "CREATE TABLE pools (a); CREATE TABLE vms (b); CREATE TABLE history (c); PRAGMA user_version = 4",
      }),
    err: (p) => `database ${esc(p)} has a damaged schema \\(table pools lacks column pool_id`,
  },
  {
    name: "an SQLite file with a schema version but no tables",
    make: (p) => foreignDb(p, { sql: "PRAGMA user_version = 7; VACUUM" }),
    err: (p) =>
      `${
        esc(p)
      } is not a vgpu-admin database \\(an SQLite database with schema version 7 and no tables\\)`,
  },
  {
    name: "a text file",
    make: (p) => Deno.writeTextFileSync(p, "hello, this is not a database\n", { mode: 0o644 }),
    err: (p) =>
      `database ${
        esc(p)
      } is not an SQLite file \\(file is not a database\\); if it is not vgpu-admin's database \\(a mistyped --db\\), pass the right --db PATH, otherwise move it aside and restore a backup or re-import an export`,
  },
  {
    name: "a file of 50 bytes starting with the SQLite magic",
    make: (p) => Deno.writeTextFileSync(p, "SQLite format 3\0" + "x".repeat(34)),
    err: (p) => `database ${esc(p)} is damaged \\(truncated: 50 bytes\\)`,
  },
  {
    name: "our database truncated to 5000 bytes",
    async make(p) {
      await ourDb(p);
      Deno.truncateSync(p, 5000);
    },
    err: (p) => `database ${esc(p)} is damaged \\(truncated: 5000 of \\d+ bytes\\)`,
  },
  {
    name: "our database with page 1 overwritten after the header",
    async make(p) {
      await ourDb(p);
      const f = Deno.openSync(p, { write: true });
      f.seekSync(100, Deno.SeekMode.Start);
      f.writeSync(new Uint8Array(3996).fill(0xa5));
      f.close();
    },
    err: (p) => `database ${esc(p)} is damaged \\(page 1: not a table b-tree page`,
  },
  {
    name: "our database with a newer schema version",
    async make(p) {
      await ourDb(p);
      rawSql(p, "PRAGMA user_version = 99");
    },
    err: (p) =>
      `database ${
        esc(p)
      } has schema version 99, newer than this vgpu-admin understands \\(\\d+\\); install a newer vgpu-admin`,
  },
];

for (const n of NOT_OURS) {
  for (const c of DB_COMMANDS.slice(0, 3)) {
    register({
      name: `--db at ${n.name}: ${c.label}`,
      async setup(dir) {
        const p = `${dir}/target.db`;
        await n.make(p);
        return { args: ["--db", p, ...c.args] };
      },
      code: 1,
      err: (dir) => new RegExp(`^error: ${n.err(`${dir}/target.db`)}`),
    });
  }
}

// Through a symbolic link to a foreign file: refused the same way, link and file unchanged.
register({
  name: "--db at a symbolic link to another application's database: register-vm",
  setup(dir) {
    foreignDb(`${dir}/app.db`);
    Deno.symlinkSync(`${dir}/app.db`, `${dir}/target.db`);
    return { args: ["--db", `${dir}/target.db`, "register-vm", `--vm-uuid=${UUID2}`, "--offline"] };
  },
  code: 1,
  err: (dir) => new RegExp(`^error: ${esc(dir)}/target\\.db is not a vgpu-admin database`),
});

// ---- empty and missing paths ---------------------------------------------------------------------

const NO_DB = (p: string) =>
  new RegExp(
    `^error: no database at ${
      esc(p)
    }; a command that writes creates it \\(register-vm, adopt, import, set-pool-name, enable-pool, disable-pool, settings KEY VALUE, install-hook\\), or pass --db PATH$`,
  );

for (
  const [label, args] of [
    ["list-vms", ["list-vms"]],
    ["status --offline", ["status", "--offline"]],
    ["show-vm --offline", ["show-vm", `--vm-uuid=${UUID1}`, "--offline"]],
    ["history", ["history"]],
    ["settings (show)", ["settings"]],
    ["export", ["export"]],
    ["show-pool", ["show-pool", "--pool-id=A"]],
    ["startup-hook", ["startup-hook", `--vm-uuid=${UUID1}`]],
    ["sync --dry-run", ["sync", "--dry-run"]],
    ["remove-vm", ["remove-vm", `--vm-uuid=${UUID1}`, "--yes", "--offline"]],
  ] as const
) {
  register({
    name: `a missing database in a missing directory: ${label} creates nothing`,
    setup: (dir) => ({ args: ["--db", `${dir}/etc/vgpu/typo.db`, ...args] }),
    code: 1,
    err: (dir) => NO_DB(`${dir}/etc/vgpu/typo.db`),
  });
}

register({
  name: "a missing database next to other files: list-pools creates nothing",
  setup(dir) {
    Deno.writeTextFileSync(`${dir}/keep`, "x");
    return { args: ["list-pools"], env: { VGPU_DB: `${dir}/vgpu_config.db` } };
  },
  code: 1,
  err: (dir) => NO_DB(`${dir}/vgpu_config.db`),
});

register({
  name: "an empty file (0 bytes, 0644): a read command refuses it and changes nothing",
  setup(dir) {
    Deno.writeTextFileSync(`${dir}/empty.db`, "", { mode: 0o644 });
    Deno.chmodSync(`${dir}/empty.db`, 0o644);
    return { args: ["--db", `${dir}/empty.db`, "list-vms"] };
  },
  code: 1,
  err: (dir) =>
    new RegExp(
      `^error: database ${esc(dir)}/empty\\.db is empty \\(no vgpu-admin data yet\\); a command`,
    ),
});

for (
  const [label, args, env] of [
    ["--db=", ["--db=", "list-vms"], {}],
    ["--db= on a command that writes", ["--db=", "register-vm", `--vm-uuid=${UUID2}`], {}],
    ["--db with blanks", ["--db", "  ", "list-vms"], {}],
    ["VGPU_DB=", ["list-vms"], { VGPU_DB: "" }],
  ] as const
) {
  register({
    name: `an empty database path (${label}) is a usage error, never the default database`,
    setup: () => ({ args: [...args], env: { ...env } }),
    code: 2,
    err: () =>
      label.startsWith("VGPU_DB")
        ? /^error: VGPU_DB is set but empty; give the database path, or unset VGPU_DB for \/etc\/vgpu\/vgpu_config\.db$/
        : /^error: --db is empty; give the database path, or leave --db out for \/etc\/vgpu\/vgpu_config\.db$/,
  });
}

// The start hook never exits 2 for a usage problem: an empty --db is 1 there.
register({
  name: "an empty --db on startup-hook exits 1 (never 2, which would abort the start)",
  setup: () => ({ args: ["--db=", "startup-hook", `--vm-uuid=${UUID1}`] }),
  code: 1,
  err: () => /^error: --db is empty;/,
});

Deno.test("an empty file is initialised by a command that writes, and keeps its mode", async () => {
  const dir = tempDir("vgpu-hostile-");
  const p = `${dir}/empty.db`;
  Deno.writeTextFileSync(p, "", { mode: 0o640 });
  Deno.chmodSync(p, 0o640);
  const r = await cli(["--db", p, "register-vm", `--vm-uuid=${UUID2}`, "--offline"]);
  assert.equal(r.code, 0, r.stderr);
  // Never a chmod of a file this run did not create (design.md §7).
  assert.equal(Deno.statSync(p).mode! & 0o777, 0o640);
  const created = `${dir}/new/vgpu_config.db`;
  const c = await cli(["--db", created, "settings", "hook-strict", "on"]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(Deno.statSync(created).mode! & 0o777, 0o600, "a file it creates is 0600");
});

// ---- read-only places -----------------------------------------------------------------------

const READ_ONLY = (p: string, why: string) =>
  new RegExp(
    `^error: database ${
      esc(p)
    } is read-only \\(${why}\\); run as root or make the file and its directory writable$`,
  );

register({
  name: "an immutable database file (chattr +i): a write names the read-only file",
  needs: "chattr",
  async setup(dir) {
    await ourDb(`${dir}/db`);
    sh("chattr", ["+i", `${dir}/db`]);
    return { args: ["--db", `${dir}/db`, "settings", "hook-strict", "on"] };
  },
  code: 1,
  err: (dir) => READ_ONLY(`${dir}/db`, `the file ${esc(dir)}/db is read-only \\(.+\\)`),
  cleanup: (dir) => sh("chattr", ["-i", `${dir}/db`]),
  unchanged: (dir) => `${dir}/db`,
});

register({
  name: "an immutable database directory (chattr +i): a read names the read-only directory",
  needs: "chattr",
  async setup(dir) {
    Deno.mkdirSync(`${dir}/etc`);
    await ourDb(`${dir}/etc/db`);
    sh("chattr", ["+i", `${dir}/etc`]);
    return { args: ["--db", `${dir}/etc/db`, "list-vms"] };
  },
  code: 1,
  err: (dir) => READ_ONLY(`${dir}/etc/db`, `its directory ${esc(dir)}/etc is read-only \\(.+\\)`),
  cleanup: (dir) => sh("chattr", ["-i", `${dir}/etc`]),
});

register({
  name: "a new database in an immutable directory (chattr +i): the directory is named",
  needs: "chattr",
  setup(dir) {
    Deno.mkdirSync(`${dir}/etc`);
    sh("chattr", ["+i", `${dir}/etc`]);
    return {
      args: ["--db", `${dir}/etc/new.db`, "register-vm", `--vm-uuid=${UUID2}`, "--offline"],
    };
  },
  code: 1,
  err: (dir) =>
    new RegExp(
      `^error: cannot create database ${esc(dir)}/etc/new\\.db: its directory ${
        esc(dir)
      }/etc is read-only \\(.+\\); run as root or pass --db PATH$`,
    ),
  cleanup: (dir) => sh("chattr", ["-i", `${dir}/etc`]),
});

register({
  name: "a database on a read-only mount: a write names the read-only file system",
  needs: "mount",
  async setup(dir) {
    Deno.mkdirSync(`${dir}/ro`);
    await ourDb(`${dir}/ro/db`);
    sh("mount", ["--bind", `${dir}/ro`, `${dir}/ro`]);
    sh("mount", ["-o", "remount,bind,ro", `${dir}/ro`, `${dir}/ro`]);
    return { args: ["--db", `${dir}/ro/db`, "register-vm", `--vm-uuid=${UUID2}`, "--offline"] };
  },
  code: 1,
  err: (dir) => READ_ONLY(`${dir}/ro/db`, `.*read-only file system.*`),
  cleanup: (dir) => sh("umount", [`${dir}/ro`]),
});

// ---- files vgpu-admin writes: export, hook, logrotate --------------------------------------------

/** A database with one VM, in `dir`/db (outside nothing: the snapshot covers it too). */
async function withDb(dir: string): Promise<string> {
  await ourDb(`${dir}/db`);
  return `${dir}/db`;
}

const LINK_REFUSED = (p: string, to: string) =>
  new RegExp(
    `^error: cannot write ${esc(p)}: it is a symbolic link to ${
      esc(to)
    }; vgpu-admin never writes through a link: remove the link or give the real path; nothing was written$`,
  );

register({
  name: "export --output at a symbolic link to another file: refused, the file untouched",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.writeTextFileSync(`${dir}/precious`, "do not overwrite\n", { mode: 0o644 });
    Deno.symlinkSync(`${dir}/precious`, `${dir}/export.json`);
    return { args: ["--db", db, "export", `--output=${dir}/export.json`] };
  },
  code: 1,
  err: (dir) => LINK_REFUSED(`${dir}/export.json`, `${dir}/precious`),
});

register({
  name: "export --output at a dangling symbolic link: refused, nothing created",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.symlinkSync(`${dir}/planted`, `${dir}/export.json`);
    return { args: ["--db", db, "export", `--output=${dir}/export.json`] };
  },
  code: 1,
  err: (dir) => LINK_REFUSED(`${dir}/export.json`, `${dir}/planted`),
});

register({
  name: "export --output at a symbolic link to the database: refused",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.symlinkSync(db, `${dir}/export.json`);
    return { args: ["--db", db, "export", `--output=${dir}/export.json`] };
  },
  code: 2,
  err: () => /^error: --output \S+ is the database itself; give another file$/,
});

register({
  name: "export --output at a symbolic link to a directory: refused",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.mkdirSync(`${dir}/d`);
    Deno.symlinkSync(`${dir}/d`, `${dir}/export.json`);
    return { args: ["--db", db, "export", `--output=${dir}/export.json`] };
  },
  code: 1,
  err: (dir) => LINK_REFUSED(`${dir}/export.json`, `${dir}/d`),
});

register({
  name: "export --output at a FIFO: refused without blocking",
  async setup(dir) {
    const db = await withDb(dir);
    mkfifo(`${dir}/fifo`);
    return { args: ["--db", db, "export", `--output=${dir}/fifo`] };
  },
  code: 1,
  err: (dir) =>
    new RegExp(`^error: cannot write ${esc(dir)}/fifo: it is not a regular file; nothing was`),
});

register({
  name: "export --output at a character device: refused",
  needs: "mknod",
  async setup(dir) {
    const db = await withDb(dir);
    mknod(`${dir}/null`, "c", 1, 3);
    return { args: ["--db", db, "export", `--output=${dir}/null`] };
  },
  code: 1,
  err: (dir) =>
    new RegExp(`^error: cannot write ${esc(dir)}/null: it is not a regular file; nothing was`),
});

register({
  name: "export --output at a directory: refused",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.mkdirSync(`${dir}/out`);
    return { args: ["--db", db, "export", `--output=${dir}/out`] };
  },
  code: 1,
  err: (dir) => new RegExp(`^error: cannot write ${esc(dir)}/out: it is a directory; give a file`),
});

register({
  name: "export --output into an immutable directory: refused, nothing left behind",
  needs: "chattr",
  async setup(dir) {
    const db = await withDb(dir);
    Deno.mkdirSync(`${dir}/out`);
    sh("chattr", ["+i", `${dir}/out`]);
    return { args: ["--db", db, "export", `--output=${dir}/out/x.json`] };
  },
  code: 1,
  err: (dir) =>
    new RegExp(`^error: cannot write ${esc(dir)}/out/x\\.json: .+; nothing was written$`),
  cleanup: (dir) => sh("chattr", ["-i", `${dir}/out`]),
});

for (
  const [label, rel] of [
    ["the hook", "etc/xapi.d/vm-pre-start/10-vgpu-admin"],
    ["the logrotate snippet", "etc/logrotate.d/vgpu-admin"],
  ] as const
) {
  register({
    name: `install-hook where ${label} is a symbolic link to a file: refused, nothing written`,
    async setup(dir) {
      const db = await withDb(dir);
      const target = `${dir}/root/${rel}`;
      Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(`${dir}/other`, "# vgpu-admin-managed\nsomeone else's\n");
      Deno.symlinkSync(`${dir}/other`, target);
      return {
        args: ["--db", db, "install-hook", `--root=${dir}/root`, "--binary=/usr/bin/true"],
      };
    },
    code: 1,
    err: (dir) =>
      new RegExp(
        `^error: ${esc(dir)}/root/${esc(rel)} is a symbolic link to ${
          esc(dir)
        }/other; vgpu-admin never writes through a link: remove the link, then run 'vgpu-admin install-hook' again$`,
      ),
  });
  register({
    name: `install-hook where ${label} is a dangling symbolic link: refused`,
    async setup(dir) {
      const db = await withDb(dir);
      const target = `${dir}/root/${rel}`;
      Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      Deno.symlinkSync(`${dir}/planted`, target);
      return {
        args: ["--db", db, "install-hook", `--root=${dir}/root`, "--binary=/usr/bin/true"],
      };
    },
    code: 1,
    err: (dir) => new RegExp(`^error: ${esc(dir)}/root/${esc(rel)} is a symbolic link to `),
  });
}

// ---- platform-key: only the two keys that carry QEMU args ---------------------------------------

for (const bad of ["device-model", "device_model", "vga", "DEVICE-MODEL-ARGS"]) {
  register({
    name: `settings platform-key ${JSON.stringify(bad)} is refused, the database unchanged`,
    async setup(dir) {
      return { args: ["--db", await withDb(dir), "settings", "platform-key", bad] };
    },
    code: 2,
    err: () =>
      /^error: invalid value "[^"]*" for platform-key: use device-model-args or device_model_args$/,
  });
}

Deno.test("import with settings platform-key device-model is refused, the database unchanged", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  const file = `${dir}/in.json`;
  const doc = JSON.parse((await cli(["--db", db, "export"])).stdout);
  doc.settings = { "platform-key": "device-model" };
  Deno.writeTextFileSync(file, JSON.stringify(doc));
  const before = await snapshot(dir);
  const r = await cli(["--db", db, "import", file, "--yes", "--offline"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /invalid value "device-model" for platform-key: use device-model-args/);
  assert.match(
    r.stderr,
    /^error: cannot import \S+: 1 problem \(listed above\); nothing was changed$/m,
  );
  assert.deepEqual(await snapshot(dir), before);
});

Deno.test("settings platform-key accepts exactly device-model-args and device_model_args", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  for (const key of ["device_model_args", "device-model-args"]) {
    const r = await cli(["--db", db, "settings", "platform-key", key]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `platform-key = ${key}\n`);
  }
});

// ---- backups: names taken without a race, never through a planted link ------------------------

function stamps(from: Date, seconds: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < seconds; i++) {
    const t = new Date(from.getTime() + i * 1000);
    out.push(t.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z"));
  }
  return out;
}

/** An export with pool B renamed: something for `import --replace` to change (and back up). */
function renamedExport(text: string): string {
  const doc = JSON.parse(text);
  doc.pools = doc.pools.map((p: { pool_id: string; name: string }) =>
    p.pool_id === "B" ? { ...p, name: `Batch ${crypto.randomUUID().slice(0, 6)}` } : p
  );
  return JSON.stringify(doc);
}

Deno.test("import --replace: a symbolic link planted at the backup name is never followed", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  const file = `${dir}/in.json`;
  Deno.writeTextFileSync(file, renamedExport((await cli(["--db", db, "export"])).stdout));
  Deno.writeTextFileSync(`${dir}/precious`, "root's file\n", { mode: 0o644 });
  // Links at every name the next 20 seconds could give.
  for (const s of stamps(new Date(), 20)) {
    Deno.symlinkSync(`${dir}/precious`, `${db}.bak-import-${s}`);
  }
  const before = await fileHash(`${dir}/precious`);
  const r = await cli(["--db", db, "import", file, "--replace", "--yes", "--offline"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await fileHash(`${dir}/precious`), before, "the link's target is untouched");
  const m = r.stderr.match(/^Backed up the database to (\S+) before replacing it$/m);
  assert.ok(m, r.stderr);
  assert.match(m[1], /\.bak-import-\d{8}T\d{6}Z-2$/);
  assert.ok(Deno.lstatSync(m[1]).isFile, "the backup is a new regular file");
  assert.equal(Deno.statSync(m[1]).mode! & 0o777, 0o600);
});

Deno.test("parallel import --replace runs each get their own backup file", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  const exported = (await cli(["--db", db, "export"])).stdout;
  // Four files, each naming pool B differently: every run has something to replace.
  const files = [0, 1, 2, 3].map((i) => {
    Deno.writeTextFileSync(`${dir}/in-${i}.json`, renamedExport(exported));
    return `${dir}/in-${i}.json`;
  });
  const runs = await Promise.all(
    files.map((f) => cli(["--db", db, "import", f, "--replace", "--yes", "--offline"])),
  );
  // Each run backs up, then either applies or finds another run's change (the documented
  // refusal); none fails on the backup file's name.
  const paths = runs.map((r) => {
    assert.ok(
      r.code === 0 || /^error: the database changed while the import waited/m.test(r.stderr),
      r.stderr,
    );
    assert.doesNotMatch(r.stderr, /cannot (back up|create the backup)/);
    return r.stderr.match(/^Backed up the database to (\S+) before replacing it$/m)?.[1];
  });
  assert.ok(runs.some((r) => r.code === 0));
  assert.equal(new Set(paths).size, 4, `distinct backups: ${paths.join(", ")}`);
  for (const p of paths) assert.ok(Deno.lstatSync(p!).isFile);
});

Deno.test("a migration backup never follows a link planted at its name", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = `${dir}/db`;
  await ourDb(db);
  // Back to schema version 3 (drop what 004 and later add): the next open migrates, after a
  // backup.
  rawSql(
    db,
    "DROP INDEX idx_vm_pool_vmid; DROP TABLE IF EXISTS op_journal; PRAGMA user_version = 3",
  );
  Deno.writeTextFileSync(`${dir}/precious`, "root's file\n");
  for (const s of stamps(new Date(), 20)) Deno.symlinkSync(`${dir}/precious`, `${db}.bak-v3-${s}`);
  const r = await cli(["--db", db, "list-vms"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(`${dir}/precious`), "root's file\n");
  const m = r.stderr.match(/a copy of the previous database is at (\S+)$/m);
  assert.ok(m, r.stderr);
  assert.match(m[1], /\.bak-v3-\d{8}T\d{6}Z-2$/);
  assert.ok(Deno.lstatSync(m[1]).isFile);
});

// ---- damaged rows: every reader says so, none writes the bad value anywhere ----------------------

const DAMAGES: {
  name: string;
  sql: string;
  err: RegExp;
  commands?: string[][];
  also?: string[][];
}[] = [
  {
    name: "vm_id stored as text '5,x=1 -device evil'",
    sql: `UPDATE vms SET vm_id = '5,x=1 -device evil' WHERE vm_uuid = '${UUID1}'`,
    err: new RegExp(
      `^error: database damaged: vms row ${UUID1}: vm_id is the text '5,x=1 -device evil', not a whole number from 1 to 2147483647; run 'vgpu-admin doctor'$`,
    ),
  },
  {
    name: "priority out of range",
    sql:
      `PRAGMA ignore_check_constraints = 1; UPDATE vms SET priority = 7 WHERE vm_uuid = '${UUID1}'`,
    err: new RegExp(
      `^error: database damaged: vms row ${UUID1}: priority is 7, not 0, 1 or 2; run 'vgpu-admin doctor'$`,
    ),
    also: [["list-pools"], ["show-pool", "--pool-id=A"]],
  },
  {
    name: "a history row cut short",
    sql: "UPDATE history SET after_json = substr(after_json, 1, 12)",
    err:
      /^error: database damaged: history row 1: after_json is not valid JSON \(.+\); run 'vgpu-admin doctor'$/,
    commands: [["history"], ["history", `--vm-uuid=${UUID1}`, "--format=json"]],
  },
];

const READERS: string[][] = [
  ["sync"],
  ["sync", "--check"],
  ["show-vm", `--vm-uuid=${UUID1}`],
  ["startup-hook", `--vm-uuid=${UUID1}`],
  ["list-vms"],
  ["status"],
  ["scan-vms"],
  ["export"],
];

for (const d of DAMAGES) {
  for (const argv of d.commands ?? [...READERS, ...(d.also ?? [])]) {
    Deno.test(`damaged row (${d.name}): ${argv.join(" ")} says so, changes nothing`, async () => {
      const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web", powerState: "halted" })]);
      const reg = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
      assert.equal(reg.code, 0, reg.stderr);
      rawSql(h.dbPath, d.sql);
      const dbDir = h.dbPath.slice(0, h.dbPath.lastIndexOf("/"));
      const before = await snapshot(dbDir);
      const host = JSON.stringify(readStateSync(h.statePath).vms);
      const r = await cli(argv, h.env);
      assertOneError(r, 1, d.err, argv.join(" "));
      assert.deepEqual(await snapshot(dbDir), before, "the database is unchanged");
      assert.equal(JSON.stringify(readStateSync(h.statePath).vms), host, "no VM was changed");
    });
  }
}

Deno.test("doctor lists every damaged row and fails; export refuses them", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  await runInProcess(["register-vm", `--vm-uuid=${UUID2}`, "--offline"], { env: { VGPU_DB: db } });
  rawSql(
    db,
    `PRAGMA ignore_check_constraints = 1;
     UPDATE vms SET vm_id = '5,x=1 -device evil' WHERE vm_uuid = '${UUID1}';
     UPDATE vms SET priority = 9 WHERE vm_uuid = '${UUID2}';
     UPDATE history SET before_json = '{"vm' WHERE id = 1;`,
  );
  const r = await cli(["--db", db, "doctor", "--format=json"]);
  assert.equal(r.code, 1, r.stderr);
  const integrity = JSON.parse(r.stdout).checks.find((c: { id: string }) => c.id === "integrity");
  assert.equal(integrity.status, "failed");
  assert.match(integrity.message, /3 rows cannot be used/);
  const items = integrity.items.map((i: { message: string }) => i.message);
  assert.ok(items.some((m: string) => m.startsWith(`vms row ${UUID1}: vm_id is the text`)), items);
  assert.ok(items.some((m: string) => m.startsWith(`vms row ${UUID2}: priority is 9`)), items);
  assert.ok(items.some((m: string) => m.startsWith("history row 1: before_json")), items);
  const out = `${dir}/export.json`;
  const e = await cli(["--db", db, "export", `--output=${out}`]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /^error: database damaged: vms row /);
  assert.equal(await fileHash(out), "absent", "no export file with the bad value");
});

// ---- the hook script: exit 2 only for a real strict refusal -------------------------------------

/** Installs the hook script calling `body` (an sh script standing in for vgpu-admin). */
function hookWithFakeBinary(body: string): string {
  const dir = tempDir("vgpu-hostile-hook-");
  const bin = `${dir}/vgpu-admin`;
  Deno.writeTextFileSync(bin, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  Deno.chmodSync(bin, 0o755);
  const hook = `${dir}/10-vgpu-admin`;
  Deno.writeTextFileSync(hook, renderHook(bin, null), { mode: 0o755 });
  return hook;
}

const MARKER = refusalMarker(UUID1);

for (
  const [label, body, code] of [
    ["exits 2 without the marker (a usage error, a launcher)", "echo 'usage: …' >&2; exit 2", 1],
    ["exits 2 with garbage on stdout", "echo 'Error: something'; exit 2", 1],
    ["is a shell script with a syntax error (sh exits 2)", "if then fi", 1],
    ["exits 2 with the marker of another VM", `echo '${refusalMarker(UUID2)}'; exit 2`, 1],
    ["exits 2 with the marker not on a line of its own", `echo 'x ${MARKER}'; exit 2`, 1],
    ["prints the marker but exits 0", `echo '${MARKER}'; exit 0`, 0],
    ["prints the marker but exits 1", `echo '${MARKER}'; exit 1`, 1],
    ["prints the marker and exits 3", `echo '${MARKER}'; exit 3`, 1],
    ["is killed by a signal", "kill -9 $$", 1],
    ["refuses for real: the marker and exit 2", `echo '${MARKER}'; exit 2`, 2],
    ["refuses for real after other output", `echo note; echo '${MARKER}'; exit 2`, 2],
  ] as const
) {
  Deno.test(`hook script: a binary that ${label} -> exit ${code}`, async () => {
    const hook = hookWithFakeBinary(body);
    const r = await runAsXenopsd(hook, ["-vmuuid", UUID1, "-reason", "none"]);
    assert.equal(r.code, code, `${r.stdout}${r.stderr}`);
    assert.ok(!r.stdout.includes(MARKER) || code !== 2, "the marker is not passed on to xapi");
  });
}

Deno.test("the corpus has at least 60 hostile-target cases", () => {
  assert.ok(CASES.length >= 60, `${CASES.length} cases`);
});

// ---- doctor: reports a hostile target, never opens it --------------------------------------------

for (
  const [label, make, want] of [
    ["a FIFO", (p: string) => mkfifo(p), /it is a named pipe \(FIFO\)/],
    [
      "another application's WAL database",
      (p: string) => foreignDb(p, { wal: true }),
      /is not a vgpu-admin database/,
    ],
    [
      "a garbled file",
      (p: string) => Deno.writeTextFileSync(p, "garbage\n"),
      /is not an SQLite file \(file is not a database\)/,
    ],
  ] as const
) {
  Deno.test(`doctor on ${label}: the database check fails, nothing changes`, async () => {
    const dir = tempDir("vgpu-hostile-");
    make(`${dir}/target.db`);
    const before = await snapshot(dir);
    const r = await cli([
      "--db",
      `${dir}/target.db`,
      "doctor",
      `--root=${dir}/root`,
      "--format=json",
    ]);
    assert.equal(r.code, 1, r.stderr);
    const db = JSON.parse(r.stdout).checks.find((c: { id: string }) => c.id === "database");
    assert.equal(db.status, "failed");
    assert.match(db.message, want);
    assert.deepEqual(await snapshot(dir), before);
  });
}

Deno.test("the hook log is never appended through a symbolic link", async () => {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web" })]);
  const reg = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.equal(reg.code, 0, reg.stderr);
  Deno.writeTextFileSync(`${h.dir}/precious`, "root's file\n");
  Deno.symlinkSync(`${h.dir}/precious`, h.logPath);
  const r = await cli(["startup-hook", `--vm-uuid=${UUID1}`], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stderr,
    `warning: cannot write ${h.logPath}: it is a symbolic link; vgpu-admin never writes through a link: remove it\n`,
  );
  assert.equal(Deno.readTextFileSync(`${h.dir}/precious`), "root's file\n");
});

// ---- import FILE: a device never ends, a directory is no file ------------------------------------

for (
  const [label, needs, make, kind] of [
    ["a copy of /dev/zero", "mknod", (p: string) => mknod(p, "c", 1, 5), "a character device"],
    ["a directory", undefined, (p: string) => Deno.mkdirSync(p), "a directory"],
    ["a socket", undefined, (p: string) => mksocket(p), "a socket"],
  ] as const
) {
  register({
    name: `import FILE at ${label}: refused before reading, the database unchanged`,
    needs,
    async setup(dir) {
      const db = await withDb(dir);
      make(`${dir}/in`);
      return { args: ["--db", db, "import", `${dir}/in`, "--yes", "--offline"] };
    },
    code: 1,
    err: (dir) =>
      new RegExp(
        `^error: cannot read import file ${
          esc(dir)
        }/in: it is ${kind}; give a file written by 'vgpu-admin export'$`,
      ),
  });
}

Deno.test("import FILE from a pipe (process substitution) still works", async () => {
  const dir = tempDir("vgpu-hostile-");
  const db = await withDb(dir);
  const exported = (await cli(["--db", db, "export"])).stdout;
  const [cmd, ...pre] = cliCommand();
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  Deno.writeTextFileSync(`${dir}/in.json`, renamedExport(exported));
  const script = `${[cmd, ...pre].map(q).join(" ")} --db ${q(db)} import <(cat ${
    q(`${dir}/in.json`)
  }) --dry-run`;
  const r = await new Deno.Command("bash", {
    args: ["-c", script],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  assert.match(out, /Nothing was changed \(--dry-run\)\./);
});

// ---- the probe itself: garbled first pages never crash it ---------------------------------------

Deno.test("probeDatabase: 300 garbled first pages give a DatabaseError or a verdict, never a crash", async () => {
  const { probeDatabase } = await import("../src/store/open.ts");
  const { DatabaseError } = await import("../src/domain/errors.ts");
  const dir = tempDir("vgpu-hostile-");
  const good = `${dir}/good.db`;
  await ourDb(good);
  const bytes = Deno.readFileSync(good);
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 12) % n; // the high bits: the low ones repeat with a short period
  };
  for (let i = 0; i < 300; i++) {
    const b = bytes.slice();
    // Garble 1 to 16 bytes of page 1 past the magic (header fields, cell pointers, records).
    for (let k = 0, n = 1 + rnd(16); k < n; k++) b[16 + rnd(4096 - 16)] = rnd(256);
    const p = `${dir}/g${i}.db`;
    Deno.writeFileSync(p, b);
    try {
      const v = probeDatabase(p);
      assert.ok(v.kind === "ours" || v.kind === "empty");
    } catch (e) {
      assert.ok(e instanceof DatabaseError, `case ${i}: ${e}`);
      assert.ok(!String((e as Error).message).includes("\n"), "one line");
    }
    Deno.removeSync(p);
  }
});

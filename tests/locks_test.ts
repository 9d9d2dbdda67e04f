/**
 * The per-VM operation locks as attackers and big hosts meet them (issue 18 B3, B9, 10a; issue 21
 * items 4 and 7): one lock per database file whatever the path's spelling, a lock directory and
 * lock files that cannot be turned against another file, a umask that cannot make them
 * unusable, `ulimit -n 1024` with thousands of VMs, and a full disk. Through the CLI.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runningHost } from "./fault-matrix.ts";
import {
  canMountTmpfs,
  cliCommand,
  cliEnv,
  fakeHost,
  type FakeHostEnv,
  runInProcess,
  spawnCli,
  tempDir,
  until,
  UUID1,
} from "./helpers.ts";
import { findVm, makeVm, readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";

const SET_POOL_B = ["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"];

function poolOf(db: string): string {
  const d = new DatabaseSync(db, { readOnly: true });
  try {
    return (d.prepare("SELECT pool_id FROM vms WHERE vm_uuid = ?").get(UUID1) as {
      pool_id: string;
    })
      .pool_id;
  } finally {
    d.close();
  }
}

function modeOf(path: string): string {
  return `0${(Deno.lstatSync(path).mode! & 0o777).toString(8)}`;
}

/** Runs the CLI as a subprocess through `sh -c '<pre>; exec vgpu-admin …'`. */
async function runSh(
  pre: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", `${pre}; exec ${[...cliCommand(), ...args].map(q).join(" ")}`],
    clearEnv: true,
    env: cliEnv(env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Starts `set-pool` as another admin and holds it at its clean shutdown (a delayed vm-shutdown
 * of at most 20 s that the test lets go by writing `release`), so that its lock is held.
 */
async function setPoolHeldAtShutdown(h: Awaited<ReturnType<typeof runningHost>>, what: string) {
  const release = `${h.dir}/release`;
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-shutdown": { mode: "delay", ms: 20_000, times: 1, release } };
  });
  const start = readCallLog(readStateSync(h.statePath)).length;
  const child = spawnCli(SET_POOL_B, h.env, { piped: true });
  const out = child.output();
  await until(
    what,
    () =>
      readCallLog(readStateSync(h.statePath)).slice(start).find((c) => c.argv[0] === "vm-shutdown"),
  );
  return { release, out };
}

// ---- B3: one lock per database file, whatever the spelling of its path ----------------------

Deno.test("locks: a second admin through a symlink or another spelling meets the same lock; recover undoes nothing", async () => {
  const h = await runningHost();
  const link = `${h.dir}/link.db`;
  Deno.symlinkSync(h.dbPath, link);
  const other = `${h.dir}/etc/./vgpu/../vgpu/vgpu_config.db`;
  // the first admin's clean shutdown lasts until the test lets it go (20 s at most): the
  // operation is running meanwhile
  const { release, out } = await setPoolHeldAtShutdown(h, "the first admin's vm-shutdown");
  for (const db of [link, other]) {
    const env = { ...h.env, VGPU_DB: db };
    const busy = await runInProcess([
      "set-priority",
      `--vm-uuid=${UUID1}`,
      "--priority=low",
      "--yes",
    ], {
      env,
    });
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(
      busy.stderr,
      new RegExp(
        `^error: VM ${UUID1} is being changed by another vgpu-admin \\(set-pool, pid \\d+`,
      ),
    );
    const rec = await runInProcess(["recover", "--yes"], { env });
    assert.equal(rec.code, 0, rec.stderr);
    assert.equal(rec.stdout, "No interrupted operations: nothing to recover.\n", db);
    const check = await runInProcess(["sync", "--check"], { env });
    assert.doesNotMatch(check.stderr + check.stdout, /interrupted/, db);
  }
  Deno.writeTextFileSync(release, "");
  const r = await out;
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  assert.equal(poolOf(h.dbPath), "B", "the first admin's change landed, nobody undid it");
  const vm = findVm(readStateSync(h.statePath), UUID1)!;
  assert.equal(vm.powerState, "running");
  assert.match(vm.platform["device-model-args"], /pool_id=B/);
});

// ---- B9: a umask cannot make the lock directory unusable ------------------------------------

for (const umask of ["777", "222", "077"]) {
  Deno.test(`locks: under umask ${umask} the lock directory is 0700 and its files 0600`, async () => {
    const h = await runningHost();
    const dir = `${Deno.realPathSync(h.dbPath)}.locks`;
    Deno.removeSync(dir, { recursive: true }); // register-vm made it: this run makes it again
    const r = await runSh(`umask ${umask}`, SET_POOL_B, h.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(modeOf(dir), "0700");
    assert.equal(modeOf(`${dir}/${UUID1}`), "0600");
    assert.equal(poolOf(h.dbPath), "B");
  });
}

// ---- 10a: a lock directory or lock file planted by someone else -----------------------------

interface Planted {
  name: string;
  plant(dir: string, victim: string): void;
  err: RegExp;
}

const PLANTED: Planted[] = [
  {
    name: "a lock directory writable by everybody (0777) with a link to another file",
    plant(dir, victim) {
      Deno.mkdirSync(dir);
      Deno.chmodSync(dir, 0o777);
      Deno.symlinkSync(victim, `${dir}/${UUID1}`);
    },
    err: /^error: the VM lock directory \S+ is writable by other users \(mode 0777\); remove it/,
  },
  {
    name: "a lock directory owned by another user",
    plant(dir) {
      Deno.mkdirSync(dir);
      Deno.chmodSync(dir, 0o700);
      Deno.chownSync(dir, 65534, 65534);
    },
    err: /^error: the VM lock directory \S+ belongs to uid 65534, not to this user; remove it/,
  },
  {
    name: "a lock file that is a symbolic link to another user's file",
    plant(dir, victim) {
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.symlinkSync(victim, `${dir}/${UUID1}`);
    },
    err:
      /^error: cannot use the lock file \S+: it is a symbolic link to \S+victim; vgpu-admin never writes through a link; remove it/,
  },
  {
    name: "a lock file that is a hard link to another file",
    plant(dir, victim) {
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.linkSync(victim, `${dir}/${UUID1}`);
    },
    err:
      /^error: cannot use the lock file \S+: it has 2 names \(a hard link to another file\); remove it/,
  },
  {
    name: "a lock directory that is a symbolic link",
    plant(dir) {
      const elsewhere = tempDir();
      Deno.symlinkSync(elsewhere, dir);
    },
    err: /is not a directory \(it holds vgpu-admin's VM locks\); move it away/,
  },
];

for (const p of PLANTED) {
  Deno.test(`locks: ${p.name} is refused; the other file is untouched`, async () => {
    const h = await runningHost();
    const victim = `${h.dir}/victim`;
    Deno.writeTextFileSync(victim, "precious\n");
    if (p.name.includes("another user's")) Deno.chownSync(victim, 65534, 65534);
    const dir = `${Deno.realPathSync(h.dbPath)}.locks`;
    Deno.removeSync(dir, { recursive: true }); // register-vm made it: plant it as the attacker
    p.plant(dir, victim);
    const r = await runInProcess(SET_POOL_B, { env: h.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, p.err);
    assert.doesNotMatch(r.stderr, /bug:/);
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.equal(poolOf(h.dbPath), "A", "nothing changed");
    assert.equal(findVm(readStateSync(h.statePath), UUID1)!.powerState, "running");
  });
}

// ---- issue 21 item 4: thousands of VMs at ulimit -n 1024 ------------------------------------

/** `n` registered VMs (uuids 00000000-0000-4000-8000-<n>), imported offline: no lock, no xe. */
async function manyRegistered(h: FakeHostEnv, n: number): Promise<string[]> {
  const uuids = Array.from(
    { length: n },
    (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  );
  const file = `${h.dir}/many.json`;
  Deno.writeTextFileSync(file, exportOf(uuids));
  const r = await runInProcess(["import", "--offline", "--yes", file], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  return uuids;
}

function exportOf(uuids: string[]): string {
  return JSON.stringify({
    format: "vgpu-admin-export",
    format_version: 1,
    schema_version: 5,
    pools: [
      { pool_id: "A", name: "Pool A", description: null, enabled: true },
      { pool_id: "B", name: "Pool B", description: null, enabled: true },
    ],
    vms: uuids.map((u, i) => ({
      vm_uuid: u,
      vm_name: `vm${i + 1}`,
      pool_id: i % 2 === 0 ? "A" : "B",
      priority: "medium",
      vm_id: i + 1,
    })),
    settings: {},
  });
}

/**
 * A fast xe for thousands of VMs: `vm-list` and `host-list` answer from files the real fake
 * printed once, `vm-param-set` succeeds at once (one sh process instead of one Deno per call);
 * anything else goes to the real fake.
 */
async function fastXe(h: FakeHostEnv): Promise<Record<string, string>> {
  const real = h.env.VGPU_XE;
  const run = async (args: string[]) => {
    const o = await new Deno.Command(real, { args, env: h.env, stdout: "piped" }).output();
    assert.equal(o.code, 0, args.join(" "));
    return new TextDecoder().decode(o.stdout);
  };
  const { VM_LIST_PARAMS } = await import("../src/xe/read-argv.ts");
  Deno.writeTextFileSync(
    `${h.dir}/vm-list.out`,
    await run(["vm-list", "is-control-domain=false", VM_LIST_PARAMS]),
  );
  Deno.writeTextFileSync(
    `${h.dir}/host-list.out`,
    await run(["host-list", "params=uuid,name-label"]),
  );
  const path = `${h.dir}/fast-xe`;
  Deno.writeTextFileSync(
    path,
    [
      "#!/bin/sh",
      `d='${h.dir}'`,
      'case "$1 $3" in',
      `  "vm-list ${VM_LIST_PARAMS}") exec cat "$d/vm-list.out" ;;`,
      '  "host-list ") exec cat "$d/host-list.out" ;;',
      "esac",
      // with a file "slow" present, the first vm-param-set says it started, then lasts until a
      // file "go" exists (20 s at most); the value is kept so that the read-back of every write
      // (issue 18 B6) finds it
      'case "$1" in vm-param-set) [ -e "$d/slow" ] && rm "$d/slow" && touch "$d/started" &&',
      '  { i=0; while [ ! -e "$d/go" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i + 1)); done; }',
      '  printf "%s\\n" "${3#*=}" > "$d/args-${2#uuid=}"; exit 0 ;; esac',
      'case "$1 $3" in "vm-param-get param-name=platform") [ -e "$d/args-${2#uuid=}" ] && exec cat "$d/args-${2#uuid=}" ;; esac',
      `exec '${real}' "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  Deno.chmodSync(path, 0o755);
  return { ...h.env, VGPU_XE: path };
}

// Past the open-file limit: import at 1024 (no xe call per VM here: the VMs are not on the host),
// sync at 256 with 300 VMs (each VM costs an xe process). 10,000 VMs at 1024: docs/benchmark.md.
const MANY = 1100;
const SYNCED = 300;

Deno.test(`locks: sync of ${SYNCED} VMs at ulimit -n 256 writes every VM`, async () => {
  const uuids = Array.from(
    { length: SYNCED },
    (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  );
  const h = fakeHost(uuids.map((uuid, i) => makeVm({ uuid, nameLabel: `vm${i + 1}` })));
  await manyRegistered(h, SYNCED);
  const env = await fastXe(h);
  const r = await runSh("ulimit -n 256", ["sync"], env);
  assert.doesNotMatch(r.stderr, /too many open files|bug:/i);
  assert.equal(r.code, 0, r.stderr.slice(-500));
  assert.match(r.stdout, new RegExp(`^Synced ${SYNCED} VMs\\.$`, "m"));
});

Deno.test(`locks: online import of ${MANY} VMs at ulimit -n 1024 locks them all`, async () => {
  const h = fakeHost();
  const uuids = Array.from(
    { length: MANY },
    (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  );
  const file = `${h.dir}/many.json`;
  Deno.writeTextFileSync(file, exportOf(uuids));
  const r = await runSh("ulimit -n 1024", ["import", "--yes", file], h.env);
  assert.doesNotMatch(r.stderr, /too many open files|bug:/i);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^Imported \\S+: ${MANY} added, 0 changed, 0 removed`, "m"));
});

Deno.test("locks: a bulk run and a single-VM change refuse each other, naming the holder", async () => {
  const uuids = Array.from(
    { length: 70 },
    (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  );
  const h = fakeHost(
    uuids.map((uuid, i) => makeVm({ uuid, nameLabel: `vm${i + 1}`, powerState: "running" })),
  );
  await manyRegistered(h, 70);
  // a sync of 70 VMs (the bulk lock) whose first write takes a while
  const env = await fastXe(h);
  Deno.writeTextFileSync(`${h.dir}/slow`, "");
  const child = spawnCli(["sync"], env, { piped: true });
  const out = child.output();
  await until("the sync's first vm-param-set", () => {
    try {
      return Deno.statSync(`${h.dir}/started`);
    } catch {
      return undefined;
    }
  });
  const busy = await runInProcess(
    ["set-priority", `--vm-uuid=${uuids[5]}`, "--priority=low", "--yes"],
    { env: h.env },
  );
  assert.equal(busy.code, 1, busy.stderr);
  assert.match(
    busy.stderr,
    new RegExp(`^error: VM ${uuids[5]} is being changed by another vgpu-admin \\(sync, pid \\d+`),
  );
  Deno.writeTextFileSync(`${h.dir}/go`, "");
  const r = await out;
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  assert.match(new TextDecoder().decode(r.stdout), /^Synced 70 VMs\.$/m);
});

// ---- issue 21 item 7: the disk fills while lock files are written ---------------------------

Deno.test({
  name: "locks: a full disk while the lock file is written is one clear line; nothing changed",
  ignore: !canMountTmpfs(),
  async fn() {
    const h = await runningHost();
    const dir = `${Deno.realPathSync(h.dbPath)}.locks`;
    Deno.removeSync(dir, { recursive: true });
    Deno.mkdirSync(dir, { mode: 0o700 });
    const m = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", dir],
    }).outputSync();
    assert.ok(m.success);
    try {
      // fill it: not one byte left for a holder's name
      const f = Deno.openSync(`${dir}/filler`, { write: true, create: true });
      try {
        const block = new Uint8Array(4096);
        for (;;) f.writeSync(block);
      } catch {
        /* full */
      } finally {
        f.close();
      }
      const r = await runInProcess(SET_POOL_B, { env: h.env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^error: cannot write the lock file \S+: No space left on device \(os error 28\); free space on its file system, then run the command again \(nothing was changed\)\n$/,
      );
      assert.equal(poolOf(h.dbPath), "A");
      assert.equal(findVm(readStateSync(h.statePath), UUID1)!.powerState, "running");
    } finally {
      new Deno.Command("umount", { args: ["-l", dir] }).outputSync(); // lazy: never left mounted
    }
  },
});

Deno.test("locks: a bulk import is refused while a single-VM change runs, naming it", async () => {
  const h = await runningHost();
  const { release, out } = await setPoolHeldAtShutdown(h, "the set-pool's vm-shutdown");
  const uuids = Array.from(
    { length: 70 },
    (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  );
  const file = `${h.dir}/many.json`;
  const doc = JSON.parse(exportOf(uuids));
  for (const v of doc.vms) v.vm_id += 100; // vm_id 1 is the running VM's
  Deno.writeTextFileSync(file, JSON.stringify(doc));
  const r = await runInProcess(["import", "--yes", file], { env: h.env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`^error: VM ${UUID1} is being changed by another vgpu-admin \\(set-pool, pid \\d+`),
  );
  Deno.writeTextFileSync(release, "");
  const done = await out;
  assert.equal(done.code, 0, new TextDecoder().decode(done.stderr));
  assert.equal(poolOf(h.dbPath), "B");
  // once it ended, the same import goes through
  const again = await runInProcess(["import", "--yes", "--offline", file], { env: h.env });
  assert.equal(again.code, 0, again.stderr);
});

// Pool mode (issue 17) through the CLI against the fake pool: several hosts behind one xe.
import assert from "node:assert/strict";
import { CLAIM_PREFIX, MARKER_KEY, TICKET_KEY } from "../src/domain/pool.ts";
import { readCallLog, readStateSync, updateState } from "./fake-xe/state.ts";
import {
  cliCommand,
  cliEnv,
  fileHash,
  runCli,
  runInProcess,
  until,
  writeXapiLocalDb,
} from "./helpers.ts";
import { enableAll, fakePool, poolVm } from "./pool-helpers.ts";

function poolConfig(statePath: string): Record<string, string> {
  return readStateSync(statePath).pool!.otherConfig;
}

function claimsOf(statePath: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, v] of Object.entries(poolConfig(statePath))) {
    if (k.startsWith(CLAIM_PREFIX)) out.set(Number(k.slice(CLAIM_PREFIX.length)), v);
  }
  return out;
}

function argsOf(statePath: string, uuid: string): string | undefined {
  return readStateSync(statePath).vms.find((v) => v.uuid === uuid)?.platform["device-model-args"];
}

Deno.test("pool enable turns pool mode on, the other hosts join, pool status shows it", async () => {
  const p = fakePool(3, [poolVm(1)]);
  const [h1, h2] = p.hosts;
  let r = await runInProcess(["pool", "status"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Pool mode: off$/m);
  r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Pool mode is on: 0 vm_id claims added/);
  assert.equal(poolConfig(p.statePath)[MARKER_KEY], "1");
  r = await runInProcess(["pool", "status"], { env: h2.env });
  assert.match(r.stdout, /^Pool mode: on \(format 1\) \| this host has not joined/m);
  r = await runInProcess(["pool-enable", "--yes"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /This host joined pool mode/);
  r = await runInProcess(["pool", "status", "--format=json"], { env: h2.env });
  const j = JSON.parse(r.stdout);
  assert.equal(j.pool_mode, true);
  assert.equal(j.format, 1);
  assert.equal(j.master.name, "host1");
  assert.deepEqual(j.hosts.map((h: { member: string | null }) => h.member !== null), [
    true,
    true,
    false,
  ]);
});

Deno.test("3 hosts × 8 concurrent registrations without --vm-id: 24 distinct ids, one claim each", async () => {
  const vms = Array.from({ length: 24 }, (_, i) => poolVm(i + 1));
  const p = fakePool(3, vms);
  await enableAll(p);
  const before = readCallLog(readStateSync(p.statePath)).length;
  const runs = vms.map((vm, i) =>
    runCli(["register-vm", `--vm-uuid=${vm.uuid}`], { env: p.hosts[i % 3].env })
  );
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const claims = claimsOf(p.statePath);
  assert.equal(claims.size, 24);
  // the lowest free ids, spread over a few more while hosts race: never beyond 23 others' claims
  // plus as many as appeared at once
  const ids = [...claims.keys()].sort((a, b) => a - b);
  assert.ok(ids.every((id) => id >= 1 && id <= 48), ids.join(","));
  assert.equal(new Set(claims.values()).size, 24, "one claim per VM");
  // a lost race re-reads the claims and spreads out: trying the ids in turn made ~230 adds here
  const adds = readCallLog(readStateSync(p.statePath)).slice(before)
    .filter((c) =>
      c.argv[0] === "pool-param-add" && c.argv.some((a) => a.startsWith(CLAIM_PREFIX))
    );
  assert.ok(adds.length <= 24 * 4, `${adds.length} claim adds for 24 registrations`);
  for (const [id, uuid] of claims) {
    assert.match(argsOf(p.statePath, uuid) ?? "", new RegExp(`vm_id=${id}$`));
  }
  // no ticket is left behind
  for (const vm of readStateSync(p.statePath).vms) {
    assert.equal(vm.otherConfig?.[TICKET_KEY], undefined);
  }
  // every host's database holds the whole registry after a refresh
  for (const h of p.hosts) {
    const s = await runInProcess(["pool", "status", "--format=json"], { env: h.env });
    assert.equal(JSON.parse(s.stdout).registry.length, 24);
    const l = await runInProcess(["list-vms", "--format=json"], { env: h.env });
    assert.equal(JSON.parse(l.stdout).vms.length, 24, l.stdout.slice(0, 300));
  }
});

async function registered(
  p: ReturnType<typeof fakePool>,
  host: number,
  vm: string,
  extra: string[] = [],
) {
  const r = await runInProcess(["register-vm", `--vm-uuid=${vm}`, ...extra], {
    env: p.hosts[host].env,
  });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

Deno.test("a vm_id claimed on another host is a conflict naming its holder; a newer format refuses to write", async () => {
  const p = fakePool(2, [poolVm(1, { nameLabel: "web" }), poolVm(2)]);
  await enableAll(p);
  await registered(p, 0, poolVm(1).uuid, ["--vm-id=7"]);
  const r = await runInProcess(["register-vm", `--vm-uuid=${poolVm(2).uuid}`, "--vm-id=7"], {
    env: p.hosts[1].env,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`VM ID 7 already in use by VM ${poolVm(1).uuid} \\(web\\)`));
  assert.deepEqual([...claimsOf(p.statePath)], [[7, poolVm(1).uuid]]);
  // a pool written by a newer vgpu-admin: nothing is written
  await updateState(p.statePath, (s) => {
    s.pool!.otherConfig[MARKER_KEY] = "2";
  });
  const before = JSON.stringify(readStateSync(p.statePath).pool);
  const n = await runInProcess(["register-vm", `--vm-uuid=${poolVm(2).uuid}`], {
    env: p.hosts[1].env,
  });
  assert.equal(n.code, 1);
  assert.match(n.stderr, /pool mode format 2, newer than this vgpu-admin understands \(1\)/);
  assert.equal(JSON.stringify(readStateSync(p.statePath).pool), before);
  assert.equal(argsOf(p.statePath, poolVm(2).uuid), undefined);
});

Deno.test("pool enable --dry-run lists each host's registrations and every collision with its fix; enable refuses", async () => {
  const a = poolVm(1, { nameLabel: "alpha" });
  const b = poolVm(2, { nameLabel: "beta", powerState: "running" });
  const p = fakePool(2, [a, b]);
  await updateState(p.statePath, (s) => {
    s.vms.find((v) => v.uuid === b.uuid)!.residentOn = p.hosts[1].uuid;
  });
  // standalone first: each host registers a VM with vm_id 5 in its own database
  const [h1, h2] = p.hosts;
  let r = await runInProcess(["register-vm", `--vm-uuid=${a.uuid}`, "--vm-id=5"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  r = await runInProcess(["register-vm", `--vm-uuid=${b.uuid}`, "--vm-id=5"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  const before = JSON.stringify(readStateSync(p.statePath));
  r = await runInProcess(["pool", "enable", "--dry-run"], { env: h1.env });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^This host \(host1\), its database: 1 registration$/m);
  assert.match(
    r.stdout,
    new RegExp(`^  VM ID 5 \\| ${a.uuid} \\| alpha \\| vGPU pool A, medium$`, "m"),
  );
  assert.match(r.stdout, /not claimed, on host2 .*: 1$/m);
  assert.match(
    r.stdout,
    new RegExp(
      `^  VM ID 5: VM ${a.uuid} \\(alpha, database of host1\\) and VM ${b.uuid} \\(beta, args, on host2\\)$`,
      "m",
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(`^    fix: vgpu-admin set-vm-id --vm-uuid=${b.uuid} --vm-id=1$`, "m"),
  );
  assert.equal(JSON.stringify(readStateSync(p.statePath)), before, "--dry-run changes nothing");
  r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /1 vm_id collision in the pool: fix each as shown/);
  assert.equal(poolConfig(p.statePath)[MARKER_KEY], undefined, "never enabled over a collision");
  // the fix, then both join: one claim each, nothing renumbered by vgpu-admin itself
  r = await runInProcess(["set-vm-id", `--vm-uuid=${b.uuid}`, "--vm-id=1", "--yes"], {
    env: h2.env,
  });
  assert.equal(r.code, 0, r.stderr);
  await enableAll(p);
  assert.deepEqual([...claimsOf(p.statePath)].sort(), [[1, b.uuid], [5, a.uuid]]);
});

Deno.test("set-vm-id claims the new vm_id before asking and releases the old one; remove-vm releases its claim", async () => {
  const p = fakePool(2, [poolVm(1), poolVm(2)]);
  await enableAll(p);
  await registered(p, 0, poolVm(1).uuid);
  await registered(p, 1, poolVm(2).uuid);
  assert.deepEqual([...claimsOf(p.statePath)].sort(), [[1, poolVm(1).uuid], [2, poolVm(2).uuid]]);
  // host2 moves VM 1 (registered on host1) to vm_id 2: taken pool-wide, refused naming it
  let r = await runInProcess(["set-vm-id", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=2", "--yes"], {
    env: p.hosts[1].env,
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`VM ID 2 already in use by VM ${poolVm(2).uuid}`));
  // declined at the question: the claim made for it is given back
  r = await runInProcess(["set-vm-id", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=9"], {
    env: p.hosts[1].env,
    input: ["no"],
  });
  assert.equal(r.code, 1);
  assert.deepEqual([...claimsOf(p.statePath)].sort(), [[1, poolVm(1).uuid], [2, poolVm(2).uuid]]);
  r = await runInProcess(["set-vm-id", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=9", "--yes"], {
    env: p.hosts[1].env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...claimsOf(p.statePath)].sort(), [[2, poolVm(2).uuid], [9, poolVm(1).uuid]]);
  assert.match(argsOf(p.statePath, poolVm(1).uuid)!, /vm_id=9$/);
  r = await runInProcess(["remove-vm", `--vm-uuid=${poolVm(2).uuid}`, "--yes"], {
    env: p.hosts[0].env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...claimsOf(p.statePath)], [[9, poolVm(1).uuid]]);
  for (const vm of readStateSync(p.statePath).vms) {
    assert.equal(vm.otherConfig?.[TICKET_KEY], undefined);
  }
});

Deno.test("two hosts change one VM at once: one applies, the other is refused naming host, pid, command", async () => {
  const p = fakePool(2, [poolVm(1)]);
  await enableAll(p);
  await registered(p, 0, poolVm(1).uuid);
  // host1 waits at its question, holding the VM's ticket
  const first = spawnCliPiped(
    ["set-priority", `--vm-uuid=${poolVm(1).uuid}`, "--priority=high"],
    p.hosts[0].env,
  );
  await until(
    "host1's ticket",
    () =>
      readStateSync(p.statePath).vms.find((v) => v.uuid === poolVm(1).uuid)?.otherConfig
        ?.[TICKET_KEY],
  );
  const r = await runInProcess(
    ["set-priority", `--vm-uuid=${poolVm(1).uuid}`, "--priority=low", "--yes"],
    { env: p.hosts[1].env },
  );
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `VM ${
        poolVm(1).uuid
      } is being changed by another vgpu-admin in the pool \\(host [^,]+, pid ${first.pid}, set-priority, since `,
    ),
  );
  const w = first.stdin.getWriter();
  await w.write(new TextEncoder().encode("yes\n"));
  await w.close();
  const out = await first.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(argsOf(p.statePath, poolVm(1).uuid)!, /priority=high/);
  assert.equal(
    readStateSync(p.statePath).vms.find((v) => v.uuid === poolVm(1).uuid)?.otherConfig
      ?.[TICKET_KEY],
    undefined,
  );
});

function spawnCliPiped(args: string[], env: Record<string, string>): Deno.ChildProcess {
  const [cmd, ...pre] = cliCommand();
  return new Deno.Command(cmd, {
    args: [...pre, ...args],
    clearEnv: true,
    env: cliEnv(env),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("master down: writes are refused with nothing changed; reads show the cache under a banner", async () => {
  const p = fakePool(2, [poolVm(1), poolVm(2)]);
  await enableAll(p);
  await registered(p, 0, poolVm(1).uuid);
  const h2 = p.hosts[1];
  let r = await runInProcess(["settings", "xe-timeout", "2"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  r = await runInProcess(["list-vms", "--format=json"], { env: h2.env }); // a fresh cache
  assert.equal(JSON.parse(r.stdout).vms.length, 1);
  await updateState(p.statePath, (s) => {
    s.masterDown = true;
  });
  const before = JSON.stringify(readStateSync(p.statePath));
  const dbBefore = await fileHash(h2.dbPath);
  r = await runInProcess(["register-vm", `--vm-uuid=${poolVm(2).uuid}`], { env: h2.env });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /the pool master host1 cannot be reached \(.*did not answer within 2 s.*\); nothing was changed/,
  );
  assert.equal(JSON.stringify(readStateSync(p.statePath)), before);
  assert.equal(await fileHash(h2.dbPath), dbBefore);
  r = await runInProcess(["list-vms"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^warning: the pool master host1 cannot be reached \(.*\); showing this host's cached registry from .* \(\d+ s old\)$/m,
  );
  assert.match(r.stdout, new RegExp(poolVm(1).uuid));
  r = await runInProcess(["pool", "status"], { env: h2.env });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^warning: the pool master host1 cannot be reached/m);
  assert.match(r.stdout, new RegExp(`VM ID 1 \\| ${poolVm(1).uuid}`));
});

Deno.test("pool disable: the marker turns off, claims go, every host leaves pool mode at its next contact", async () => {
  const p = fakePool(2, [poolVm(1), poolVm(2)]);
  await enableAll(p);
  await registered(p, 0, poolVm(1).uuid);
  let r = await runInProcess(["pool", "disable", "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(poolConfig(p.statePath)[MARKER_KEY], "off");
  assert.equal(claimsOf(p.statePath).size, 0);
  r = await runInProcess(["register-vm", `--vm-uuid=${poolVm(2).uuid}`], { env: p.hosts[1].env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /pool mode was turned off on this pool: this host is standalone again/);
  assert.equal(argsOf(p.statePath, poolVm(2).uuid), undefined);
  // standalone again: no pool call at all
  const calls = readCallLog(readStateSync(p.statePath)).length;
  await registered(p, 1, poolVm(2).uuid, ["--vm-id=5"]);
  const verbs = readCallLog(readStateSync(p.statePath)).slice(calls).map((c) => c.argv[0]);
  assert.ok(verbs.every((v) => v.startsWith("vm-")), verbs.join(" "));
  assert.equal(claimsOf(p.statePath).size, 0);
  // and enabling again works (the marker `off` is replaced)
  r = await runInProcess(["pool", "enable", "--yes"], { env: p.hosts[0].env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(poolConfig(p.statePath)[MARKER_KEY], "1");
  r = await runInProcess(["pool", "enable", "--yes"], { env: p.hosts[1].env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...claimsOf(p.statePath)].sort(), [[1, poolVm(1).uuid], [5, poolVm(2).uuid]]);
});

Deno.test("doctor in pool mode: the claims and HA/redo log; standalone doctor has no pool check", async () => {
  const p = fakePool(2, [poolVm(1)]);
  const root = `${p.dir}/root`;
  const env = { ...p.hosts[0].env, VGPU_PROC_ROOT: `${p.dir}/proc` };
  Deno.mkdirSync(`${p.dir}/proc`, { recursive: true });
  const ids = async () => {
    const r = await runInProcess(["doctor", `--root=${root}`, "--format=json"], { env });
    return JSON.parse(r.stdout).checks as {
      id: string;
      status: string;
      items: { message: string }[];
    }[];
  };
  await runInProcess(["register-vm", `--vm-uuid=${poolVm(1).uuid}`], { env });
  assert.ok(!(await ids()).some((c) => c.id.startsWith("pool-")), "standalone: no pool check");
  await enableAll(p);
  let checks = await ids();
  const byId = (id: string) => checks.find((c) => c.id === id)!;
  assert.equal(byId("pool-mode").status, "ok");
  assert.equal(byId("pool-claims").status, "ok");
  assert.equal(byId("pool-durability").status, "warning");
  await updateState(p.statePath, (s) => {
    delete s.pool!.otherConfig[`${CLAIM_PREFIX}1`];
  });
  // xe pool-enable-redo-log: xapi sets the flag in every host's local database
  for (const h of p.hosts) writeXapiLocalDb(h.localDb, true);
  checks = await ids();
  assert.equal(byId("pool-claims").status, "failed");
  assert.match(
    byId("pool-claims").items[0].message,
    /carries vm_id 1 in its args but holds no claim/,
  );
  assert.equal(byId("pool-durability").status, "ok");
});

Deno.test("pool enable: a VM registered on two hosts with two vm_ids is a collision, never a second claim", async () => {
  const p = fakePool(2, [poolVm(1)]);
  const [h1, h2] = p.hosts;
  let r = await runInProcess([
    "register-vm",
    `--vm-uuid=${poolVm(1).uuid}`,
    "--vm-id=3",
    "--offline",
  ], {
    env: h2.env,
  });
  assert.equal(r.code, 0, r.stderr);
  r = await runInProcess(["register-vm", `--vm-uuid=${poolVm(1).uuid}`, "--vm-id=2"], {
    env: h1.env,
  });
  assert.equal(r.code, 0, r.stderr);
  r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  r = await runInProcess(["pool", "enable", "--yes"], { env: h2.env });
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(
      `VM ${
        poolVm(1).uuid
      } \\(vm-1\\): VM ID 2 claimed in the pool, VM ID 3 in the database of host2`,
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(`fix: vgpu-admin set-vm-id --vm-uuid=${poolVm(1).uuid} --vm-id=2`),
  );
  assert.deepEqual([...claimsOf(p.statePath)], [[2, poolVm(1).uuid]]);
});

Deno.test("'pool' alone or with an unknown word is a usage error naming the four", async () => {
  for (const argv of [["pool"], ["pool", "frob"], ["--db=/nonexistent/x.db", "pool"]]) {
    const r = await runInProcess(argv);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "error: 'pool' needs one of: enable, status, reconcile, disable (e.g. 'vgpu-admin pool status --help')\n",
    );
  }
});

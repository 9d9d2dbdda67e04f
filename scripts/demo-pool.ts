// deno task demo:pool: pool mode (user guide, "Pool mode") with the real vgpu-admin CLI against a
// simulated XCP-ng pool of three hosts (the fake xe of the tests: one xapi database, and per host
// its own vgpu-admin database, inventory, /etc/xapi.d and hook log). Every step is checked as in
// `deno task demo`. Nothing outside a temporary directory is touched; it is removed at the end.
// deno-lint-ignore-file no-console
import { existsSync } from "node:fs";
import { CLAIM_PREFIX, MARKER_KEY, MEMBER_KEY } from "../src/domain/pool.ts";
import { readStateSync, updateState } from "../tests/fake-xe/state.ts";
import { writeCliWrapper } from "../tests/helpers.ts";
import { fakePool, poolVm } from "../tests/pool-helpers.ts";
import { type Expect, fail, noColor, section, stepCount, vgpuStep, xeStep } from "./demo-kit.ts";

const web = poolVm(1, { nameLabel: "web", powerState: "running" });
const render = poolVm(2, { nameLabel: "render", powerState: "running" });
const copy = poolVm(3, { nameLabel: "web-copy", powerState: "running" });
const p = fakePool(3, [web, render, copy]);
const [h1, h2] = p.hosts;
await updateState(p.statePath, (s) => {
  const on = { [web.uuid]: h1.uuid, [render.uuid]: h2.uuid, [copy.uuid]: h2.uuid };
  for (const vm of s.vms) if (on[vm.uuid]) vm.residentOn = on[vm.uuid];
});
for (const h of p.hosts) h.env.NO_COLOR = noColor();
const names = ["host1", "host2", "host3"];
const on = (i: number) => (args: string[], note = "", expect: Expect = {}) =>
  vgpuStep(p.hosts[i].env, args, note, expect, names[i]);
const [host1, host2] = [on(0), on(1)];
const xe = (i: number, args: string[], note = "", expect: Expect = {}) =>
  xeStep(p.hosts[i].env, args, note, expect, names[i]);

const pool = () => readStateSync(p.statePath).pool!;
const claims = () =>
  Object.fromEntries(
    Object.entries(pool().otherConfig).filter(([k]) => k.startsWith(CLAIM_PREFIX))
      .map(([k, v]) => [Number(k.slice(CLAIM_PREFIX.length)), v]),
  );
const vmOf = (uuid: string) => readStateSync(p.statePath).vms.find((v) => v.uuid === uuid)!;
const argsOf = (uuid: string) => vmOf(uuid).platform["device-model-args"] ?? "";
const log = (i: number) => {
  try {
    return Deno.readTextFileSync(p.hosts[i].env.VGPU_LOG).trimEnd().split("\n");
  } catch {
    return [];
  }
};

console.log(
  `vgpu-admin pool demo: a simulated XCP-ng pool of 3 hosts (host1 is the master); web runs on host1, render and web-copy on host2; files in ${p.dir} (removed at the end)`,
);
section("1. Pool mode on: host1 turns it on, host2 joins; host3 has no GPU and no vgpu-admin");
await host1(["pool", "status"], "standalone so far", {
  shows: [/^Pool mode: off$/m, /^ {2}host2 \| alive \| vgpu-admin: not joined /m],
});
await host1(["pool", "enable", "--yes"], "the marker goes into the pool's other-config", {
  shows: [/^warning: neither HA nor the redo log is on/m, /^Pool mode is on: /m],
  then: () => pool().otherConfig[MARKER_KEY] === "1" ? null : "no pool-mode marker in xapi",
});
await host2(["pool", "enable", "--yes"], "host2 joins", {
  shows: [/^This host joined pool mode/m],
  then: () =>
    readStateSync(p.statePath).hosts[1].otherConfig?.[MEMBER_KEY] ? null : "host2 has no record",
});
await host1(["pool", "status"], "from any host: who joined, and what a master crash would cost", {
  shows: [
    /^Pool mode: on /m,
    /^HA: off \| Redo log: off \(a master crash can roll back recent claims: run 'vgpu-admin pool reconcile' after one\)$/m,
    /^ {2}host2 \| alive \| vgpu-admin: joined \(v=/m,
    /^ {2}host3 \| alive \| vgpu-admin: not joined /m,
  ],
});

section("2. vm_ids are claimed pool-wide, in xapi's database");
await host1(["register-vm", `--vm-uuid=${web.uuid}`, "--priority=high"], "", {
  then: () =>
    claims()[1] === web.uuid && argsOf(web.uuid).endsWith("vm_id=1")
      ? null
      : `web carries ${argsOf(web.uuid)}`,
});
await host2(
  ["register-vm", `--vm-uuid=${render.uuid}`],
  "host2's database has no vm_id yet, the pool has 1",
  {
    shows: [/VM ID 2$/m],
    then: () =>
      claims()[2] === render.uuid && argsOf(render.uuid).endsWith("vm_id=2")
        ? null
        : `render carries ${argsOf(render.uuid)}`,
  },
);
await xe(0, ["pool-param-get", `uuid=${pool().uuid}`, "param-name=other-config"], "the claims", {
  shows: [
    new RegExp(`vgpu-admin:vm_id:1: ${web.uuid}; vgpu-admin:vm_id:2: ${render.uuid}`),
  ],
});

section("3. Every host knows every registration");
await host1(["list-vms"], "render was registered on host2", {
  shows: [new RegExp(`^│ 2 +│ ${render.uuid} │ render `, "m")],
});

section("4. Live migration: the hooks warn of a vm_id already running where the VM goes");
console.log(
  "\n# install-hook on host1 and host2: --root stands for each host's /, xapi (the fake xe) runs that\n# host's hooks from <root>/etc/xapi.d, and a wrapper script stands for the vgpu-admin binary",
);
for (const i of [0, 1]) {
  const root = `${p.dir}/host${i + 1}/root`;
  const bin = `${p.dir}/host${i + 1}/vgpu-admin`;
  writeCliWrapper(bin, p.hosts[i].env);
  // install-hook checks the binary under --root; the hooks run it where it is
  Deno.mkdirSync(`${root}${p.dir}/host${i + 1}`, { recursive: true });
  Deno.copyFileSync(bin, `${root}${bin}`);
  await on(i)(["install-hook", `--root=${root}`, `--binary=${bin}`], "", {
    shows: [/says hooks=vm-pre-start,vm-pre-resume,vm-pre-migrate,vm-post-migrate \(updated\)/],
    hides: [/warning/],
    then: () =>
      existsSync(`${root}/etc/xapi.d/vm-pre-migrate/10-vgpu-admin`)
        ? null
        : "no vm-pre-migrate hook",
  });
}
await updateState(p.statePath, (s) => {
  s.hosts.forEach((h, i) => {
    if (i < 2) h.hookRoot = `${p.dir}/host${i + 1}/root/etc/xapi.d`;
  });
  s.vms.find((v) => v.uuid === copy.uuid)!.platform["device-model-args"] = argsOf(web.uuid);
});
console.log(
  `\n# someone copied web by hand: web-copy, running on host2, carries web's args, vm_id 1 included`,
);

/** Prints the lines `host`'s hook log gained since `from`; fails unless one matches `re`. */
function hookLog(i: number, from: number, re: RegExp, what: string): void {
  const lines = log(i).slice(from);
  console.log(`# ${names[i]}'s hook log (${p.hosts[i].env.VGPU_LOG.slice(p.dir.length + 1)}):`);
  console.log(lines.join("\n"));
  if (!lines.some((l) => re.test(l))) fail(what, `expected ${names[i]}'s hook log to show ${re}`);
}
const migrate = ["vm-migrate", `uuid=${web.uuid}`, "host=host2", "live=true"];
await host1(["settings", "hook-strict", "on"], "strict mode: the hooks refuse what they warn of");
let seen = log(0).length;
await xe(0, migrate, "exit 1: host1's vm-pre-migrate hook refuses", {
  code: 1,
  shows: [/hook_name: vm-pre-migrate\/10-vgpu-admin/],
  then: () => vmOf(web.uuid).residentOn === h1.uuid ? null : "web left host1",
});
hookLog(
  0,
  seen,
  new RegExp(`result=refused VM ${copy.uuid} runs on host2 with vm_id 1: .*strict mode refuses`),
  `xe ${migrate.join(" ")}`,
);
await host1(["settings", "hook-strict", "off"], "the default: the hooks warn, never block");
seen = log(0).length;
const seen2 = log(1).length;
await xe(0, migrate, "web moves; the warning goes to the hook log", {
  then: () => vmOf(web.uuid).residentOn === h2.uuid ? null : "web is not on host2",
});
hookLog(
  0,
  seen,
  new RegExp(
    `result=warning VM ${copy.uuid} runs on host2 with vm_id 1: .*; no vgpu-admin in pool mode on host3`,
  ),
  `xe ${migrate.join(" ")}`,
);
hookLog(1, seen2, /hook=vm-post-migrate .*action=arrived/, `xe ${migrate.join(" ")}`);
await host2(["register-vm", `--vm-uuid=${copy.uuid}`], "the copy's vm_id is web's claim", {
  code: 1,
  shows: [/VM ID 1 already in use .*; pass --vm-id=3 \(the next free vm_id\)/],
  then: () => claims()[1] === web.uuid ? null : "vm_id 1 is no longer web's claim",
});
await host2(["register-vm", `--vm-uuid=${copy.uuid}`, "--vm-id=3"], "its own vm_id", {
  then: () =>
    claims()[3] === copy.uuid && argsOf(copy.uuid).endsWith("vm_id=3")
      ? null
      : `web-copy carries ${argsOf(copy.uuid)}`,
});

section("5. The master goes down: reads show host2's cache, writes are refused");
await host2(["settings", "xe-timeout", "1"], "wait 1 s for the master (default 30)");
await updateState(p.statePath, (s) => {
  s.masterDown = true;
});
console.log(`\n# host1's xapi stops answering: xe on host2 waits for it`);
await host2(["list-vms"], "the cache, under a banner", {
  shows: [
    /^warning: the pool master host1 cannot be reached \(.*\); showing this host's cached registry from /m,
    new RegExp(`^│ 3 +│ ${copy.uuid} │ web-copy `, "m"),
  ],
});
/** xapi's state and host2's database, to compare before and after. */
const snapshot = () =>
  JSON.stringify(readStateSync(p.statePath)) +
  [h2.dbPath, `${h2.dbPath}-wal`].map((f) => {
    try {
      return Deno.readFileSync(f).join(",");
    } catch {
      return "";
    }
  }).join("|");
const before = snapshot();
await host2(["set-priority", `--vm-uuid=${render.uuid}`, "--priority=low", "--yes"], "refused", {
  code: 1,
  shows: [/^error: the pool master host1 cannot be reached .*; nothing was changed/m],
  then: () => snapshot() === before ? null : "xapi's state or host2's database changed",
});
await updateState(p.statePath, (s) => {
  s.masterDown = false;
});
console.log(`\n# host1's xapi answers again`);
await host2(["settings", "xe-timeout", "--unset"], "back to the default", {
  shows: [/^xe-timeout reset to its default: 30$/m],
});

section("6. A master crash without HA or the redo log rolls claims back: pool reconcile");
const held = claims();
await updateState(p.statePath, (s) => {
  for (const k of Object.keys(s.pool!.otherConfig)) {
    if (k.startsWith(CLAIM_PREFIX)) delete s.pool!.otherConfig[k];
  }
});
console.log(
  `\n# host1 lost power; its xapi came back from its last write to disk, minutes old: no claims`,
);
await host2(["pool", "status"], "what is wrong, and the fix of each", {
  shows: [
    /^Inconsistencies: 3$/m,
    new RegExp(`VM ${web.uuid} carries vm_id 1 in its args but holds no claim\n +fix: `),
  ],
});
await host1(
  ["pool", "reconcile", "--yes"],
  "exit 1: host1 rebuilds web's claim; the others are host2's to settle",
  {
    code: 1,
    shows: [/^Cannot settle from this host \(2\):$/m, /^Done \(1\)\.$/m],
    then: () => claims()[1] === web.uuid ? null : "web's claim was not rebuilt",
  },
);
await host2(["pool", "reconcile", "--yes"], "host2 those of its own", {
  then: () =>
    JSON.stringify(claims()) === JSON.stringify(held)
      ? null
      : `claims ${JSON.stringify(claims())}, expected ${JSON.stringify(held)}`,
});
await host1(["pool", "status"], "", { shows: [/^Inconsistencies: none$/m, /^Registry: 3 VMs$/m] });

console.log(
  `\nPool demo done: ${stepCount()} commands, each did what its comment says. The temporary pool (${p.dir}) is removed.`,
);

// Pool mode (issue 17 item 3): pool status's "hooks installed" of a host is the record that host
// keeps in the pool (its host other-config `vgpu-admin:member`); install-hook and uninstall-hook
// update it and say so. Through the CLI against the fake pool; the hooks go under a --root.
import assert from "node:assert/strict";
import { MEMBER_KEY } from "../src/domain/pool.ts";
import { readStateSync, updateState } from "./fake-xe/state.ts";
import { runInProcess, tempDir } from "./helpers.ts";
import { enableAll, fakePool } from "./pool-helpers.ts";

const ALL = "vm-pre-start,vm-pre-resume,vm-pre-migrate,vm-post-migrate";

Deno.test("install-hook and uninstall-hook in pool mode update this host's record of its hooks; pool status shows it", async () => {
  const p = fakePool(2);
  const [h1, h2] = p.hosts;
  const root = tempDir("vgpu-pool-root-");
  const member = (i: number) => readStateSync(p.statePath).hosts[i].otherConfig?.[MEMBER_KEY];
  const statusHooks = async () => {
    const r = await runInProcess(["pool", "status", "--format=json"], { env: h2.env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).hosts.map((h: { member: string | null }) => h.member);
  };
  let r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(member(0) ?? "", / hooks=none$/);
  r = await runInProcess(["install-hook", `--root=${root}`], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `pool mode: this host's record in the pool \\(host other-config ${MEMBER_KEY}\\) says hooks=${ALL} \\(updated\\)`,
    ),
  );
  assert.match(member(0) ?? "", new RegExp(` hooks=${ALL}$`));
  // another host sees it in pool status
  const [first, second] = await statusHooks();
  assert.match(first, new RegExp(`hooks=${ALL}$`));
  assert.equal(second, null, "host2 never joined");
  // again: nothing to write
  r = await runInProcess(["install-hook", `--root=${root}`], { env: h1.env });
  assert.match(r.stdout, /says hooks=.* \(unchanged\)/);
  // uninstall-hook: the record follows the files
  r = await runInProcess(["uninstall-hook", `--root=${root}`], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /says hooks=none \(updated\)/);
  assert.match((await statusHooks())[0], / hooks=none$/);
  // a standalone host's install-hook says nothing of the pool and calls no xe
  r = await runInProcess(["install-hook", `--root=${tempDir("vgpu-solo-root-")}`], {
    env: { ...h2.env, VGPU_XE: "/nonexistent/xe" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /pool mode/);
  // the master out of reach: the files are installed, the record is a warning
  await updateState(p.statePath, (s) => {
    s.masterDown = true;
    s.pool!.master = s.hosts[0].uuid;
  });
  r = await runInProcess(["install-hook", `--root=${root}`], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: pool mode: this host's record in the pool could not be updated/);
  assert.match(member(0) ?? "", / hooks=none$/);
});

Deno.test("pool enable records the hooks this host has (its /etc/xapi.d, VGPU_HOOK_ROOT in tests), never another machine's", async () => {
  const p = fakePool(2);
  const [h1] = p.hosts;
  // host1's hooks are installed before it joins; host2 has none
  const r = await runInProcess(["install-hook", `--root=${h1.root}`], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  await enableAll(p);
  const member = (i: number) => readStateSync(p.statePath).hosts[i].otherConfig?.[MEMBER_KEY];
  assert.match(member(0) ?? "", new RegExp(` hooks=${ALL}$`));
  assert.match(member(1) ?? "", / hooks=none$/);
});

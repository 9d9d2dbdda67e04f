/**
 * Tests of the fake xe (tests/fake-xe): it must behave like the real xe of xe-reference.md, since
 * every other test trusts it. It runs as a subprocess through its sh wrapper, as vgpu-admin runs it.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_HOST_UUID,
  defaultState,
  DOM0_UUID,
  FAKE_XE_PATH,
  type FakeState,
  fakeXeEnv,
  findVm,
  makeHost,
  makeVm,
  readCallLog,
  readHookLog,
  readState,
  updateState,
  writeHookScript,
  writeState,
} from "./fake-xe/state.ts";

const U = "7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff";
const ARGS = "-device vgpu-stub,pool_id=A,priority=high,vm_id=1";
const BAD_POWER =
  "You attempted an operation on a VM that was not in an appropriate power state at the time; for example, you attempted to start a VM that was already running. The parameters returned are the VM's handle, and the expected and actual VM state at the time of the call.";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Env {
  dir: string;
  statePath: string;
  xe(...args: string[]): Promise<Run>;
  spawn(...args: string[]): Deno.ChildProcess;
  state(): Promise<FakeState>;
}

function exampleVm() {
  return makeVm({
    uuid: U,
    nameLabel: "web, db; test",
    platform: {
      "device-model": "qemu-upstream-compat",
      "device-model-args": ARGS,
      viridian: "true",
    },
  });
}

async function withFake(
  setup: (state: FakeState, dir: string) => void,
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fake-xe-test-" });
  try {
    const statePath = `${dir}/state.json`;
    const state = defaultState();
    setup(state, dir);
    await writeState(statePath, state);
    const command = (args: string[]) =>
      new Deno.Command(FAKE_XE_PATH, {
        args,
        env: fakeXeEnv(statePath),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    const decoder = new TextDecoder();
    await fn({
      dir,
      statePath,
      async xe(...args) {
        const out = await command(args).output();
        return {
          code: out.code,
          stdout: decoder.decode(out.stdout),
          stderr: decoder.decode(out.stderr),
        };
      },
      spawn: (...args) => command(args).spawn(),
      state: () => readState(statePath),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ok = (stdout: string): Run => ({ code: 0, stdout, stderr: "" });
const err = (stderr: string, stdout = ""): Run => ({ code: 1, stdout, stderr });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `pred` (every 20 ms, up to 10 s): spawned fakes start at their own pace on a busy machine. */
async function waitFor(what: string, pred: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Kill a spawned fake and drain its pipes; returns its output. */
async function kill(child: Deno.ChildProcess): Promise<{ status: Deno.CommandStatus; out: Run }> {
  child.kill("SIGTERM");
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    status: { success: out.success, code: out.code, signal: out.signal },
    out: { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) },
  };
}

// ---------------------------------------------------------------------------------------------
// vm-list

Deno.test("vm-list: the xe-reference.md record, byte for byte", async () => {
  await withFake((s) => s.vms.push(exampleVm()), async ({ xe }) => {
    assert.deepEqual(
      await xe("vm-list", `uuid=${U}`, "params=uuid,name-label,power-state,platform"),
      ok(
        "uuid ( RO)           : 7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff\n" +
          "     name-label ( RW): web, db; test\n" +
          "    power-state ( RO): halted\n" +
          "       platform (MRW): device-model: qemu-upstream-compat; device-model-args: -device vgpu-stub,pool_id=A,priority=high,vm_id=1; viridian: true\n" +
          "\n\n",
      ),
    );
    // params order does not matter, unknown names are dropped
    assert.deepEqual(
      await xe("vm-list", `uuid=${U}`, "params=platform,bogus,power-state,name-label,uuid"),
      await xe("vm-list", `uuid=${U}`, "params=uuid,name-label,power-state,platform"),
    );
  });
});

Deno.test("vm-list: dom0 included, filters, templates and snapshots hidden", async () => {
  const running = makeVm({ nameLabel: "b", powerState: "running", domid: 3 });
  await withFake((s) => {
    s.vms.push(exampleVm(), running);
    s.vms.push(makeVm({ nameLabel: "tpl", isTemplate: true }));
    s.vms.push(makeVm({ nameLabel: "snap", isSnapshot: true }));
  }, async ({ xe }) => {
    const dom0 = `uuid ( RO)           : ${DOM0_UUID}\n` +
      "     name-label ( RW): Control domain on host: xcp-host\n" +
      "    power-state ( RO): running\n\n\n";
    const vm = `uuid ( RO)           : ${U}\n` +
      "     name-label ( RW): web, db; test\n" +
      "    power-state ( RO): halted\n\n\n";
    const vmB = `uuid ( RO)           : ${running.uuid}\n` +
      "     name-label ( RW): b\n" +
      "    power-state ( RO): running\n\n\n";
    assert.deepEqual(await xe("vm-list"), ok(dom0 + vm + vmB));
    assert.deepEqual(await xe("vm-list", "is-control-domain=false"), ok(vm + vmB));
    assert.deepEqual(await xe("vm-list", "is-control-domain=true"), ok(dom0));
    assert.deepEqual(
      await xe("vm-list", "power-state=running", "is-control-domain=false"),
      ok(vmB),
    );
    assert.deepEqual(await xe("vm-list", "name-label=B"), ok("")); // case-sensitive
    // the default filter is-a-template=false always applies, so templates never show
    assert.deepEqual(await xe("vm-list", "is-a-template=true"), ok(""));
    assert.deepEqual(await xe("vm-list", "platform:viridian=true"), ok(vm));
    assert.deepEqual(await xe("vm-list", "platform-viridian=true"), ok(vm)); // old map syntax
    assert.deepEqual(await xe("vm-list", `resident-on=${DEFAULT_HOST_UUID}`), ok(dom0 + vmB));
    assert.deepEqual(
      await xe("vm-list", "params=uuid", "--minimal"),
      ok(`${DOM0_UUID},${U},${running.uuid}\n`),
    );
  });
});

Deno.test("vm-list: unknown uuid, unknown field, empty results", async () => {
  await withFake((s) => s.vms.push(exampleVm()), async ({ xe }) => {
    assert.deepEqual(await xe("vm-list", "uuid=nope"), ok(""));
    assert.deepEqual(await xe("vm-list", "uuid=nope", "--minimal"), ok("\n"));
    assert.deepEqual(await xe("vm-list", "bogus=1"), err("Error: Unknown field 'bogus'\n"));
    assert.deepEqual(await xe("vm-list", "bogus:x=1"), err("Error: Unknown field 'bogus:x'\n"));
    // filtering stops at an empty list, so a later unknown field is never checked
    assert.deepEqual(await xe("vm-list", "uuid=nope", "bogus=1"), ok(""));
  });
  await withFake((s) => (s.vms = []), async ({ xe }) => {
    assert.deepEqual(await xe("vm-list"), ok(""));
  });
});

Deno.test("vm-list: all fields, resident-on of a halted VM, --minimal escaping", async () => {
  await withFake((s) => {
    s.vms.push(exampleVm());
    s.vms.push(makeVm({ uuid: "u2", nameLabel: String.raw`back\slash,comma` }));
  }, async ({ xe }) => {
    assert.deepEqual(
      await xe("vm-list", `uuid=${U}`, "params=all"),
      ok(
        `uuid ( RO)                 : ${U}\n` +
          "           name-label ( RW): web, db; test\n" +
          "     name-description ( RW): \n" +
          "         user-version ( RW): 1\n" +
          "        is-a-template ( RW): false\n" +
          "        is-a-snapshot ( RO): false\n" +
          "    is-control-domain ( RO): false\n" +
          "          power-state ( RO): halted\n" +
          "        memory-actual ( RO): 0\n" +
          `             platform (MRW): device-model: qemu-upstream-compat; device-model-args: ${ARGS}; viridian: true\n` +
          "          resident-on ( RO): <not in database>\n" +
          "         other-config (MRW): \n" +
          "               dom-id ( RO): -1\n" +
          "         VCPUs-number ( RO): 1\n\n\n",
      ),
    );
    assert.deepEqual(
      await xe("vm-list", "is-control-domain=false", "params=name-label", "--minimal"),
      ok(String.raw`web\, db; test,back\\slash\,comma` + "\n"),
    );
    // the first field in record order, whatever the order in params=
    assert.deepEqual(
      await xe("vm-list", "uuid=u2", "params=power-state,name-label", "--minimal"),
      ok(String.raw`back\\slash\,comma` + "\n"),
    );
    assert.deepEqual(
      await xe("vm-list", "uuid=u2", "params=platform", "minimal=true"),
      ok("\n"), // empty map
    );
  });
});

Deno.test("vm-list: 5,000 VMs well under a second", async () => {
  await withFake((s) => {
    for (let i = 0; i < 5000; i++) {
      s.vms.push(makeVm({
        nameLabel: `vm-${i}`,
        platform: { "device-model-args": `-device vgpu-stub,pool_id=P${i % 7},vm_id=${i}` },
      }));
    }
  }, async ({ xe }) => {
    const t0 = performance.now();
    const r = await xe(
      "vm-list",
      "is-control-domain=false",
      "params=uuid,name-label,power-state,platform",
    );
    const elapsed = performance.now() - t0;
    assert.equal(r.code, 0);
    assert.equal(r.stdout.split("\n\n\n").length - 1, 5000);
    assert.ok(elapsed < 1000, `vm-list of 5000 VMs took ${elapsed} ms`);
  });
});

Deno.test("host-list", async () => {
  await withFake(
    (s) => s.hosts.push(makeHost({ uuid: "h2", nameLabel: "two", hostname: "two.lan" })),
    async ({ xe }) => {
      assert.deepEqual(
        await xe("host-list", "params=uuid,name-label,hostname"),
        ok(
          `uuid ( RO)          : ${DEFAULT_HOST_UUID}\n` +
            "    name-label ( RW): xcp-host\n" +
            "      hostname ( RO): xcp-host\n\n\n" +
            "uuid ( RO)          : h2\n" +
            "    name-label ( RW): two\n" +
            "      hostname ( RO): two.lan\n\n\n",
        ),
      );
      assert.deepEqual(await xe("host-list", "--minimal"), ok(`${DEFAULT_HOST_UUID},h2\n`));
    },
  );
});

// ---------------------------------------------------------------------------------------------
// vm-param-*

Deno.test("vm-param-get", async () => {
  await withFake((s) => s.vms.push(exampleVm()), async ({ xe }) => {
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=power-state"),
      ok("halted\n"),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=name-label"),
      ok("web, db; test\n"),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=platform", "param-key=device-model-args"),
      ok(ARGS + "\n"),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=platform"),
      ok(`device-model: qemu-upstream-compat; device-model-args: ${ARGS}; viridian: true\n`),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=platform", "param-key=device_model_args"),
      err("Error: Key device_model_args not found in map\n"),
    );
    assert.deepEqual(
      await xe(
        "vm-param-get",
        "uuid=00000000-0000-0000-0000-000000000000",
        "param-name=power-state",
      ),
      err(
        "The uuid you supplied was invalid.\ntype: VM\nuuid: 00000000-0000-0000-0000-000000000000\n",
      ),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=bogus"),
      err("Error code: Missing parameter\nError parameters: bogus\n"),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`),
      err("Required parameter not found: param-name\nFor usage run: 'xe help'\n"),
    );
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=name-label", "--minimal"),
      ok(String.raw`web\, db; test` + "\n"),
    );
  });
});

Deno.test("vm-param-set and vm-param-remove", async () => {
  const running = makeVm({ nameLabel: "r", powerState: "running", domid: 2 });
  await withFake((s) => s.vms.push(exampleVm(), running), async ({ xe, state }) => {
    const value = "-device vgpu-stub,pool_id=B,priority=low,vm_id=9 -x a=b;c: d";
    assert.deepEqual(
      await xe(
        "vm-param-set",
        `uuid=${U}`,
        `platform:device-model-args=${value}`,
        "platform:new=1",
        "name-label=renamed",
      ),
      ok(""),
    );
    let vm = findVm(await state(), U)!;
    assert.equal(vm.nameLabel, "renamed");
    // remove-then-add: a replaced key moves to the end of the map
    assert.deepEqual(vm.platform, {
      "device-model": "qemu-upstream-compat",
      viridian: "true",
      "device-model-args": value,
      new: "1",
    });
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=platform", "param-key=device-model-args"),
      ok(value + "\n"),
    );
    // any power state
    assert.deepEqual(await xe("vm-param-set", `uuid=${running.uuid}`, "platform:k=v"), ok(""));
    assert.deepEqual(findVm(await state(), running.uuid)!.platform, { k: "v" });

    assert.deepEqual(
      await xe("vm-param-set", `uuid=${U}`, "power-state=running"),
      err("Error: Field 'power-state' is read-only.\n"),
    );
    assert.deepEqual(
      await xe("vm-param-set", "uuid=nope", "platform:a=b"),
      err("The uuid you supplied was invalid.\ntype: VM\nuuid: nope\n"),
    );
    // a newline splits the argument in two, as real xe does: the first half is applied
    assert.deepEqual(
      await xe("vm-param-set", `uuid=${U}`, "platform:nl=one\ntwo"),
      err("Error: Unknown field 'two'\n"),
    );
    assert.equal(findVm(await state(), U)!.platform.nl, "one");

    assert.deepEqual(
      await xe("vm-param-remove", `uuid=${U}`, "param-name=platform", "param-key=new"),
      ok(""),
    );
    assert.deepEqual(
      await xe("vm-param-remove", `uuid=${U}`, "param-name=platform", "param-key=new"),
      err("Error: Key new is not in map\n"),
    );
    assert.deepEqual(
      await xe("vm-param-remove", "uuid=nope", "param-name=platform", "param-key=new"),
      err("The uuid you supplied was invalid.\ntype: VM\nuuid: nope\n"),
    );
    assert.deepEqual(
      await xe("vm-param-remove", `uuid=${U}`, "param-name=platform"),
      err("Required parameter not found: param-key\nFor usage run: 'xe help'\n"),
    );
    vm = findVm(await state(), U)!;
    assert.equal(Object.hasOwn(vm.platform, "new"), false);
  });
});

Deno.test("concurrent vm-param-set calls lose no update", async () => {
  await withFake((s) => s.vms.push(exampleVm()), async ({ xe, state }) => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => xe("vm-param-set", `uuid=${U}`, `platform:k${i}=${i}`)),
    );
    for (const r of results) assert.deepEqual(r, ok(""));
    const platform = findVm(await state(), U)!.platform;
    for (let i = 0; i < 12; i++) assert.equal(platform[`k${i}`], String(i));
  });
});

// ---------------------------------------------------------------------------------------------
// Power

Deno.test("vm-start and vm-shutdown: state changes and power-state errors", async () => {
  const other = makeVm({ nameLabel: "other", powerState: "running", domid: 1 });
  await withFake((s) => {
    s.vms.push(exampleVm(), other, makeVm({ uuid: "tpl", nameLabel: "tpl", isTemplate: true }));
    s.hosts.push(makeHost({ uuid: "h2", nameLabel: "two" }));
  }, async ({ xe, state }) => {
    const bad = (vm: string, expected: string, actual: string) =>
      err(`${BAD_POWER}\nvm: ${vm}\nexpected: ${expected}\nactual: ${actual}\n`);
    const label = `${U} (web, db; test)`;

    assert.deepEqual(await xe("vm-shutdown", `uuid=${U}`), bad(label, "running", "halted"));
    assert.deepEqual(
      await xe("vm-shutdown", `uuid=${U}`, "force=true"),
      bad(label, "paused, suspended, running", "halted"),
    );
    assert.deepEqual(await xe("vm-start", `uuid=${U}`, "on=h2"), ok(""));
    let vm = findVm(await state(), U)!;
    assert.equal(vm.powerState, "running");
    assert.equal(vm.residentOn, "h2");
    assert.equal(vm.domid, 2); // 1 is taken by "other", 0 by dom0
    assert.equal(vm.bootedArgs, ARGS);
    assert.deepEqual(await xe("vm-start", `uuid=${U}`), bad(label, "halted", "running"));

    assert.deepEqual(await xe("vm-shutdown", `uuid=${U}`), ok(""));
    vm = findVm(await state(), U)!;
    assert.deepEqual([vm.powerState, vm.residentOn, vm.domid], ["halted", null, -1]);
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=resident-on"),
      ok("<not in database>\n"),
    );

    assert.deepEqual(await xe("vm-start", `uuid=${U}`), ok(""));
    vm = findVm(await state(), U)!;
    assert.equal(vm.residentOn, DEFAULT_HOST_UUID);
    assert.deepEqual(await xe("vm-shutdown", `uuid=${U}`, "--force"), ok(""));
    assert.equal(findVm(await state(), U)!.powerState, "halted");

    const none = err("Error: No matching VMs found\n");
    assert.deepEqual(await xe("vm-start", "uuid=nope"), none);
    assert.deepEqual(await xe("vm-start", "uuid=tpl"), none);
    assert.deepEqual(await xe("vm-shutdown", `uuid=${DOM0_UUID}`), none);
    assert.deepEqual(await xe("vm-shutdown", `uuid=${DOM0_UUID}`, "force=true"), none);
    // vm-start does select dom0 (include_control_vms), which is running
    assert.deepEqual(
      await xe("vm-start", `uuid=${DOM0_UUID}`),
      bad(`${DOM0_UUID} (Control domain on host: xcp-host)`, "halted", "running"),
    );
    const unknownHost = await xe("vm-start", `uuid=${U}`, "on=nowhere");
    assert.deepEqual(unknownHost, err("Error: Host nowhere not found\n"));
    assert.equal(findVm(await state(), U)!.powerState, "halted");
    // --minimal makes every successful command print one (empty) line
    assert.deepEqual(await xe("vm-start", `vm=web, db; test`, "--minimal"), ok("\n"));
    assert.deepEqual(
      await xe("vm-shutdown", "power-state=running", "is-control-domain=false"),
      err("Error: Multiple matches VMs found. --multiple required to complete the operation\n"),
    );
  });
});

Deno.test("clean shutdown ignored by the guest hangs; the VM stays running", async () => {
  await withFake((s, dir) => {
    s.vms.push(makeVm({ uuid: U, nameLabel: "w", powerState: "running", domid: 1 }));
    s.ignoreCleanShutdown = true;
    s.callLog = `${dir}/calls.log`;
  }, async ({ xe, spawn, state }) => {
    const child = spawn("vm-shutdown", `uuid=${U}`);
    await waitFor("the hanging call", async () => readCallLog(await state()).length === 1);
    await sleep(200);
    // the hanging call holds no lock
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=power-state"),
      ok("running\n"),
    );
    const { status } = await kill(child);
    assert.equal(status.signal, "SIGTERM");
    assert.equal(findVm(await state(), U)!.powerState, "running");
    // a hard shutdown still works
    assert.deepEqual(await xe("vm-shutdown", `uuid=${U}`, "force=true"), ok(""));
    assert.equal(findVm(await state(), U)!.powerState, "halted");
  });
});

Deno.test("late clean shutdown completes after the client gave up", async () => {
  await withFake((s) => {
    s.vms.push(makeVm({ uuid: U, nameLabel: "w", powerState: "running", domid: 1 }));
    s.lateShutdownMs = 1200;
  }, async ({ xe, spawn, state }) => {
    const t0 = Date.now();
    const child = spawn("vm-shutdown", `uuid=${U}`);
    await waitFor("haltAt", async () => findVm(await state(), U)!.haltAt !== undefined);
    await sleep(100);
    await kill(child); // the client's timeout
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=power-state"),
      ok("running\n"),
    );
    const haltAt = findVm(await state(), U)!.haltAt!;
    assert.ok(haltAt >= t0 + 1200 && haltAt <= Date.now() + 1200);
    // a second clean shutdown meanwhile
    const busy = await xe("vm-shutdown", `uuid=${U}`);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^Another operation involving the object is currently in progress\n/);
    await sleep(haltAt - Date.now() + 20);
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=power-state"),
      ok("halted\n"),
    );
    const vm = findVm(await state(), U)!;
    assert.deepEqual([vm.powerState, vm.residentOn, vm.domid, vm.haltAt], [
      "halted",
      null,
      -1,
      undefined,
    ]);
  });
  // a client that waits long enough sees the shutdown complete
  await withFake((s) => {
    s.vms.push(
      makeVm({ uuid: U, nameLabel: "w", powerState: "running", domid: 1, lateShutdownMs: 200 }),
    );
  }, async ({ xe, state }) => {
    const t0 = Date.now();
    assert.deepEqual(await xe("vm-shutdown", `uuid=${U}`), ok(""));
    assert.ok(Date.now() - t0 >= 200);
    assert.equal(findVm(await state(), U)!.powerState, "halted");
  });
});

// ---------------------------------------------------------------------------------------------
// vm-start runs the vm-pre-start hooks like xenopsd

Deno.test("vm-start runs hooks in name order with PATH only; exit 1 continues; bootedArgs is pre-hook", async () => {
  await withFake((s, dir) => {
    s.vms.push(exampleVm());
    s.hookDir = `${dir}/hooks`;
    s.hookLog = `${dir}/hooks.log`;
  }, async ({ dir, statePath, xe, state }) => {
    await Deno.mkdir(`${dir}/hooks`);
    const order = `${dir}/order`;
    // "10-" sorts before "2-" (byte order)
    await Deno.writeTextFile(
      `${dir}/hooks/2-env`,
      `#!/bin/sh\necho 2 >> ${order}\ntr '\\0' '\\n' < /proc/$$/environ > ${dir}/env\necho "$*" > ${dir}/args\npwd > ${dir}/cwd\necho logged\nexit 1\n`,
    );
    await Deno.chmod(`${dir}/hooks/2-env`, 0o755);
    // this hook repairs the platform key through the fake itself (the lock must be free)
    await writeHookScript(
      `${dir}/hooks/10-repair`,
      [FAKE_XE_PATH, "vm-param-set", `uuid=${U}`, "platform:device-model-args=REPAIRED"],
      fakeXeEnv(statePath),
      { passArgs: false },
    );
    await Deno.writeTextFile(`${dir}/hooks/05-order`, `#!/bin/sh\necho 05 >> ${order}\n`);
    await Deno.chmod(`${dir}/hooks/05-order`, 0o755);
    // a wrapper that spells out an environment and passes xenopsd's arguments on
    await Deno.writeTextFile(`${dir}/inner`, `#!/bin/sh\necho "$FOO|$*" > ${dir}/wrapped\n`);
    await Deno.chmod(`${dir}/inner`, 0o755);
    await writeHookScript(`${dir}/hooks/30-wrapper`, [`${dir}/inner`, "first"], { FOO: "b'a r" });

    assert.deepEqual(await xe("vm-start", `uuid=${U}`), ok(""));
    assert.equal(await Deno.readTextFile(order), "05\n2\n");
    assert.equal(await Deno.readTextFile(`${dir}/env`), "PATH=/sbin:/usr/sbin:/bin:/usr/bin\n");
    assert.equal(await Deno.readTextFile(`${dir}/args`), `-vmuuid ${U} -reason none\n`);
    assert.equal(await Deno.readTextFile(`${dir}/cwd`), "/\n");
    assert.equal(
      await Deno.readTextFile(`${dir}/wrapped`),
      `b'a r|first -vmuuid ${U} -reason none\n`,
    );
    const vm = findVm(await state(), U)!;
    assert.equal(vm.powerState, "running");
    assert.equal(vm.platform["device-model-args"], "REPAIRED"); // the hook's write is kept
    assert.equal(vm.bootedArgs, ARGS); // but the VM booted with what it had before the hooks
    const log = readHookLog(await state());
    assert.deepEqual(log.map((h) => [h.script.slice(dir.length), h.exit, h.stdout]), [
      ["/hooks/05-order", 0, ""],
      ["/hooks/10-repair", 0, ""],
      ["/hooks/2-env", 1, "logged\n"],
      ["/hooks/30-wrapper", 0, ""],
    ]);
  });
});

Deno.test("vm-start: a hook exiting 2 aborts the start; the VM stays halted", async () => {
  await withFake((s, dir) => {
    s.vms.push(exampleVm());
    s.hookDir = `${dir}/hooks`;
  }, async ({ dir, xe, state }) => {
    await Deno.mkdir(`${dir}/hooks`);
    await Deno.writeTextFile(
      `${dir}/hooks/10-refuse`,
      "#!/bin/sh\necho refused: stale args\nexit 2\n",
    );
    await Deno.chmod(`${dir}/hooks/10-refuse`, 0o755);
    await Deno.writeTextFile(`${dir}/hooks/20-never`, `#!/bin/sh\ntouch ${dir}/ran\n`);
    await Deno.chmod(`${dir}/hooks/20-never`, 0o755);
    assert.deepEqual(
      await xe("vm-start", `uuid=${U}`),
      err(
        "3rd party xapi hook failed\n" +
          "hook_name: vm-pre-start/10-refuse\n" +
          "reason: none\n" +
          "stdout: refused: stale args\n\n" +
          "exit_code: 2\n",
      ),
    );
    const vm = findVm(await state(), U)!;
    assert.deepEqual([vm.powerState, vm.residentOn, vm.domid, vm.bootedArgs], [
      "halted",
      null,
      -1,
      undefined,
    ]);
    assert.equal(await Deno.stat(`${dir}/ran`).then(() => true, () => false), false);

    // a hook that cannot be executed fails the start like forkexecd's exit 126
    await Deno.remove(`${dir}/hooks/10-refuse`);
    await Deno.writeTextFile(`${dir}/hooks/15-noexec`, "#!/bin/sh\nexit 0\n");
    const noexec = await xe("vm-start", `uuid=${U}`);
    assert.deepEqual(
      noexec,
      err(
        "3rd party xapi hook failed\nhook_name: vm-pre-start/15-noexec\nreason: none\nstdout: \nexit_code: 126\n",
      ),
    );
    // killed by a signal: an internal error
    await Deno.writeTextFile(`${dir}/hooks/15-noexec`, "#!/bin/sh\nkill -9 $$\n");
    await Deno.chmod(`${dir}/hooks/15-noexec`, 0o755);
    const killed = await xe("vm-start", `uuid=${U}`);
    assert.equal(killed.code, 1);
    assert.match(
      killed.stderr,
      /^The server failed to handle your request, due to an internal error\./,
    );
    assert.equal(findVm(await state(), U)!.powerState, "halted");
  });
});

// ---------------------------------------------------------------------------------------------
// Faults, call log, usage errors

Deno.test("faults: fail, garbage, times and match", async () => {
  await withFake((s) => {
    s.vms.push(exampleVm());
    s.faults = {
      "vm-param-get": {
        mode: "fail",
        stderr: "Error: Connection refused\n",
        times: 2,
        match: ["param-name=power-state"],
      },
      "vm-list": { mode: "garbage", stdout: "uuid ( RO: x\n" },
      "vm-param-set": { mode: "fail", stderr: "boom\n", exitCode: 3, times: 1 },
    };
  }, async ({ xe, state }) => {
    const get = () => xe("vm-param-get", `uuid=${U}`, "param-name=power-state");
    assert.deepEqual(
      await xe("vm-param-get", `uuid=${U}`, "param-name=name-label"),
      ok("web, db; test\n"),
    );
    assert.deepEqual(await get(), err("Error: Connection refused\n"));
    assert.deepEqual(await get(), err("Error: Connection refused\n"));
    assert.deepEqual(await get(), ok("halted\n"));
    assert.deepEqual(await xe("vm-list"), ok("uuid ( RO: x\n"));
    assert.deepEqual(await xe("vm-list"), ok("uuid ( RO: x\n"));
    assert.deepEqual(await xe("vm-param-set", `uuid=${U}`, "platform:a=b"), {
      code: 3,
      stdout: "",
      stderr: "boom\n",
    });
    const s = await state();
    assert.equal(Object.hasOwn(findVm(s, U)!.platform, "a"), false); // no state change
    assert.deepEqual(Object.keys(s.faults!), ["vm-list"]);
    assert.deepEqual(await xe("vm-param-set", `uuid=${U}`, "platform:a=b"), ok(""));
  });
});

Deno.test("faults: hang until killed, without holding the lock; delay", async () => {
  await withFake((s, dir) => {
    s.vms.push(exampleVm());
    s.faults = { "vm-start": { mode: "hang", times: 1 }, "vm-list": { mode: "delay", ms: 300 } };
    s.callLog = `${dir}/calls.log`;
    s.exitLog = `${dir}/exits.log`;
  }, async ({ xe, spawn, state }) => {
    const child = spawn("vm-start", `uuid=${U}`);
    await waitFor("the hanging call", async () => readCallLog(await state()).length === 1);
    await sleep(100);
    assert.deepEqual(await xe("vm-param-set", `uuid=${U}`, "platform:x=1"), ok(""));
    const { status, out } = await kill(child);
    assert.equal(status.signal, "SIGTERM");
    assert.deepEqual([out.stdout, out.stderr], ["", ""]);
    assert.equal(findVm(await state(), U)!.powerState, "halted");
    assert.deepEqual(await xe("vm-start", `uuid=${U}`), ok("")); // times: 1 used up

    const t0 = Date.now();
    assert.equal((await xe("vm-list", "uuid=nope")).code, 0);
    assert.ok(Date.now() - t0 >= 300);

    const log = readCallLog(await state());
    assert.deepEqual(log.map((c) => [c.argv, c.exit]), [
      [["vm-start", `uuid=${U}`], undefined], // killed: logged, no exit
      [["vm-param-set", `uuid=${U}`, "platform:x=1"], 0],
      [["vm-start", `uuid=${U}`], 0],
      [["vm-list", "uuid=nope"], 0],
    ]);
  });
});

Deno.test("call log: one line per call, errors included", async () => {
  await withFake((s, dir) => {
    s.callLog = `${dir}/calls.log`;
  }, async ({ dir, xe, state }) => {
    await xe("vm-list", "is-control-domain=false", "--minimal");
    await xe("vm-param-get", "uuid=x", "param-name=power-state");
    await xe("bogus-verb");
    const lines = (await Deno.readTextFile(`${dir}/calls.log`)).trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.deepEqual(readCallLog(await state()).map((c) => c.argv), [
      ["vm-list", "is-control-domain=false", "--minimal"],
      ["vm-param-get", "uuid=x", "param-name=power-state"],
      ["bogus-verb"],
    ]);
  });
});

Deno.test("usage errors", async () => {
  await withFake(() => {}, async ({ xe }) => {
    assert.deepEqual(
      await xe("vm-frobnicate", "uuid=x"),
      err("Unknown command: vm-frobnicate\nFor usage run: 'xe help'\n"),
    );
    assert.deepEqual(
      await xe("vm-param-set"),
      err("Required parameter not found: uuid\nFor usage run: 'xe help'\n"),
    );
    assert.deepEqual(await xe("uuid=x"), err("Syntax error: \nFor usage run: 'xe help'\n"));
    const help = await xe("help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /vm-list/);
  });
});

Deno.test("state helpers", async () => {
  const s = defaultState({ hostname: "h1" });
  assert.equal(s.vms[0].nameLabel, "Control domain on host: h1");
  assert.equal(s.vms[0].isControlDomain, true);
  assert.equal(s.hosts[0].hostname, "h1");
  const vm = makeVm({ powerState: "running" });
  assert.deepEqual([vm.residentOn, vm.domid, vm.platform], [DEFAULT_HOST_UUID, 1, {}]);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/s.json`;
    await writeState(path, s);
    await updateState(path, (st) => {
      st.vms.push(vm);
    });
    assert.equal((await readState(path)).vms.length, 2);
    // No temp file left; the lock file stays (an flock on it is what is held, not the file).
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "s.json",
      "s.json.lock",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

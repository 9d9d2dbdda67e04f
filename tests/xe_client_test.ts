// src/xe/client.ts against an in-process stub runner (style.md rule 9), and src/xe/runner.ts
// against tiny real executables in a temp dir.

import assert from "node:assert/strict";
import {
  VgpuError,
  XeError,
  XeKeyMissingError,
  XeMissingError,
  XeOutputError,
  XePowerStateError,
  XeTimeoutError,
  XeVmNotFoundError,
} from "../src/domain/errors.ts";
import type { HostVm } from "../src/domain/types.ts";
import { Xe, xeCommandLine } from "../src/xe/client.ts";
import { classifyXeFailure } from "../src/xe/parse.ts";
import { createXeRunner, type XeRunner, type XeRunOptions } from "../src/xe/runner.ts";
import { goneOrZombie, runReaping, withScripts } from "./xe-scripts.ts";

// ---------- stub runner ----------

interface Reply {
  stdout?: string;
  code?: number;
  stderr?: string;
}

/** Keyed on argv: exact array, or a RegExp over the space-joined argv. Each expectation is used once. */
class StubXe implements XeRunner {
  #expectations: { pattern: readonly string[] | RegExp; reply: Reply; used: boolean }[] = [];
  #unexpected: string[] = [];
  readonly seen: { args: readonly string[]; o?: XeRunOptions }[] = [];

  expect(pattern: readonly string[] | RegExp, reply: Reply = {}): this {
    this.#expectations.push({ pattern, reply, used: false });
    return this;
  }

  run(args: readonly string[], o?: XeRunOptions): Promise<string> {
    this.seen.push({ args, o });
    const e = this.#expectations.find((x) => !x.used && matches(x.pattern, args));
    if (e === undefined) {
      this.#unexpected.push(xeCommandLine(args));
      return Promise.reject(new Error(`unexpected call: ${xeCommandLine(args)}`));
    }
    e.used = true;
    const { stdout = "", code = 0, stderr = "" } = e.reply;
    // the same classification the real runner applies to a non-zero exit
    if (code !== 0) return Promise.reject(classifyXeFailure(args, code, stderr));
    return Promise.resolve(stdout);
  }

  verify(): void {
    assert.deepEqual(this.#unexpected, [], "unexpected xe calls");
    const unused = this.#expectations.filter((x) => !x.used).map((x) => String(x.pattern));
    assert.deepEqual(unused, [], "expected xe calls never made");
  }
}

function matches(pattern: readonly string[] | RegExp, args: readonly string[]): boolean {
  return pattern instanceof RegExp
    ? pattern.test(args.join(" "))
    : pattern.length === args.length && pattern.every((p, i) => p === args[i]);
}

// ---------- fixtures in xe's record format ----------

const HOST = "5f0c9a1e-1111-4222-8333-444455556666";
const VM_LIST = [
  "vm-list",
  "is-control-domain=false",
  "params=uuid,name-label,power-state,resident-on,is-control-domain,platform",
];

function uuidN(n: number): string {
  return `0a1b2c3d-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

interface VmFixture {
  uuid: string;
  name?: string;
  power?: string;
  residentOn?: string;
  platform?: string;
  dom0?: boolean;
}

/** Renders records as xe does: first label left-aligned, others right-aligned, two blank lines after. */
function records(rows: [string, string, string][][]): string {
  return rows.map((fields) => {
    const width = Math.max(...fields.map(([l, t]) => `${l} (${t})`.length)) + 4;
    const lines = fields.map(([l, t, v], i) => {
      const label = `${l} (${t})`;
      return `${i === 0 ? label.padEnd(width) : label.padStart(width)}: ${v}`;
    });
    return lines.join("\n") + "\n\n\n";
  }).join("");
}

function vmRecords(vms: VmFixture[]): string {
  return records(vms.map((v) => [
    ["uuid", " RO", v.uuid],
    ["name-label", " RW", v.name ?? `vm ${v.uuid.slice(-2)}`],
    ["is-control-domain", " RO", String(v.dom0 ?? false)],
    ["power-state", " RO", v.power ?? "running"],
    ["resident-on", " RO", v.residentOn ?? HOST],
    ["platform", "MRW", v.platform ?? ""],
  ]));
}

function args(n: number, extra = ""): string {
  return `-device vgpu-stub,pool_id=A,priority=high,vm_id=${n}${extra}`;
}

function xeWith(stub: StubXe, platformKey = "device-model-args"): Xe {
  return new Xe(stub, { platformKey });
}

// ---------- vmList ----------

Deno.test("vmList: N clean VMs cost exactly one xe call", async () => {
  const vms = Array.from({ length: 6 }, (_, i) => ({
    uuid: uuidN(i + 1),
    platform: `viridian: true; device-model-args: ${args(i + 1)}; nx: true`,
  }));
  const stub = new StubXe().expect(VM_LIST, { stdout: vmRecords(vms) });
  const xe = xeWith(stub);
  const got = await xe.vmList();
  assert.equal(xe.calls, 1);
  assert.deepEqual(got.map((v) => v.deviceModelArgs), vms.map((_, i) => args(i + 1)));
  stub.verify();
});

Deno.test("vmList: k ambiguous VMs cost 1 + k calls and read the key alone", async () => {
  const clean = (n: number) => ({ uuid: uuidN(n), platform: `device-model-args: ${args(n)}` });
  const semi = args(2, " -append a; b");
  const colon = args(4, " -name x: y");
  const stub = new StubXe()
    .expect(VM_LIST, {
      stdout: vmRecords([
        clean(1),
        { uuid: uuidN(2), platform: `device-model-args: ${semi}; viridian: true` },
        clean(3),
        { uuid: uuidN(4), platform: `viridian: true; device-model-args: ${colon}` },
        clean(5),
      ]),
    })
    .expect(
      ["vm-param-get", `uuid=${uuidN(2)}`, "param-name=platform", "param-key=device-model-args"],
      { stdout: `${semi}\n` },
    )
    .expect(
      ["vm-param-get", `uuid=${uuidN(4)}`, "param-name=platform", "param-key=device-model-args"],
      { stdout: `${colon}\n` },
    );
  const xe = xeWith(stub);
  const got = await xe.vmList();
  assert.equal(xe.calls, 1 + 2);
  assert.deepEqual(got.map((v) => v.deviceModelArgs), [args(1), semi, args(3), colon, args(5)]);
  stub.verify();
});

Deno.test("vmList: full HostVm shape; dom0 skipped by is-control-domain, never by name", async () => {
  const stub = new StubXe().expect(VM_LIST, {
    stdout: vmRecords([
      { uuid: uuidN(9), name: "Control domain on host: lab", dom0: true, platform: "" },
      { uuid: uuidN(1), name: "Control domain on host: impostor", platform: "" },
      {
        uuid: uuidN(2),
        name: "web, db; test",
        power: "halted",
        residentOn: "<not in database>",
        platform: `device-model: qemu-upstream-compat; device-model-args: ${args(2)}`,
      },
    ]),
  });
  const got = await xeWith(stub).vmList();
  const expected: HostVm[] = [
    {
      uuid: uuidN(1),
      nameLabel: "Control domain on host: impostor",
      powerState: "running",
      residentOn: HOST,
      deviceModelArgs: null,
    },
    {
      uuid: uuidN(2),
      nameLabel: "web, db; test",
      powerState: "halted",
      residentOn: null,
      deviceModelArgs: args(2),
    },
  ];
  assert.deepEqual(got, expected);
  stub.verify();
});

Deno.test("vmList: uuid filter; unknown uuid gives []", async () => {
  const u = uuidN(7);
  const stub = new StubXe().expect([...VM_LIST.slice(0, 2), `uuid=${u}`, VM_LIST[2]], {
    stdout: "",
  });
  assert.deepEqual(await xeWith(stub).vmList({ uuid: u }), []);
  stub.verify();
});

Deno.test("vmList: ambiguous key that turns out absent → null; VM gone meanwhile → dropped", async () => {
  const stub = new StubXe()
    .expect(VM_LIST, {
      stdout: vmRecords([
        { uuid: uuidN(1), platform: "device-model-args: a; b" },
        { uuid: uuidN(2), platform: "device-model-args: a: b" },
      ]),
    })
    .expect(/^vm-param-get uuid=\S+1 /, {
      code: 1,
      stderr: "Error: Key device-model-args not found in map\n",
    })
    .expect(/^vm-param-get uuid=\S+2 /, {
      code: 1,
      stderr: `The uuid you supplied was invalid.\ntype: VM\nuuid: ${uuidN(2)}\n`,
    });
  const got = await xeWith(stub).vmList();
  assert.deepEqual(got.map((v) => [v.uuid, v.deviceModelArgs]), [[uuidN(1), null]]);
  stub.verify();
});

Deno.test("vmList: an unreadable platform map falls back to vm-param-get", async () => {
  const stub = new StubXe()
    .expect(VM_LIST, { stdout: vmRecords([{ uuid: uuidN(1), platform: "not a map" }]) })
    .expect(/^vm-param-get uuid=\S+ param-name=platform param-key=device-model-args$/, {
      stdout: "x\n",
    });
  assert.deepEqual((await xeWith(stub).vmList()).map((v) => v.deviceModelArgs), ["x"]);
  stub.verify();
});

Deno.test("vmList: unknown power state or a missing field → XeOutputError naming vm-list", async () => {
  const bad = new StubXe().expect(VM_LIST, {
    stdout: vmRecords([{ uuid: uuidN(1), power: "migrating" }]),
  });
  await assert.rejects(xeWith(bad).vmList(), (e: unknown) => {
    assert.ok(e instanceof XeOutputError);
    assert.match(e.message, /^xe vm-list printed a power state .*: migrating$/);
    assert.deepEqual(e.argv, VM_LIST);
    return true;
  });
  const partial = new StubXe().expect(VM_LIST, {
    stdout: records([[["uuid", " RO", uuidN(1)], ["name-label", " RW", "x"]]]),
  });
  await assert.rejects(xeWith(partial).vmList(), XeOutputError);
  const garbage = new StubXe().expect(VM_LIST, { stdout: "Segmentation fault\n" });
  await assert.rejects(xeWith(garbage).vmList(), {
    name: "XeOutputError",
    message: "xe vm-list printed output vgpu-admin cannot read: Segmentation fault",
  });
});

Deno.test("vmList: power state printed capitalised is accepted lower-cased", async () => {
  const stub = new StubXe().expect(VM_LIST, {
    stdout: vmRecords([{ uuid: uuidN(1), power: "Running" }]),
  });
  assert.equal((await xeWith(stub).vmList())[0].powerState, "running");
});

Deno.test("a configurable platform key is used for reading and writing", async () => {
  const u = uuidN(3);
  const stub = new StubXe()
    .expect(VM_LIST, {
      stdout: vmRecords([{
        uuid: u,
        platform: `device-model-args: old; device_model_args: ${args(3)}`,
      }]),
    })
    .expect(["vm-param-get", `uuid=${u}`, "param-name=platform", "param-key=device_model_args"], {
      stdout: `${args(3)}\n`,
    })
    .expect(["vm-param-set", `uuid=${u}`, `platform:device_model_args=${args(4)}`])
    .expect(["vm-param-remove", `uuid=${u}`, "param-name=platform", "param-key=device_model_args"]);
  const xe = xeWith(stub, "device_model_args");
  assert.equal((await xe.vmList())[0].deviceModelArgs, args(3));
  assert.equal(await xe.vmGetArgs(u), args(3));
  await xe.vmSetArgs(u, args(4));
  await xe.vmSetArgs(u, null);
  assert.equal(xe.calls, 4);
  stub.verify();
});

Deno.test("a platform key parseMap could not recognise is refused up front", () => {
  for (const key of ["", "device model args", "a=b", "a;b"]) {
    assert.throws(() => new Xe(new StubXe(), { platformKey: key }), VgpuError);
  }
});

// ---------- the single-VM verbs ----------

Deno.test("hostList: one host-list call", async () => {
  const stub = new StubXe().expect(["host-list", "params=uuid,name-label"], {
    stdout: records([
      [["uuid", " RO", HOST], ["name-label", " RW", "xcp-ng-lab"]],
      [["uuid", " RO", uuidN(8)], ["name-label", " RW", "spare: 2"]],
    ]),
  });
  const xe = xeWith(stub);
  assert.deepEqual(await xe.hostList(), [
    { uuid: HOST, nameLabel: "xcp-ng-lab" },
    { uuid: uuidN(8), nameLabel: "spare: 2" },
  ]);
  assert.equal(xe.calls, 1);
  stub.verify();
});

Deno.test("vmPowerState: validated; unknown VM is XeVmNotFoundError", async () => {
  const u = uuidN(1);
  const pg = ["vm-param-get", `uuid=${u}`, "param-name=power-state"];
  const stub = new StubXe()
    .expect(pg, { stdout: "suspended\n" })
    .expect(pg, { stdout: "Paused\n" })
    .expect(pg, { stdout: "\n" })
    .expect(pg, {
      code: 1,
      stderr: `The uuid you supplied was invalid.\ntype: VM\nuuid: ${u}\n`,
    });
  const xe = xeWith(stub);
  assert.equal(await xe.vmPowerState(u), "suspended");
  assert.equal(await xe.vmPowerState(u), "paused");
  await assert.rejects(xe.vmPowerState(u), XeOutputError);
  await assert.rejects(xe.vmPowerState(u), (e: unknown) => {
    assert.ok(e instanceof XeVmNotFoundError);
    assert.equal(e.vmUuid, u);
    return true;
  });
  assert.equal(xe.calls, 4);
  stub.verify();
});

Deno.test("vmGetArgs: raw value minus xe's newline; missing key → null", async () => {
  const u = uuidN(1);
  const pg = ["vm-param-get", `uuid=${u}`, "param-name=platform", "param-key=device-model-args"];
  const stub = new StubXe()
    .expect(pg, { stdout: "  -a x; y: z  \n" })
    .expect(pg, { code: 1, stderr: "Error: Key device-model-args not found in map\n" });
  const xe = xeWith(stub);
  assert.equal(await xe.vmGetArgs(u), "  -a x; y: z  ");
  assert.equal(await xe.vmGetArgs(u), null);
  stub.verify();
});

Deno.test("vmSetArgs: set, remove, remove of an absent key is fine, other errors surface", async () => {
  const u = uuidN(1);
  const rm = ["vm-param-remove", `uuid=${u}`, "param-name=platform", "param-key=device-model-args"];
  const stub = new StubXe()
    .expect(["vm-param-set", `uuid=${u}`, `platform:device-model-args=${args(1, " -x a=b;c")}`])
    .expect(rm)
    .expect(rm, { code: 1, stderr: "Error: Key device-model-args is not in map\n" })
    .expect(rm, { code: 1, stderr: "Error: No matching VMs found\n" });
  const xe = xeWith(stub);
  await xe.vmSetArgs(u, args(1, " -x a=b;c"));
  await xe.vmSetArgs(u, null);
  await xe.vmSetArgs(u, null);
  await assert.rejects(xe.vmSetArgs(u, null), XeVmNotFoundError);
  stub.verify();
});

Deno.test("vmStart: on=<host> only when given; power-state error is typed", async () => {
  const u = uuidN(1);
  const stub = new StubXe()
    .expect(["vm-start", `uuid=${u}`])
    .expect(["vm-start", `uuid=${u}`, `on=${HOST}`])
    .expect(["vm-start", `uuid=${u}`], {
      code: 1,
      stderr: "You attempted an operation on a VM that was not in an appropriate power state " +
        `at the time.\nvm: ${u} (x)\nexpected: halted\nactual: running\n`,
    });
  const xe = xeWith(stub);
  await xe.vmStart(u);
  await xe.vmStart(u, { onHost: HOST, timeoutMs: 60_000 });
  await assert.rejects(xe.vmStart(u, { onHost: null }), (e: unknown) => {
    assert.ok(e instanceof XePowerStateError);
    assert.deepEqual([e.expected, e.actual], ["halted", "running"]);
    return true;
  });
  assert.deepEqual(stub.seen.map((s) => s.o), [undefined, { timeoutMs: 60_000 }, undefined]);
  stub.verify();
});

Deno.test("vmShutdown: clean and hard, each with the caller's time bound", async () => {
  const u = uuidN(1);
  const stub = new StubXe()
    .expect(["vm-shutdown", `uuid=${u}`])
    .expect(["vm-shutdown", `uuid=${u}`, "force=true"]);
  const xe = xeWith(stub);
  await xe.vmShutdown(u, { force: false, timeoutMs: 120_000 });
  await xe.vmShutdown(u, { force: true, timeoutMs: 30_000 });
  assert.deepEqual(stub.seen.map((s) => s.o), [{ timeoutMs: 120_000 }, { timeoutMs: 30_000 }]);
  assert.equal(xe.calls, 2);
  stub.verify();
});

Deno.test("calls counts failed invocations too", async () => {
  const stub = new StubXe().expect(/^vm-start /, { code: 1, stderr: "Error: boom\n" });
  const xe = xeWith(stub);
  await assert.rejects(xe.vmStart(uuidN(1)), {
    name: "XeError",
    message: "xe vm-start failed: Error: boom",
  });
  assert.equal(xe.calls, 1);
});

Deno.test("xeCommandLine quotes only what the shell would change", () => {
  const cases: [string[], string][] = [
    [["vm-list", "is-control-domain=false"], "xe vm-list is-control-domain=false"],
    [
      ["vm-param-set", "uuid=u", "platform:device-model-args=-device vgpu-stub,pool_id=A,vm_id=1"],
      "xe vm-param-set uuid=u platform:device-model-args='-device vgpu-stub,pool_id=A,vm_id=1'",
    ],
    [["vm-param-set", "x=it's"], `xe vm-param-set x='it'\\''s'`],
    [["vm-param-set", "x="], "xe vm-param-set x=''"],
    [["a b", "$(id)", "~", "=x", "k=v;rm"], `xe 'a b' '$(id)' '~' =x k='v;rm'`],
  ];
  for (const [argv, line] of cases) assert.equal(xeCommandLine(argv), line);
});

// ---------- the real runner against tiny executables ----------

Deno.test("runner: argv reaches xe unchanged (no shell), env added, output decoded as UTF-8", async () => {
  await withScripts(
    { xe: `printf '%s\\n' "$@"; printf 'env=%s\\n' "$VGPU_T"; printf 'é€\\n'` },
    async (dir) => {
      const runner = createXeRunner({
        xePath: `${dir}/xe`,
        defaultTimeoutMs: 5000,
        env: { VGPU_T: "yes" },
      });
      const argv = ["vm-param-set", "uuid=u", "platform:k=-a 'b' \"c\"; $(id) `x` *"];
      assert.equal(await runner.run(argv), [...argv, "env=yes", "é€", ""].join("\n"));
    },
  );
});

Deno.test("runner: a hung xe is killed (with its children) and XeTimeoutError thrown in time", async () => {
  await withScripts(
    { xe: `sleep 30 & echo $! > "$(dirname "$0")/child.pid"; wait` },
    async (dir) => {
      const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 60_000 });
      const started = Date.now();
      await assert.rejects(
        runner.run(["vm-shutdown", "uuid=u"], { timeoutMs: 300 }),
        (e: unknown) => {
          assert.ok(e instanceof XeTimeoutError);
          assert.equal(e.message, "xe vm-shutdown did not answer within 0.3 s");
          assert.deepEqual([e.argv, e.timeoutMs], [["vm-shutdown", "uuid=u"], 300]);
          return true;
        },
      );
      assert.ok(Date.now() - started < 5000, "the bound was not honoured");
      const pid = (await Deno.readTextFile(`${dir}/child.pid`)).trim();
      assert.ok(await goneOrZombie(pid, 2_000), `grandchild ${pid} survived`);
    },
  );
});

for (const plain of [true, false]) {
  Deno.test(`runner (${plain ? "plain spawn, the hooks'" : "own session"}): a hung xe's double-forked children are killed at the bound, by the call's mark`, async () => {
    // each child's parent exits at once (re-parented away from xe: the /proc walk cannot find
    // it); one stays in xe's group, the other leaves it for a session of its own
    const fork = (f: string, pre: string) =>
      `( ${pre}sleep 20 & echo $! > "$(dirname "$0")/${f}" )`;
    await withScripts({
      xe: `${fork("orphan.pid", "")}; ${fork("escaped.pid", "setsid ")}; sleep 20`,
    }, async (dir) => {
      const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 60_000, plain });
      await assert.rejects(runner.run(["vm-list"], { timeoutMs: 500 }), XeTimeoutError);
      for (const f of ["orphan.pid", "escaped.pid"]) {
        const pid = (await Deno.readTextFile(`${dir}/${f}`)).trim();
        const alive = !(await goneOrZombie(pid, 2_000));
        if (alive) Deno.kill(Number(pid), "SIGKILL");
        assert.ok(!alive, `${f} ${pid} survived`);
      }
    });
  });
}

Deno.test("runner: neither an escaped descendant holding the pipes nor a finished call's bound holds the process up", async () => {
  await withScripts({
    // the subshell exits at once, so `sleep` is re-parented away from xe: the /proc walk cannot find it
    xe: `( sleep 20 & echo $! > "$(dirname "$0")/orphan.pid" ); sleep 20`,
    quick: "echo quick",
  }, async (dir) => {
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { createXeRunner } from ${JSON.stringify(import.meta.resolve("../src/xe/runner.ts"))};
const quick = createXeRunner({ xePath: ${
        JSON.stringify(`${dir}/quick`)
      }, defaultTimeoutMs: 20_000 });
console.log((await quick.run(["host-list"])).trim());
const hung = createXeRunner({ xePath: ${JSON.stringify(`${dir}/xe`)}, defaultTimeoutMs: 300 });
await hung.run(["vm-list"]).catch((e) => console.log(e.name));
`,
    );
    const out = await runReaping(script, dir);
    assert.equal(out.stdout, "quick\nXeTimeoutError\n");
    assert.equal(out.code, 0);
    assert.ok(out.ms < 10_000, "the process waited for the pipes or a bound");
  });
});

Deno.test("runner: a bound beyond the timer's range waits, it does not fire at once", async () => {
  await withScripts({ xe: "sleep 0.2; echo done" }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 1e300 });
    assert.equal(await runner.run(["vm-list"]), "done\n");
    assert.equal(await runner.run(["vm-list"], { timeoutMs: 2 ** 31 }), "done\n");
  });
});

Deno.test("runner: the per-call bound overrides the default", async () => {
  await withScripts({ xe: "sleep 0.5; echo done" }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 100 });
    assert.equal(await runner.run(["vm-start", "uuid=u"], { timeoutMs: 10_000 }), "done\n");
    await assert.rejects(runner.run(["vm-start", "uuid=u"]), XeTimeoutError);
  });
});

Deno.test("runner: missing or non-executable xe → XeMissingError with the dom0 hint", async () => {
  await withScripts({}, async (dir) => {
    const missing = createXeRunner({ xePath: `${dir}/nope/xe`, defaultTimeoutMs: 5000 });
    await assert.rejects(missing.run(["vm-list"]), (e: unknown) => {
      assert.ok(e instanceof XeMissingError);
      assert.equal(
        e.message,
        `xe not found at ${dir}/nope/xe: vgpu-admin must run on the XCP-ng dom0; ` +
          "set VGPU_XE to the path of xe",
      );
      assert.ok(!e.message.includes("\n"));
      return true;
    });
    const bare = createXeRunner({ xePath: "vgpu-no-such-xe-binary", defaultTimeoutMs: 5000 });
    await assert.rejects(bare.run(["vm-list"]), { name: "XeMissingError", message: /on PATH/ });
    await Deno.writeTextFile(`${dir}/noexec`, "#!/bin/sh\n", { mode: 0o644 });
    await Deno.chmod(`${dir}/noexec`, 0o644);
    const noexec = createXeRunner({ xePath: `${dir}/noexec`, defaultTimeoutMs: 5000 });
    await assert.rejects(noexec.run(["vm-list"]), {
      name: "XeMissingError",
      message: /not executable/,
    });
  });
});

Deno.test("runner: exit 1 with stderr is classified", async () => {
  await withScripts({
    gone: "echo 'Error: No matching VMs found' >&2; exit 1",
    busy:
      "printf 'Another operation involving the object is currently in progress\\nobject: u\\n' >&2; exit 1",
  }, async (dir) => {
    const gone = createXeRunner({ xePath: `${dir}/gone`, defaultTimeoutMs: 5000 });
    await assert.rejects(gone.run(["vm-start", "uuid=abc"]), (e: unknown) => {
      assert.ok(e instanceof XeVmNotFoundError);
      assert.deepEqual([e.vmUuid, e.exitCode, e.argv], ["abc", 1, ["vm-start", "uuid=abc"]]);
      return true;
    });
    const busy = createXeRunner({ xePath: `${dir}/busy`, defaultTimeoutMs: 5000 });
    await assert.rejects(busy.run(["vm-shutdown", "uuid=u"]), (e: unknown) => {
      assert.ok(e instanceof XeError && !(e instanceof XeKeyMissingError));
      assert.equal(
        e.message,
        "xe vm-shutdown failed: Another operation involving the object is currently in progress; object: u",
      );
      return true;
    });
  });
});

Deno.test("runner: an argument with a newline is refused without spawning", async () => {
  await withScripts({ xe: `touch "$(dirname "$0")/ran"` }, async (dir) => {
    const runner = createXeRunner({ xePath: `${dir}/xe`, defaultTimeoutMs: 5000 });
    for (const bad of ["platform:device-model-args=-a\n-b", "name-label=x\ry"]) {
      await assert.rejects(runner.run(["vm-param-set", "uuid=u", bad]), (e: unknown) => {
        assert.ok(e instanceof VgpuError && !(e instanceof XeError));
        assert.match(
          e.message,
          /^refusing to call xe vm-param-set: argument \S+ contains a line break/,
        );
        assert.ok(e.message.includes(bad.split("=")[0]));
        return true;
      });
    }
    await assert.rejects(Deno.stat(`${dir}/ran`), Deno.errors.NotFound);
  });
});

Deno.test("runner: a non-positive time bound is a programming error", async () => {
  assert.throws(() => createXeRunner({ xePath: "xe", defaultTimeoutMs: 0 }), RangeError);
  const runner = createXeRunner({ xePath: "xe", defaultTimeoutMs: 1000 });
  await assert.rejects(runner.run(["vm-list"], { timeoutMs: -1 }), RangeError);
});

Deno.test("killTree reads the environment only of processes started after vgpu-admin", async () => {
  // one process carrying a call's mark that started before the process looking for it (it is
  // never read, nor killed), and one started after it (found): the processesOf of a fresh Deno
  const mark = `test.${crypto.randomUUID()}`;
  const env = { VGPU_ADMIN_XE_CALL: mark };
  const older = new Deno.Command("sleep", { args: ["20"], env }).spawn();
  // start times count in clock ticks (10 ms): the looking process starts ticks later
  await new Promise((r) => setTimeout(r, 50));
  try {
    const script = `import { processesOf } from ${
      JSON.stringify(import.meta.resolve("../src/xe/spawn.ts"))
    };
const younger = new Deno.Command("sleep", { args: ["20"], env: ${JSON.stringify(env)} }).spawn();
console.log(JSON.stringify({ younger: younger.pid, found: processesOf(-1, ${
      JSON.stringify(mark)
    }) }));
younger.kill("SIGKILL");
await younger.status;`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const { younger, found } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(found, [younger], `older ${older.pid}`);
  } finally {
    older.kill("SIGKILL");
    await older.status;
  }
});

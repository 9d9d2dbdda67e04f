// A signal that ends vgpu-admin outside a change ends its xe reads first (src/cli/signal-exit.ts,
// src/xe/live-reads.ts). Every xe call runs in a session of its own, out of reach of the
// terminal's Ctrl-C, a dropped SSH session's SIGHUP or a kill: a read left running outlived us,
// and on a slave whose master is down (xe retries for ever) each Ctrl-C'd status left one more
// xe hanging. vgpu-admin still dies by the signal itself (a shell loop stops on Ctrl-C), and a
// write is left to finish (xapi finishes it whatever its client does). Real processes and /proc.
import assert from "node:assert/strict";
import { openDatabase } from "../src/store/open.ts";
import { cliCommand, cliEnv, fakeHost, processesWithEnv, until } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";
import { withScripts } from "./xe-scripts.ts";

// logs "<pid> <verb> <process group>" at once, then hangs
const HANG =
  `echo "$$ $1 $(cut -d' ' -f5 /proc/$$/stat)" >> "$(dirname "$0")/calls"; exec sleep 30`;

function logged(dir: string): string[][] {
  try {
    return Deno.readTextFileSync(`${dir}/calls`).trim().split("\n").filter((l) => l !== "")
      .map((l) => l.split(" "));
  } catch {
    return [];
  }
}

function killMarked(mark: string): void {
  for (const pid of processesWithEnv("VGPU_TEST_RUN", mark)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
}

const CODE = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

for (const command of [["scan-vms"], ["status", "--format=json"]]) {
  for (const sig of ["SIGINT", "SIGHUP", "SIGTERM"] as const) {
    Deno.test(`${command[0]}: ${sig} to the terminal's process group ends its xe reads with it`, async () => {
      await withScripts({ xe: HANG }, async (dir) => {
        const db = `${dir}/vgpu_config.db`;
        (await openDatabase(db, { now: () => new Date(), create: true })).db.close();
        const mark = crypto.randomUUID();
        const [cmd, ...pre] = cliCommand();
        // a process group of its own, as a shell's foreground job has
        const cli = new Deno.Command(cmd, {
          args: [...pre, ...command],
          clearEnv: true,
          env: cliEnv({ VGPU_XE: `${dir}/xe`, VGPU_DB: db, VGPU_TEST_RUN: mark }),
          stdin: "null",
          stdout: "null",
          stderr: "null",
          detached: true,
        }).spawn();
        try {
          await until("both reads under way", () => logged(dir).length === 2 || undefined, 10_000);
          // Ctrl-C and SIGHUP reach the terminal's whole foreground group; a kill, the CLI alone
          Deno.kill(sig === "SIGTERM" ? cli.pid : -cli.pid, sig);
          const status = await cli.status;
          assert.deepEqual([status.signal, status.code], [sig, CODE[sig]], "died by the signal");
          await until(
            "every xe of the run to end",
            () => processesWithEnv("VGPU_TEST_RUN", mark).length === 0 || undefined,
            5_000,
          );
        } finally {
          killMarked(mark);
          try {
            cli.kill("SIGKILL");
          } catch {
            // ended
          }
        }
      });
    });
  }
}

Deno.test("a signal outside a change ends the reads under way, never a write: xapi finishes it", async () => {
  await withScripts({ xe: HANG }, async (dir) => {
    const mark = crypto.randomUUID();
    const script = `${dir}/run.ts`;
    // the runner as the process's Deps makes it, in a process of its own (the signal ends it)
    const mod = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    Deno.writeTextFileSync(
      script,
      [
        `import { createXeRunner } from ${mod("../src/xe/runner.ts")};`,
        `import { endReadsOnSignal } from ${mod("../src/cli/signal-exit.ts")};`,
        `import { trackRead } from ${mod("../src/xe/live-reads.ts")};`,
        `endReadsOnSignal();`,
        `const runner = createXeRunner({`,
        `  xePath: ${JSON.stringify(`${dir}/xe`)},`,
        `  defaultTimeoutMs: 60_000,`,
        `  onSpawn: trackRead,`,
        `});`,
        `runner.run(["vm-param-set", "uuid=u", "platform:device-model-args=x"]).catch(() => {});`,
        `runner.run(["vm-list", "params=uuid"]).catch(() => {});`,
        `runner.run(["pool-param-get", "uuid=p", "param-name=master"]).catch(() => {});`,
        `await new Promise((r) => setTimeout(r, 60_000));`,
      ].join("\n"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", "--no-config", script],
      clearEnv: true,
      env: cliEnv({ VGPU_TEST_RUN: mark }),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await until("three calls under way", () => logged(dir).length === 3 || undefined, 10_000);
      const pidOf = new Map(logged(dir).map(([pid, verb]) => [verb, Number(pid)]));
      Deno.kill(child.pid, "SIGTERM");
      assert.equal((await child.status).signal, "SIGTERM");
      const alive = (verb: string) =>
        processesWithEnv("VGPU_TEST_RUN", mark).includes(pidOf.get(verb)!);
      await until(
        "the reads to end",
        () => (!alive("vm-list") && !alive("pool-param-get")) || undefined,
        5_000,
      );
      assert.ok(alive("vm-param-set"), "the write is left to finish");
    } finally {
      killMarked(mark);
    }
  });
});

Deno.test("a signal that comes while the output is written, with nothing left to wait for, still ends vgpu-admin by it", async () => {
  // Outside a change a listener ends the reads, then vgpu-admin by the signal (signal-exit.ts);
  // Deno runs a listener only when the program next waits, and a read command's last part (the
  // drift, the output written) waits for nothing: a Ctrl-C there was lost, the command ended 0,
  // and a shell loop around it went on. Here the reader does not read: scan-vms blocks in its
  // write on the full pipe, with no wait left before it ends, and gets SIGINT there.
  const h = fakeHost(
    Array.from(
      { length: 600 },
      (_, i) =>
        makeVm({ uuid: `7d1e2f00-0000-4000-8000-${(i + 1).toString(16).padStart(12, "0")}` }),
    ),
  );
  Deno.mkdirSync(h.dbPath.slice(0, h.dbPath.lastIndexOf("/")), { recursive: true });
  (await openDatabase(h.dbPath, { now: () => new Date(), create: true })).db.close();
  const [cmd, ...pre] = cliCommand();
  const cli = new Deno.Command(cmd, {
    args: [...pre, "scan-vms", "--format=json"],
    clearEnv: true,
    env: cliEnv(h.env),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // blocked writing to the pipe (the kernel names the wait), or, where /proc does not say, a
  // while: the output (~250 KB) is several times what the pipe holds
  const wchan = () => {
    try {
      return Deno.readTextFileSync(`/proc/${cli.pid}/wchan`);
    } catch {
      return "";
    }
  };
  const started = Date.now();
  await until("scan-vms blocked in its write", () => {
    const w = wchan();
    return w.includes("pipe_write") || (!/[a-z]/.test(w) && Date.now() - started > 5000) ||
      undefined;
  }, 30_000);
  Deno.kill(cli.pid, "SIGINT");
  const out = await new Response(cli.stdout).text();
  const status = await cli.status;
  assert.deepEqual([status.signal, status.code], ["SIGINT", 130], "died by the signal");
  // once what it had to say was said, whole
  assert.equal(JSON.parse(out).unregistered.length, 600);
});

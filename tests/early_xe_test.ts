// scan-vms spawns its vm-list before it loads the command and opens the database (src/xe/early.ts,
// issue 19): through the CLI as a process, with sh scripts standing in for xe. The runner takes
// that call over (one call, not two), the settings' time bound still ends a hanging xe with its
// children, a database error still comes first and leaves no xe running, and a command line that
// is not surely a scan spawns nothing.

import assert from "node:assert/strict";
import { openDatabase } from "../src/store/open.ts";
import { VM_LIST_PARAMS } from "../src/xe/read-argv.ts";
import { processesWithEnv, processGone, runCli, until } from "./helpers.ts";
import { withScripts } from "./xe-scripts.ts";

// Every call logs "<pid> <argv>" to <dir>/calls at once, before doing anything else.
const LOG = `echo "$$ $*" >> "$(dirname "$0")/calls"`;
const VM_LIST = `vm-list is-control-domain=false ${VM_LIST_PARAMS}`;

async function withHost(
  xe: string,
  f: (dir: string, env: Record<string, string>) => Promise<void>,
  o: { xeTimeoutS?: number } = {},
): Promise<void> {
  await withScripts({ xe: `${LOG}\n${xe}` }, async (dir) => {
    const db = `${dir}/vgpu_config.db`;
    (await openDatabase(db, { now: () => new Date(), create: true })).db.close();
    Deno.writeTextFileSync(
      `${dir}/inventory`,
      "INSTALLATION_UUID='0b1e7c3a-1111-4a5b-8c9d-000000000001'\n",
    );
    const env = { VGPU_XE: `${dir}/xe`, VGPU_DB: db, VGPU_INVENTORY: `${dir}/inventory` };
    if (o.xeTimeoutS !== undefined) {
      const set = await runCli(["settings", "xe-timeout", String(o.xeTimeoutS)], { env });
      assert.equal(set.code, 0, set.stderr);
    }
    try {
      await f(dir, env);
    } finally {
      for (const pid of [...calls(dir).map((c) => c.pid), ...orphan(dir)]) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone, as it should be
        }
      }
    }
  });
}

function calls(dir: string): { pid: number; argv: string }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${dir}/calls`);
  } catch {
    return [];
  }
  return text.trim().split("\n").map((l) => {
    const at = l.indexOf(" ");
    return { pid: Number(l.slice(0, at)), argv: l.slice(at + 1) };
  });
}

function orphan(dir: string): number[] {
  try {
    return [Number(Deno.readTextFileSync(`${dir}/orphan.pid`).trim())];
  } catch {
    return [];
  }
}

/** `pid` ended within 5 s (the CLI has already exited: nobody else ends it). */
async function ends(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (processGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test("scan-vms: the vm-list spawned at start is the one the scan reads (one call)", async () => {
  await withHost("exit 0", async (dir, env) => {
    for (const format of ["json", "table"]) {
      const before = calls(dir).length;
      const r = await runCli(["scan-vms", `--format=${format}`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.deepEqual(calls(dir).slice(before).map((c) => c.argv), [VM_LIST]);
    }
    // the database option before or after the command, and --deep: still one vm-list, which
    // reads the dom-ids too
    const before = calls(dir).length;
    const r = await runCli(["--db", env.VGPU_DB, "scan-vms", "--deep", "--format", "json"], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    const made = calls(dir).slice(before).map((c) => c.argv);
    assert.deepEqual(made, [`${VM_LIST},dom-id`]);
  });
});

Deno.test("scan-vms: a hanging early vm-list ends at the settings' bound, its children too", async () => {
  const hang = `( sleep 30 & echo $! > "$(dirname "$0")/orphan.pid" ); sleep 30`;
  await withHost(hang, async (dir, env) => {
    const r = await runCli(["scan-vms"], { env });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "warning: the host could not be read, only the database is shown: xe vm-list did not answer within 1 s\n",
    );
    assert.match(r.stdout, /^=== Unregistered VMs: unknown \(the host could not be read\) ===$/m);
    const [call] = calls(dir);
    assert.ok(await ends(call.pid), "xe still running");
    assert.ok(await ends(orphan(dir)[0]), "xe's child still running");
  }, { xeTimeoutS: 1 });
});

Deno.test("scan-vms: a database error comes first and leaves the early vm-list ended", async () => {
  const hang = `( sleep 30 & echo $! > "$(dirname "$0")/orphan.pid" ); sleep 30`;
  await withHost(hang, async (dir, env) => {
    const missing = `${dir}/nothing-here.db`;
    // every process of this run carries the mark: xe and its child too, whether or not they had
    // time to log anything before the database error
    const mark = crypto.randomUUID();
    const r = await runCli(["scan-vms", `--db=${missing}`], {
      env: { ...env, VGPU_TEST_RUN: mark },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: no database at ${missing}; `));
    assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    assert.equal(r.stdout, "");
    await until(
      "the early xe and its child to end",
      () => processesWithEnv("VGPU_TEST_RUN", mark).length === 0 || undefined,
      5_000,
    );
  });
});

Deno.test("scan-vms: xe missing and no database: the database error, as before", async () => {
  await withHost("exit 0", async (dir, env) => {
    const r = await runCli(["scan-vms"], {
      env: { ...env, VGPU_XE: `${dir}/no-such-xe`, VGPU_DB: `${dir}/none.db` },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: no database at .*none\.db; /);
    assert.doesNotMatch(r.stderr, /xe not found/);
    // the database is there: xe's absence is the scan's warning, word for word as before
    const found = await runCli(["scan-vms"], { env: { ...env, VGPU_XE: `${dir}/no-such-xe` } });
    assert.equal(found.code, 1);
    assert.equal(
      found.stderr,
      `warning: the host could not be read, only the database is shown: xe not found at ${dir}/no-such-xe: vgpu-admin must run on the XCP-ng dom0; set VGPU_XE to the path of xe\n`,
    );
  });
});

Deno.test("scan-vms: a line that is not surely a scan spawns no early xe", async () => {
  await withHost("exit 0", async (dir, env) => {
    for (
      const argv of [
        ["scan-vms", "--help"],
        ["scan-vms", "--bogus"],
        ["scan-vms", "--format=xml"],
        ["scan-vms", "--deep", "--deep"],
        ["scan-vms", "extra"],
        ["--db"],
        ["list-vms", "scan-vms"],
      ]
    ) {
      await runCli(argv, { env });
      assert.deepEqual(calls(dir), [], argv.join(" "));
    }
  });
});

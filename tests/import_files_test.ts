/**
 * The file given to `import` and the disk under the database (issue 18 10a): a FIFO nobody
 * writes ends after a bound, duplicate keys are refused naming the key, and a disk that fills
 * during the import gives one clear line with nothing half-written. Through the CLI.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { canMountTmpfs, cliCommand, cliEnv, runCli, tempDir, UUID1, UUID2 } from "./helpers.ts";
import { fakeClock } from "./fake-runner.ts";
import { readImportFile } from "../src/ops/import-file.ts";

const IDLE = { VGPU_IMPORT_IDLE_S: "1" };

function mkfifo(path: string): void {
  assert.ok(new Deno.Command("mkfifo", { args: [path] }).outputSync().success);
}

/** Runs the CLI; a run that outlives `limitMs` is killed and reported as a hang (code -1). */
async function runBounded(
  args: string[],
  env: Record<string, string>,
  limitMs = 20_000,
): Promise<{ code: number; stderr: string }> {
  const [cmd, ...pre] = cliCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    clearEnv: true,
    env: cliEnv(env),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, limitMs);
  const out = await child.output();
  clearTimeout(timer);
  return { code: hung ? -1 : out.code, stderr: new TextDecoder().decode(out.stderr) };
}

function vmCount(db: string): number {
  const d = new DatabaseSync(db, { readOnly: true });
  try {
    return (d.prepare("SELECT COUNT(*) AS n FROM vms").get() as { n: number }).n;
  } finally {
    d.close();
  }
}

async function withDb(dir: string): Promise<string> {
  const db = `${dir}/vgpu.db`;
  const r = await runCli([`--db=${db}`, "settings", "xe-timeout", "20"]);
  assert.equal(r.code, 0, r.stderr);
  return db;
}

const SILENT = (p: string) =>
  new RegExp(
    `^error: cannot read import file ${p}: nothing arrived on it for 1 s \\(a pipe that nobody writes\\?\\); give a file written by 'vgpu-admin export'\\n$`,
  );

Deno.test("import from a FIFO that nobody opens ends after the bound, one line", async () => {
  const dir = tempDir();
  const db = await withDb(dir);
  const fifo = `${dir}/in.fifo`;
  mkfifo(fifo);
  const r = await runBounded([`--db=${db}`, "import", fifo, "--yes", "--offline"], IDLE);
  assert.equal(r.code, 1, r.stderr || "it hung");
  assert.match(r.stderr, SILENT(fifo));
  assert.equal(vmCount(db), 0);
});

Deno.test("import from a FIFO whose writer never writes ends after the bound, one line", async () => {
  const dir = tempDir();
  const db = await withDb(dir);
  const fifo = `${dir}/in.fifo`;
  mkfifo(fifo);
  // a writer that opens the pipe and then sits on it
  const writer = new Deno.Command("sh", { args: ["-c", `exec 3>'${fifo}'; sleep 30`] }).spawn();
  try {
    const r = await runBounded([`--db=${db}`, "import", fifo, "--yes", "--offline"], IDLE);
    assert.equal(r.code, 1, r.stderr || "it hung");
    assert.match(r.stderr, SILENT(fifo));
  } finally {
    writer.kill("SIGKILL");
    await writer.status;
  }
});

Deno.test("the wait for a silent FIFO is timed by the Deps clock (issue 20 item 2), not a timer of its own", async () => {
  const fifo = `${tempDir()}/in.fifo`;
  mkfifo(fifo); // nobody ever opens it for writing: our open waits
  const clock = fakeClock();
  const reading = readImportFile(fifo, { clock, idleMs: 3_600_000 });
  clock.advance(3_600_000); // an hour passes on the clock at once: the wait ends now
  // a guard against a hang, not a timing: without the clock the wait would last an hour
  let guard: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error("the wait did not follow the clock")), 10_000);
  });
  try {
    await assert.rejects(Promise.race([reading, hung]), /nothing arrived on it for 3600 s/);
  } finally {
    clearTimeout(guard);
  }
});

Deno.test("import from a FIFO that is written still works", async () => {
  const dir = tempDir();
  const db = await withDb(dir);
  const fifo = `${dir}/in.fifo`;
  mkfifo(fifo);
  const text = JSON.stringify(exportOf([{ vm_uuid: UUID1, vm_id: 1 }]));
  const writer = new Deno.Command("sh", {
    args: ["-c", `sleep 0.3; printf '%s' "$1" > '${fifo}'`, "sh", text],
  }).spawn();
  const r = await runBounded([`--db=${db}`, "import", fifo, "--yes", "--offline"], IDLE);
  await writer.status;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(vmCount(db), 1);
});

function exportOf(vms: Record<string, unknown>[]): Record<string, unknown> {
  return {
    format: "vgpu-admin-export",
    format_version: 1,
    schema_version: 5,
    pools: [
      { pool_id: "A", name: "Pool A", description: null, enabled: true },
      { pool_id: "B", name: "Pool B", description: null, enabled: true },
    ],
    vms: vms.map((v) => ({ vm_name: null, pool_id: "A", priority: "medium", ...v })),
    settings: {},
  };
}

Deno.test("import refuses duplicate keys, naming each, and changes nothing", async () => {
  const dir = tempDir();
  const db = await withDb(dir);
  const file = `${dir}/dup.json`;
  // JSON.parse would keep the last of each silently: vm_id 7, pool B, xe-timeout 60
  Deno.writeTextFileSync(
    file,
    `{"format": "vgpu-admin-export", "format_version": 1, "schema_version": 5,
      "pools": [{"pool_id": "A", "name": "Pool A", "description": null, "enabled": true},
                {"pool_id": "B", "name": "Pool B", "description": null, "enabled": true}],
      "vms": [
        {"vm_uuid": "${UUID1}", "vm_name": null, "pool_id": "A", "priority": "high", "vm_id": 3, "vm_id": 7},
        {"vm_uuid": "${UUID2}", "vm_name": "b", "pool_id": "A", "priority": "low", "vm_id": 4,
         "pool_id": "B"}
      ],
      "settings": {"xe-timeout": "30"},
      "settings": {"xe-timeout": "60"}}`,
  );
  for (const flags of [["--yes", "--offline"], ["--dry-run"]]) {
    const r = await runCli([`--db=${db}`, "import", file, ...flags]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      [
        `vms[0].vm_id: the key "vm_id" is given more than once in one object; keep one of them`,
        `vms[1].pool_id: the key "pool_id" is given more than once in one object; keep one of them`,
        `settings: the key "settings" is given more than once in one object; keep one of them`,
        `error: cannot import ${file}: 3 problems (listed above); nothing was changed`,
        "",
      ].join("\n"),
    );
  }
  assert.equal(vmCount(db), 0);
});

Deno.test({
  name: "import onto a disk that fills: one clear line, nothing half-written",
  ignore: !canMountTmpfs(),
  async fn() {
    const dir = tempDir();
    assert.ok(
      new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=400k", "tmpfs", dir] })
        .outputSync().success,
    );
    try {
      const db = await withDb(dir);
      // leave room to open the database (its -shm) but not for 2,000 VMs
      const used = [...Deno.readDirSync(dir)].reduce(
        (n, e) => n + Deno.statSync(`${dir}/${e.name}`).size,
        0,
      );
      Deno.writeFileSync(`${dir}/filler`, new Uint8Array(400 * 1024 - used - 120 * 1024));
      const file = `${tempDir()}/many.json`;
      Deno.writeTextFileSync(
        file,
        JSON.stringify(exportOf(
          Array.from({ length: 2000 }, (_, i) => ({
            vm_uuid: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
            vm_id: i + 1,
          })),
        )),
      );
      for (
        const flags of [["--yes", "--offline"], ["--yes"], ["--replace", "--yes", "--offline"]]
      ) {
        const r = await runCli([`--db=${db}`, "import", file, ...flags], {
          env: { VGPU_XE: "/nonexistent/xe" },
        });
        assert.equal(r.code, 1, r.stderr);
        const last = r.stderr.trimEnd().split("\n").at(-1)!;
        assert.match(
          last,
          new RegExp(
            `^error: database ${db}: database or disk is full \\(is its file system full\\?\\); nothing was changed: free space on it \\(df ${dir}\\), then run the command again$`,
          ),
        );
        assert.doesNotMatch(r.stderr, /bug:/);
        Deno.removeSync(`${dir}/filler`); // to read it back
        assert.equal(vmCount(db), 0, "nothing half-written");
        const used2 = [...Deno.readDirSync(dir)].filter((e) => e.isFile).reduce(
          (n, e) => n + Deno.statSync(`${dir}/${e.name}`).size,
          0,
        );
        Deno.writeFileSync(`${dir}/filler`, new Uint8Array(400 * 1024 - used2 - 120 * 1024));
      }
    } finally {
      new Deno.Command("umount", { args: ["-l", dir] }).outputSync(); // lazy: never left mounted
    }
  },
});

Deno.test({
  name:
    "a full file system under the database: one line for a read command too, no probe file left",
  ignore: !canMountTmpfs(),
  async fn() {
    const dir = tempDir();
    assert.ok(
      new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=400k", "tmpfs", dir] })
        .outputSync().success,
    );
    try {
      const db = await withDb(dir);
      // not a byte left: SQLite cannot even create its -shm (a "disk I/O error" at open), and
      // the check for a read-only directory that follows makes a probe file there
      const f = Deno.openSync(`${dir}/filler`, { write: true, create: true });
      try {
        const block = new Uint8Array(4096);
        for (;;) f.writeSync(block);
      } catch {
        /* full */
      } finally {
        f.close();
      }
      for (
        const argv of [["list-vms"], ["status", "--offline"], ["settings", "xe-timeout", "30"]]
      ) {
        const r = await runCli([`--db=${db}`, ...argv]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `^error: database ${db}: (disk I/O error|database or disk is full) \\(is its file system full\\?\\); nothing was changed: free space on it \\(df ${dir}\\), then run the command again\\n$`,
          ),
          argv.join(" "),
        );
        // the check for a read-only directory made a probe file there: it is gone again
        const left = [...Deno.readDirSync(dir)].map((e) => e.name)
          .filter((n) => n.startsWith(".vgpu-admin-probe-"));
        assert.deepEqual(left, [], argv.join(" "));
      }
    } finally {
      new Deno.Command("umount", { args: ["-l", dir] }).outputSync(); // lazy: never left mounted
    }
  },
});

/**
 * Security (issue 4): no user value reaches a shell, and none reaches the device args except as
 * validated pool/priority/vm_id. Shell-, quote- and option-laden names typed by the admin or
 * coming FROM xe (a VM's name-label, hand-set QEMU args) stay inert and are stored verbatim;
 * the database is created 0600 in a 0755 directory whatever the umask; the start hook refuses a
 * malformed uuid with exit 1 (never 2), both as `vgpu-admin startup-hook` and as the sh script
 * xenopsd runs; and only src/xe/spawn.ts may spawn a process (it passes an argument array).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  cliCommand,
  fakeHost,
  type FakeHostEnv,
  platformOf,
  ROOT,
  runAsXenopsd,
  runCli,
  runInProcess,
  UUID1,
  writeCliWrapper,
} from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const HOOK_SCRIPT = `${ROOT}/hooks/vm-pre-start/10-vgpu-admin`;
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;
const uuidOf = (i: number) => `5ec0005e-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** Shell- and option-laden values; `@M@` stands for the marker file that must never appear. */
const HOSTILE_TEMPLATES: readonly string[] = [
  "x; touch @M@",
  "$(touch @M@)",
  "`touch @M@`",
  `"; touch @M@; echo "`,
  `'; touch @M@; echo '`,
  "| touch @M@",
  "&& touch @M@",
  "> @M@",
  "${IFS}touch${IFS}@M@",
  "-device x",
  "-device vgpu-stub,pool_id=B,priority=high,vm_id=666",
  "x,vm_id=999 -device y",
  "--vm-id=5",
  "%s%n%x {0} ${HOME}",
  "\\'\\\"\\\\ back\\slashes",
  "ВМ «тест» 🚀 データ",
];

const hostile = (marker: string) => HOSTILE_TEMPLATES.map((t) => t.replaceAll("@M@", marker));

function assertNoMarker(marker: string): void {
  let exists = true;
  try {
    Deno.statSync(marker);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    exists = false;
  }
  assert.equal(exists, false, `${marker} was created: a value reached a shell`);
}

function dbRows(path: string): { vm_uuid: string; vm_name: string | null }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT vm_uuid, vm_name FROM vms ORDER BY vm_id").all().map((r) => ({
      vm_uuid: r.vm_uuid as string,
      vm_name: r.vm_name as string | null,
    }));
  } finally {
    db.close();
  }
}

// ---- values typed by the admin --------------------------------------------------------------

Deno.test("security: hostile --vm-name values stay inert, are stored verbatim, never reach the args", async () => {
  const h = fakeHost(
    HOSTILE_TEMPLATES.map((_, i) => makeVm({ uuid: uuidOf(i), nameLabel: `vm${i}` })),
  );
  const marker = `${h.dir}/pwned`;
  const values = hostile(marker);
  // One after the other: the fake xe's state lock is not safe against many concurrent writers
  // (see the report), and this test is about inert values, not concurrency.
  for (const [i, name] of values.entries()) {
    const r = await runInProcess(
      ["register-vm", `--vm-uuid=${uuidOf(i)}`, `--vm-name=${name}`, "--pool=B"],
      { env: h.env },
    );
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.ok(r.stdout.includes(`(${name})`), `${name}: said verbatim: ${r.stdout}`);
    // Our device string, and nothing else: the VM carried no args before.
    assert.deepEqual(platformOf(h, uuidOf(i)), { [KEY]: dev("B", "medium", i + 1) }, name);
  }
  // Reconfiguring and syncing them touches the args only through the validated values.
  const up = await runInProcess(
    ["update-vm", `--vm-uuid=${uuidOf(0)}`, "--priority=high", "--vm-id=77", "--yes"],
    { env: h.env },
  );
  assert.equal(up.code, 0, up.stderr);
  assert.equal(platformOf(h, uuidOf(0))[KEY], dev("B", "high", 77));
  const sync = await runInProcess(["sync"], { env: h.env });
  assert.equal(sync.code, 0, sync.stderr);
  // Stored verbatim, shown verbatim.
  assert.deepEqual(
    new Map(dbRows(h.dbPath).map((r) => [r.vm_uuid, r.vm_name])),
    new Map(values.map((n, i) => [uuidOf(i), n])),
  );
  const listed = await runInProcess(["list-vms", "--format=json"], { env: h.env });
  assert.deepEqual(
    JSON.parse(listed.stdout).vms.map((v: { vm_name: string }) => v.vm_name).sort(),
    [...values].sort(),
  );
  for (const [i] of values.entries()) {
    const args = platformOf(h, uuidOf(i))[KEY];
    assert.match(args, /^-device vgpu-stub,pool_id=[AB],priority=(low|medium|high),vm_id=\d+$/);
  }
  assertNoMarker(marker);
});

Deno.test("security: the same names through the binary (subprocess, product permissions)", async () => {
  // One host per name, so that the subprocesses can run at once without sharing a fake host.
  const runs = await Promise.all(HOSTILE_TEMPLATES.map(async (template, i) => {
    const h = fakeHost([makeVm({ uuid: uuidOf(i), nameLabel: `vm${i}` })]);
    const marker = `${h.dir}/pwned`;
    const name = template.replaceAll("@M@", marker);
    const r = await runCli(
      ["register-vm", `--vm-uuid=${uuidOf(i)}`, `--vm-name=${name}`, "--priority=low"],
      { env: h.env },
    );
    return { h, i, marker, name, r };
  }));
  for (const { h, i, marker, name, r } of runs) {
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.equal(r.stderr, "", name);
    assert.deepEqual(platformOf(h, uuidOf(i)), { [KEY]: dev("A", "low", 1) }, name);
    assert.deepEqual(dbRows(h.dbPath).map((x) => x.vm_name), [name]);
    assertNoMarker(marker);
  }
});

// ---- values coming FROM xe ------------------------------------------------------------------

Deno.test("security: a hostile name-label and hand-set args from xe are stored verbatim, never run", async () => {
  const probe = fakeHost();
  const marker = `${probe.dir}/pwned`;
  // A name-label may hold anything but a line break: shell syntax, quotes, and text shaped
  // like xe's own record lines and like our device.
  const labels = [
    `$(touch ${marker}); 'q' "d" \`touch ${marker}\` > ${marker}`,
    `evil ( RO): running; platform (MRW): ${KEY}: ${dev("B", "high", 9)}`,
    `-device vgpu-stub,pool_id=B,priority=high,vm_id=4242 && touch ${marker}`,
  ];
  const handArgs = `-name "$(touch ${marker})" -append '\`touch ${marker}\`;reboot'`;
  const uuids = labels.map((_, i) => uuidOf(100 + i));
  const adoptee = uuidOf(200);
  const h = fakeHost([
    ...labels.map((l, i) =>
      makeVm({
        uuid: uuids[i],
        nameLabel: l,
        powerState: i === 0 ? "running" : "halted",
        platform: i === 0 ? { [KEY]: handArgs } : {},
      })
    ),
    makeVm({
      uuid: adoptee,
      nameLabel: labels[0],
      platform: { [KEY]: `${handArgs} ${dev("B", "low", 500)}` },
    }),
  ]);
  for (const u of uuids) {
    const r = await runInProcess(["register-vm", `--vm-uuid=${u}`], { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  // The name-label became the stored name, verbatim; the args got only our device appended.
  assert.deepEqual(dbRows(h.dbPath).map((r) => r.vm_name), labels);
  assert.equal(platformOf(h, uuids[0])[KEY], `${handArgs} ${dev("A", "medium", 1)}`);
  assert.equal(platformOf(h, uuids[1])[KEY], dev("A", "medium", 2));
  assert.equal(platformOf(h, uuids[2])[KEY], dev("A", "medium", 3));

  // Every command that reads the host sees them as they are, and runs none of it.
  const scan = await runInProcess(["scan-vms", "--format=json"], { env: h.env });
  assert.equal(scan.code, 0, scan.stderr);
  const status = await runInProcess(["status"], { env: h.env });
  assert.equal(status.code, 0, status.stderr);
  for (const l of labels) assert.ok(status.stdout.includes(l), l);
  const adopt = await runInProcess(["adopt", `--vm-uuid=${adoptee}`, "--yes"], { env: h.env });
  assert.equal(adopt.code, 0, adopt.stderr + adopt.stdout);
  assert.equal(
    platformOf(h, adoptee)[KEY],
    `${handArgs} ${dev("B", "low", 500)}`,
    "adopt changes no args",
  );
  const set = await runInProcess(
    ["set-pool", `--vm-uuid=${uuids[0]}`, "--pool=B", "--yes"],
    { env: h.env },
  );
  assert.equal(set.code, 0, set.stderr);
  assert.equal(platformOf(h, uuids[0])[KEY], `${handArgs} ${dev("B", "medium", 1)}`);
  const hook = await runInProcess(["startup-hook", `--vm-uuid=${uuids[0]}`], { env: h.env });
  assert.equal(hook.code, 0, hook.stderr);
  const check = await runInProcess(["sync", "--check"], { env: h.env });
  assert.equal(check.code, 0, check.stdout);
  assertNoMarker(marker);
});

// ---- file modes -----------------------------------------------------------------------------

Deno.test("security: under umask 000 the database is created 0600, its directory 0755, the hook log 0640", async () => {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web", platform: {} })]);
  const dbPath = `${h.dir}/new/etc/vgpu/vgpu_config.db`;
  const env = { ...h.env, VGPU_DB: dbPath };
  const run = async (args: string[]) => {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", 'umask 000 && exec "$@"', "sh", ...cliCommand(), ...args],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/tmp",
        ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
        ...env,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  };
  await run(["register-vm", `--vm-uuid=${UUID1}`]);
  await run(["startup-hook", `--vm-uuid=${UUID1}`]);
  const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
  assert.equal(mode(dbPath), 0o600, "the database holds the host's VM inventory");
  assert.equal(mode(`${h.dir}/new/etc/vgpu`), 0o755);
  assert.equal(mode(h.logPath), 0o640);
  // No world-readable leftovers beside the database.
  for (const e of Deno.readDirSync(`${h.dir}/new/etc/vgpu`)) {
    assert.equal(mode(`${h.dir}/new/etc/vgpu/${e.name}`) & 0o077, 0, e.name);
  }
});

// ---- the start hook refuses malformed uuids with exit 1 ---------------------------------------

/** UUID1 registered on a fake host, strict mode on (a refusal there would be exit 2). */
async function strictHost(): Promise<FakeHostEnv> {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web", platform: {} })]);
  for (
    const argv of [["register-vm", `--vm-uuid=${UUID1}`], ["settings", "hook-strict", "on"]]
  ) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, r.stderr);
  }
  return h;
}

const BAD_HOOK_UUIDS = (marker: string) => [
  "$(reboot)",
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `${UUID1}; touch ${marker}`,
  `${UUID1} && touch ${marker}`,
  `-vmuuid`,
  "--help",
  "",
];

Deno.test("security: startup-hook refuses a malformed uuid with exit 1, never 2, running nothing", async () => {
  const h = await strictHost();
  const marker = `${h.dir}/pwned`;
  const args = platformOf(h, UUID1)[KEY];
  const runs = await Promise.all(
    BAD_HOOK_UUIDS(marker).map(async (u) => ({
      u,
      r: await runCli(["startup-hook", `--vm-uuid=${u}`, "--reason=none"], { env: h.env }),
    })),
  );
  for (const { u, r } of runs) {
    assert.equal(r.code, 1, `${JSON.stringify(u)}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^error: startup-hook: invalid --vm-uuid ".*": expected a VM uuid/);
    assert.equal(r.stderr.split("\n").filter((l) => l !== "").length, 1, r.stderr);
  }
  assert.equal(platformOf(h, UUID1)[KEY], args, "nothing was written");
  assertNoMarker(marker);
});

/** A copy of the hook script with its VGPU_ADMIN= and VGPU_DB_PATH= lines set. */
function installHook(h: FakeHostEnv): string {
  const admin = `${h.dir}/vgpu-admin`;
  const { VGPU_DB: _db, ...env } = h.env;
  writeCliWrapper(admin, env);
  const script = Deno.readTextFileSync(HOOK_SCRIPT)
    .replace(/^VGPU_ADMIN=.*$/m, `VGPU_ADMIN='${admin}'`)
    .replace(/^VGPU_DB_PATH=.*$/m, `VGPU_DB_PATH='${h.dbPath}'`);
  const path = `${h.dir}/10-vgpu-admin`;
  Deno.writeTextFileSync(path, script, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

Deno.test("security: the sh hook script, run like xenopsd with a hostile -vmuuid, exits 1 and runs nothing", async () => {
  const h = await strictHost();
  const marker = `${h.dir}/pwned`;
  const script = installHook(h);
  const args = platformOf(h, UUID1)[KEY];
  const runs = await Promise.all(
    BAD_HOOK_UUIDS(marker).filter((u) => u !== "").map(async (u) => ({
      u,
      r: await runAsXenopsd(script, ["-vmuuid", u, "-reason", "none", "-vmdomid", "3"]),
    })),
  );
  for (const { u, r } of runs) {
    assert.equal(r.code, 1, `${JSON.stringify(u)}: ${r.stderr}`);
    assert.match(r.stderr, /startup-hook: /, u);
  }
  // A hostile -reason with a valid uuid: the start is checked normally, the reason is inert
  // (and logged defanged).
  const ok = await runAsXenopsd(script, ["-reason", `$(touch ${marker})`, "-vmuuid", UUID1]);
  assert.equal(ok.code, 0, ok.stderr);
  const log = Deno.readTextFileSync(h.logPath).trim().split("\n");
  assert.match(log.at(-1)!, new RegExp(`vm=${UUID1} reason=\\S+ action=in-sync result=ok`));
  assert.doesNotMatch(log.at(-1)!, /\$\(|touch /);
  assert.equal(platformOf(h, UUID1)[KEY], args);
  assertNoMarker(marker);
});

// ---- only the xe runner spawns, with an argument array ----------------------------------------

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sourceFiles(p));
    else if (/\.(ts|js|mjs|tsx)$/.test(e.name)) out.push(p);
  }
  return out;
}

Deno.test("security: only src/xe/spawn.ts spawns a process, and never through a shell", () => {
  const SPAWN =
    /Deno\.Command|Deno\.run\b|Deno\.spawn|child_process|node:child_process|\bexecSync\b|\bspawnSync\b|\bexecFile\b/;
  const files = [`${ROOT}/main.ts`, ...sourceFiles(`${ROOT}/src`)];
  assert.ok(files.length > 20, `found ${files.length} source files`);
  const spawning = files.filter((f) => SPAWN.test(Deno.readTextFileSync(f)))
    .map((f) => f.slice(ROOT.length + 1));
  assert.deepEqual(spawning, ["src/xe/spawn.ts"]);
  const spawn = Deno.readTextFileSync(`${ROOT}/src/xe/spawn.ts`);
  // One spawn, of the xe path itself with an args array: no shell in between.
  assert.equal(spawn.match(/new Deno\.Command\(/g)?.length, 1);
  assert.match(spawn, /new Deno\.Command\(xePath, \{\s*args: \[\.\.\.args\],/);
  for (const f of files) {
    const text = Deno.readTextFileSync(f);
    assert.doesNotMatch(text, /["'`](\/bin\/)?(ba)?sh["'`]\s*,\s*\[?\s*["'`]-c["'`]/, f);
    assert.doesNotMatch(text, /\beval\(|new Function\(/, f);
  }
});

/**
 * Whether a master crash can roll claims back: HA or the redo log (design.md §8). xe's pool record
 * has `ha-enabled` but no redo-log field (xen-api ocaml/xapi-cli-server/records.ml; an unknown name
 * in `params=` is silently dropped), so the redo log is read where xapi keeps it for its own
 * restarts: the `redo_log.enabled` row of every host's /var/lib/xcp/local.db (xapi_pool.ml).
 */
import assert from "node:assert/strict";
import { parseLocalDb, readRedoLog } from "../src/xe/xapi-local.ts";
import { FAKE_XE_PATH, fakeXeEnv } from "./fake-xe/state.ts";
import { runInProcess, tempDir, writeXapiLocalDb } from "./helpers.ts";
import { fakePool, poolVm } from "./pool-helpers.ts";

// As xapi's Xmlm writes it (hashtbl_xml.ml), with its escaping.
const REAL_LOCAL_DB = `<?xml version="1.0" encoding="UTF-8"?>
<config><row key="ha.armed" value="false"/><row key="redo_log.enabled" value="true"/><row key="x" value="a &amp; &quot;b&quot; &lt;c&gt; &#x41;"/></config>`;

Deno.test("xapi local db: rows read as xapi writes them, entities decoded, either attribute order", () => {
  const rows = parseLocalDb(REAL_LOCAL_DB);
  assert.equal(rows.get("redo_log.enabled"), "true");
  assert.equal(rows.get("x"), `a & "b" <c> A`);
  assert.equal(
    parseLocalDb(`<config><row value='false' key='redo_log.enabled'></row></config>`).get(
      "redo_log.enabled",
    ),
    "false",
  );
});

Deno.test("xapi local db: on, off, never enabled, missing and foreign files", () => {
  const dir = tempDir("xapi-local-");
  const path = `${dir}/local.db`;
  Deno.writeTextFileSync(path, REAL_LOCAL_DB);
  assert.deepEqual(readRedoLog(path), { state: "on" });
  writeXapiLocalDb(path, false);
  assert.deepEqual(readRedoLog(path), { state: "off" });
  writeXapiLocalDb(path, null);
  assert.deepEqual(readRedoLog(path), { state: "off" }, "no row: xapi never enabled it");
  assert.deepEqual(readRedoLog(`${dir}/none`), {
    state: "unknown",
    why: `${dir}/none does not exist`,
  });
  Deno.writeTextFileSync(path, "redo_log.enabled=true\n");
  assert.deepEqual(readRedoLog(path), {
    state: "unknown",
    why: `${path} is not xapi's local database`,
  });
});

Deno.test("the fake xe, like the real one, has no redo-log field and drops the name from params=", async () => {
  const p = fakePool(1);
  const out = await new Deno.Command(FAKE_XE_PATH, {
    args: ["pool-list", "params=uuid,redo-log-enabled,ha-enabled"],
    env: fakeXeEnv(p.statePath, p.hosts[0].uuid),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0);
  assert.match(text, /^uuid \( RO\)/m);
  assert.match(text, /^\s*ha-enabled \( RO\): false$/m);
  assert.doesNotMatch(text, /redo/);
});

Deno.test("pool status, pool enable and doctor read the redo log from xapi's local database", async () => {
  const p = fakePool(2, [poolVm(1)]);
  const [h1, h2] = p.hosts;
  const doctorEnv = { ...h1.env, VGPU_PROC_ROOT: `${p.dir}/proc` };
  Deno.mkdirSync(`${p.dir}/proc`, { recursive: true });
  const durability = async () => {
    const r = await runInProcess(["doctor", `--root=${p.dir}/root`, "--format=json"], {
      env: doctorEnv,
    });
    const checks = JSON.parse(r.stdout).checks as { id: string; status: string; message: string }[];
    return checks.find((c) => c.id === "pool-durability")!;
  };
  // never enabled: off, warned at enable, in status and by doctor
  let r = await runInProcess(["pool", "enable", "--yes"], { env: h1.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^warning: neither HA nor the redo log is on: /m);
  r = await runInProcess(["pool", "status"], { env: h1.env });
  assert.match(r.stdout, /^HA: off \| Redo log: off \(a master crash can roll back/m);
  assert.equal((await durability()).status, "warning");

  // xe pool-enable-redo-log sets the flag on every host: no warning anywhere
  for (const h of p.hosts) writeXapiLocalDb(h.localDb, true);
  r = await runInProcess(["pool", "enable", "--dry-run"], { env: h2.env });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /warning/);
  r = await runInProcess(["pool", "status"], { env: h1.env });
  assert.match(r.stdout, /^HA: off \| Redo log: on$/m);
  r = await runInProcess(["pool", "status", "--format=json"], { env: h1.env });
  assert.equal(JSON.parse(r.stdout).redo_log_enabled, true);
  assert.deepEqual(await durability(), {
    ...(await durability()),
    status: "ok",
    message: "the redo log is on: claims reach disk at once",
  });

  // a host whose local database cannot be read says so instead of guessing "off"
  Deno.removeSync(h1.localDb);
  r = await runInProcess(["pool", "status"], { env: h1.env });
  assert.match(
    r.stdout,
    new RegExp(
      `^HA: off \\| Redo log: unknown \\(${h1.localDb} does not exist\\) \\(a master`,
      "m",
    ),
  );
  r = await runInProcess(["pool", "status", "--format=json"], { env: h1.env });
  assert.equal(JSON.parse(r.stdout).redo_log_enabled, null);
  const d = await durability();
  assert.equal(d.status, "warning");
  assert.match(
    d.message,
    /^HA is off and the redo log cannot be told \(.* does not exist\): without either, /,
  );
});

// The "no database" error and the README name the same commands that create a database, and each
// of them does create it (issue 18 D16); a read command creates nothing.
import assert from "node:assert/strict";
import { fakeHost, ROOT, runInProcess, tempDir, UUID1 } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Each creating command as its list names it, with a command line that writes. */
const CREATORS: Record<string, (dir: string) => string[]> = {
  "register-vm": () => ["register-vm", `--vm-uuid=${UUID1}`, "--offline"],
  "adopt": () => ["adopt", "--yes"],
  "import": (dir) => [
    "import",
    `${dir}/in.json`, // written by export below, before the run
    "--yes",
    "--offline",
  ],
  "set-pool-name": () => ["set-pool-name", "--pool-id=A", "--name=Prod"],
  "enable-pool": () => ["enable-pool", "--pool-id=A"],
  "disable-pool": () => ["disable-pool", "--pool-id=B"],
  "settings KEY VALUE": () => ["settings", "hook-strict", "on"],
  "install-hook": (dir) => ["install-hook", `--root=${dir}/root`],
};

Deno.test("the no-database error and the README list the same creating commands, and each creates it", async () => {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web" })]);
  const read = await runInProcess(["list-vms"], { env: h.env });
  assert.equal(read.code, 1);
  assert.ok(!existsSync(h.dbPath), "a read command created the database");
  const inError = /a command that writes creates it \(([^)]*)\)/.exec(read.stderr)?.[1]
    .split(", ");
  assert.ok(inError, read.stderr);
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`).replaceAll("\n  ", " ");
  const inReadme = /Only a command that writes creates a missing database\*\* \(([^)]*)\)/
    .exec(readme)?.[1].split(", ").map((c) => c.replaceAll("`", ""));
  assert.deepEqual(inReadme, inError, "README and error list the same commands, in one order");
  assert.deepEqual(Object.keys(CREATORS), inError);
  for (const name of inError) {
    const dir = tempDir("vgpu-creates-");
    const db = `${dir}/etc/vgpu/vgpu_config.db`;
    Deno.mkdirSync(`${dir}/root`, { recursive: true });
    const src = { VGPU_DB: `${dir}/source.db` };
    assert.equal((await runInProcess(["settings", "xe-timeout", "20"], { env: src })).code, 0);
    const exp = await runInProcess(["export", `--output=${dir}/in.json`], { env: src });
    assert.equal(exp.code, 0, exp.stderr);
    const argv = CREATORS[name](dir);
    const r = await runInProcess(argv, { env: { ...h.env, VGPU_DB: db } });
    assert.ok(
      existsSync(db),
      `${argv.join(" ")} (exit ${r.code}) created no database: ${r.stderr}`,
    );
  }
});

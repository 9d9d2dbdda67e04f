// A simulated XCP-ng pool for pool mode tests: one fake xe state (xapi's one database) and,
// per host, its own vgpu-admin database, xapi inventory, hook log and FAKE_XE_HOST.
import {
  type FakeState,
  type FakeVm,
  fakeXeEnv,
  poolState,
  writeStateSync,
} from "./fake-xe/state.ts";
import assert from "node:assert/strict";
import { runInProcess, tempDir, writeXapiLocalDb } from "./helpers.ts";

export interface PoolHostEnv {
  uuid: string;
  name: string;
  dbPath: string;
  /** This host's xapi local database (/var/lib/xcp/local.db): where the redo-log flag lives. */
  localDb: string;
  /** This host's root: `pool enable` looks for the hooks it has under <root>/etc/xapi.d. */
  root: string;
  /** Environment for vgpu-admin running on this host. */
  env: Record<string, string>;
}

export interface FakePoolEnv {
  dir: string;
  statePath: string;
  hosts: PoolHostEnv[];
}

export function fakePool(
  n: number,
  vms: FakeVm[] = [],
  patch: Partial<FakeState> = {},
): FakePoolEnv {
  const dir = tempDir("vgpu-pool-");
  const statePath = `${dir}/xe-state.json`;
  const state = { ...poolState(n, { vms }), callLog: `${dir}/xe-calls.jsonl`, ...patch };
  writeStateSync(statePath, state);
  const hosts = state.hosts.map((h, i) => {
    const hd = `${dir}/host${i + 1}`;
    Deno.mkdirSync(hd, { recursive: true });
    const inventory = `${hd}/xensource-inventory`;
    Deno.writeTextFileSync(inventory, `INSTALLATION_UUID='${h.uuid}'\n`);
    const dbPath = `${hd}/vgpu_config.db`;
    const localDb = `${hd}/xapi-local.db`;
    writeXapiLocalDb(localDb, null);
    const root = `${hd}/root`;
    return {
      uuid: h.uuid,
      name: h.nameLabel,
      dbPath,
      localDb,
      root,
      env: {
        ...fakeXeEnv(statePath, h.uuid),
        VGPU_DB: dbPath,
        VGPU_INVENTORY: inventory,
        VGPU_XAPI_LOCAL_DB: localDb,
        VGPU_HOOK_ROOT: root,
        VGPU_LOG: `${hd}/vgpu-vm-startup.log`,
      },
    };
  });
  return { dir, statePath, hosts };
}

/** A guest VM of the pool (halted unless `powerState` says otherwise, then on `residentOn`). */
export function poolVm(i: number, partial: Partial<FakeVm> = {}): FakeVm {
  const hex = i.toString(16).padStart(12, "0");
  const running = partial.powerState === "running" || partial.powerState === "paused";
  return {
    uuid: `7d1e2f00-aaaa-4bbb-8ccc-${hex}`,
    nameLabel: `vm-${i}`,
    powerState: "halted",
    residentOn: null,
    domid: running ? 10 + i : -1,
    platform: {},
    otherConfig: {},
    ...partial,
  };
}

/** `pool enable --yes` on every host in turn: the first turns pool mode on, the others join. */
export async function enableAll(p: FakePoolEnv): Promise<void> {
  for (const h of p.hosts) {
    const r = await runInProcess(["pool", "enable", "--yes"], { env: h.env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
}

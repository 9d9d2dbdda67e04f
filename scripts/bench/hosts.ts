// deno task bench: simulated hosts (fake xe states), their databases, and a stub xe.
import { DatabaseSync } from "node:sqlite";
import { buildDevice } from "../../src/domain/device-args.ts";
import type { PoolId, Priority, VgpuConfig } from "../../src/domain/types.ts";
import {
  DEFAULT_HOST_UUID,
  defaultState,
  type FakeVm,
  fakeXeEnv,
  makeVm,
  writeStateSync,
} from "../../tests/fake-xe/state.ts";
import { AMBIGUOUS, CLI } from "./config.ts";
import type { Bench } from "./measure.ts";

export interface HostSpec {
  registered: number;
  unregistered: number;
  /** VM i's name (default `vm-<i>`), in the database and on the host. */
  name?: (i: number) => string;
}

/** `vm-<i>`: the names of the hosts of the first benchmarks. */
export const asciiName = (i: number): string => `vm-${i}`;

/**
 * Names as an admin writes them (issue 19): VM 7 and every 100th after it carry non-ASCII text
 * (accents, Greek, CJK: wide columns), so one in a 10-VM host and 100 in a 10,000-VM host.
 */
export const mixedName = (i: number): string =>
  i % 100 === 7 ? `vm-${i}-café-Ωμέγα-日本` : `vm-${i}`;

/** One fake xe state file of a host, with its own call log. */
export interface HostState {
  statePath: string;
  callLog: string;
  env: Record<string, string>;
}

export interface BuiltHost extends HostState {
  dir: string;
  dbPath: string;
  /** The same host and database, but the first AMBIGUOUS registered VMs carry "; " in their args. */
  ambiguous: HostState;
  ambiguousCount: number;
  registeredUuid: string;
  unregisteredUuid: string | null;
}

export const UNREGISTERED_ARGS = "-vga std -display none";

export function uuidOf(n: number): string {
  return `7d1e2f00-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

export function configOf(i: number): VgpuConfig {
  return { pool: (i % 4 === 0 ? "B" : "A") as PoolId, priority: (i % 3) as Priority, vmId: i };
}

/**
 * Creates the database with the product's own migrations, empty: a command that writes (read
 * commands never create one); the setting written is the default.
 */
export async function createDb(
  b: Bench,
  dbPath: string,
  env: Record<string, string>,
): Promise<void> {
  const r = await b.run({
    argv: [...CLI, "settings", "xe-timeout", "30"],
    env: { ...env, VGPU_DB: dbPath },
  });
  if (r.code !== 0) throw new Error(`creating ${dbPath} failed: ${r.stderr.trim()}`);
}

/** Registers VMs 1..n by direct SQL (rows and a history row each, as register-vm writes). */
export function fillDb(dbPath: string, n: number, name = asciiName): void {
  const db = new DatabaseSync(dbPath);
  try {
    const ts = "2025-01-01 00:00:00";
    db.exec("BEGIN IMMEDIATE");
    const vm = db.prepare(
      `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const hist = db.prepare(
      `INSERT INTO history (at, actor, command, vm_uuid, pool_id, before_json, after_json)
       VALUES (?, 'bench', 'register-vm', ?, ?, NULL, ?)`,
    );
    for (let i = 1; i <= n; i++) {
      const c = configOf(i);
      vm.run(c.vmId, uuidOf(i), name(i), c.pool, c.priority, ts, ts);
      hist.run(
        ts,
        uuidOf(i),
        c.pool,
        JSON.stringify({ vm_uuid: uuidOf(i), vm_name: name(i), pool_id: c.pool, vm_id: i }),
      );
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** Writes a fake xe state: VMs 1..R registered and in sync, then U unregistered ones. */
function writeHostState(
  dir: string,
  name: string,
  h: HostSpec,
  ambiguous: number,
  base: Record<string, string>,
): HostState {
  const statePath = `${dir}/${name}.json`;
  const callLog = `${dir}/${name}-calls.jsonl`;
  const vms: FakeVm[] = [];
  const total = h.registered + h.unregistered;
  for (let i = 1; i <= total; i++) {
    const registered = i <= h.registered;
    let args = registered ? buildDevice(configOf(i)) : UNREGISTERED_ARGS;
    // "; " in the value makes vm-list's platform line ambiguous: scan reads that key alone.
    if (registered && i <= ambiguous) args = `-append console=ttyS0; ${args}`;
    vms.push(makeVm({
      uuid: uuidOf(i),
      nameLabel: (h.name ?? asciiName)(i),
      powerState: i % 3 === 0 ? "running" : "halted",
      platform: { "device-model-args": args, timeoffset: "0", viridian: "true", nx: "true" },
    }));
  }
  writeStateSync(statePath, { ...defaultState({ vms }), callLog });
  return { statePath, callLog, env: { ...base, ...fakeXeEnv(statePath) } };
}

/**
 * A simulated host: registered VMs 1..R carrying their args (in sync), then U unregistered VMs
 * with other QEMU args; every third VM running. The database holds VMs 1..R. A second state of
 * the same host has AMBIGUOUS registered VMs whose platform line is ambiguous.
 */
export async function buildHost(b: Bench, name: string, h: HostSpec): Promise<BuiltHost> {
  const dir = `${b.work}/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  const dbPath = `${dir}/vgpu_config.db`;
  const inventory = `${dir}/xensource-inventory`;
  Deno.writeTextFileSync(inventory, `INSTALLATION_UUID='${DEFAULT_HOST_UUID}'\n`);
  const base = {
    VGPU_DB: dbPath,
    VGPU_INVENTORY: inventory,
    VGPU_LOG: `${dir}/vgpu-vm-startup.log`,
  };
  const plain = writeHostState(dir, "xe-state", h, 0, base);
  const ambiguousCount = Math.min(AMBIGUOUS, h.registered);
  const ambiguous = writeHostState(dir, "xe-state-ambiguous", h, ambiguousCount, base);
  await createDb(b, dbPath, plain.env);
  fillDb(dbPath, h.registered, h.name);
  return {
    dir,
    dbPath,
    ...plain,
    ambiguous,
    ambiguousCount,
    registeredUuid: uuidOf(1),
    unregisteredUuid: h.unregistered > 0 ? uuidOf(h.registered + h.unregistered) : null,
  };
}

/**
 * A stub xe for the hook: sh printing the VM's args (what the fake prints), one line logged per
 * call. It costs a fork and exec of sh, where the fake xe costs a whole `deno run`.
 */
export function writeStubXe(path: string, args: Map<string, string>): void {
  const q = (t: string) => `'${t.replaceAll("'", `'\\''`)}'`;
  const lines = [
    "#!/bin/sh",
    'printf \'%s\\n\' "$*" >> "$STUB_XE_LOG"',
    'for a in "$@"; do',
    '  case "$a" in',
  ];
  for (const [uuid, value] of args) {
    lines.push(`    uuid=${uuid}) printf '%s\\n' ${q(value)}; exit 0 ;;`);
  }
  lines.push("  esac", "done", 'echo "stub xe: unexpected call: $*" >&2', "exit 1", "");
  Deno.writeTextFileSync(path, lines.join("\n"), { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
}

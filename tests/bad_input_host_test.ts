/**
 * The bad-input corpus of the host commands, generated from the tables below (the database
 * commands have theirs in bad_input_test.ts): set-pool, set-priority, set-vm-id, update-vm
 * (every option, --shutdown-timeout, combinations), sync, adopt, startup-hook, scan-vms,
 * register-vm/remove-vm/show-vm against the host, export, import (bad paths), settings (unknown
 * keys, a bad value per key, generated from the product's list of settings) and history --limit.
 *
 * Every case runs in-process against its own copy of one populated fake host and asserts the
 * exit code, the message (one error line; a pre-answered confirmation may precede it), and that
 * the database file and the fake host's state file are byte-for-byte unchanged.
 */
import assert from "node:assert/strict";
import { SETTING_DEFS } from "../src/domain/settings.ts";
import { fakeHost, fileHash, runInProcess, tempDir } from "./helpers.ts";
import {
  type FakeVm,
  makeVm,
  type PowerState,
  readStateSync,
  writeStateSync,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;
const U = (n: number) =>
  `${String(n).repeat(8)}-${String(n).repeat(4)}-4${String(n).repeat(3)}-8${String(n).repeat(3)}-${
    String(n).repeat(12)
  }`;

// ---- the populated host every case starts from ----------------------------------------------

/** name, power state, registration (pool, priority, vm_id) or null, args on the VM. */
const VMS: [number, string, PowerState, [string, string, number] | null, string | null][] = [
  [1, "web", "running", ["A", "high", 1], `-m 2048 ${dev("A", "high", 1)}`],
  [2, "db", "halted", ["B", "low", 5], dev("B", "low", 5)],
  [3, "frozen", "paused", ["A", "medium", 2], dev("A", "medium", 2)],
  [4, "spare", "halted", null, null],
  [5, "hand", "halted", null, `-usb ${dev("B", "low", 9)}`],
  [6, "clone", "halted", null, dev("A", "high", 1)],
  [8, "sleeper", "suspended", ["B", "high", 8], dev("B", "high", 8)],
];
/** Registered, but the host has no such VM. */
const GONE = U(7);
/** Neither registered nor on the host. */
const NOWHERE = U(9);

const TEMPLATE = await (async () => {
  const vms: FakeVm[] = VMS.map(([n, name, power, , args]) =>
    makeVm({
      uuid: U(n),
      nameLabel: name,
      powerState: power,
      platform: args === null ? { viridian: "true" } : { viridian: "true", [KEY]: args },
    })
  );
  const h = fakeHost(vms);
  const regs = VMS.filter((v) => v[3] !== null).map(([n, name, , r]) => [n, name, r!] as const);
  for (
    const argv of [
      ...regs.map(([n, name, [pool, priority, id]]) => [
        "register-vm",
        `--vm-uuid=${U(n)}`,
        `--vm-name=${name}`,
        `--pool=${pool}`,
        `--priority=${priority}`,
        `--vm-id=${id}`,
        "--offline",
      ]),
      ["register-vm", `--vm-uuid=${GONE}`, "--vm-name=gone", "--vm-id=7", "--offline"],
      ["settings", "xe-timeout", "45"],
    ]
  ) {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, `template: ${argv.join(" ")}: ${r.stderr}`);
  }
  const dbDir = h.dbPath.slice(0, h.dbPath.lastIndexOf("/"));
  assert.deepEqual([...Deno.readDirSync(dbDir)].map((e) => e.name), ["vgpu_config.db"]);
  return h;
})();

interface Copy {
  dir: string;
  dbPath: string;
  statePath: string;
  env: Record<string, string>;
}

/** A fresh copy of the template host: its own database, state file, call log and hook log. */
function freshHost(): Copy {
  const dir = tempDir("vgpu-badhost-");
  Deno.mkdirSync(`${dir}/etc/vgpu`, { recursive: true });
  const dbPath = `${dir}/etc/vgpu/vgpu_config.db`;
  Deno.copyFileSync(TEMPLATE.dbPath, dbPath);
  const statePath = `${dir}/xe-state.json`;
  writeStateSync(statePath, { ...readStateSync(TEMPLATE.statePath), callLog: `${dir}/calls` });
  return {
    dir,
    dbPath,
    statePath,
    env: {
      ...TEMPLATE.env,
      VGPU_DB: dbPath,
      FAKE_XE_STATE: statePath,
      VGPU_LOG: `${dir}/hook.log`,
    },
  };
}

/** Every file beside the database (a -wal/-shm left behind is a change) and the host state. */
async function snapshot(c: Copy): Promise<Record<string, string>> {
  const out: Record<string, string> = { state: await fileHash(c.statePath) };
  for (const e of Deno.readDirSync(`${c.dir}/etc/vgpu`)) {
    // the VMs' operation locks: runtime state (flocks), taken before the host is read
    if (e.name.endsWith(".locks") && e.isDirectory) continue;
    out[e.name] = await fileHash(`${c.dir}/etc/vgpu/${e.name}`);
  }
  return out;
}

// ---- the tables ------------------------------------------------------------------------------

const USAGE = 2;
const FAILED = 1;
const OK = 0;

interface Case {
  name: string;
  /** The command line; a function when it names a file of the case's own copy. */
  argv: string[] | ((c: Copy) => string[]);
  code: number;
  /** The error line (the last line of stderr, without its newline). */
  err: RegExp;
  /** What stdout must match; absent: stdout must be empty. */
  out?: RegExp;
  /** Lines read from stdin (no terminal). */
  input?: string[];
  /** What the lines before the error line must match (default: a confirmation question). */
  before?: RegExp;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface BadValues {
  option: string;
  values: readonly string[];
  err: RegExp;
}

const BAD_UUIDS = [
  "",
  "nope",
  "11111111-1111-4111-8111-11111111111",
  "11111111-1111-4111-8111-1111111111111",
  "1111111g-1111-4111-8111-111111111111",
  `${U(1)};reboot`,
  `$(reboot)`,
  `${U(1)} ${U(2)}`,
  "{11111111-1111-4111-8111-111111111111}",
];
const uuidValues = (prefix = ""): BadValues => ({
  option: "--vm-uuid",
  values: BAD_UUIDS,
  err: new RegExp(`^error: ${esc(prefix)}invalid --vm-uuid ".*": expected a VM uuid like `),
});
const poolValues: BadValues = {
  option: "--pool",
  values: ["C", "", "AB", "a b", "0", "Pool A", "A;B"],
  err: /^error: invalid --pool ".*": a vGPU pool is A or B$/,
};
const priorityValues: BadValues = {
  option: "--priority",
  values: ["urgent", "3", "-1", "", "med", "1.0", "highest", "high;low"],
  err: /^error: invalid --priority ".*": use low, medium, high \(or 0, 1, 2\)$/,
};
const vmIdValues: BadValues = {
  option: "--vm-id",
  values: ["0", "-5", "1.5", "abc", "0x10", "2147483648", "007", "", "1e3", "+7", "5 6"],
  err: /^error: invalid --vm-id ".*": a vm_id is a whole number from 1 to 2147483647$/,
};
const shutdownTimeoutValues: BadValues = {
  option: "--shutdown-timeout",
  values: ["0", "3601", "-1", "1.5", "abc", "", "10s", "0x10", "1e3", "99999", "007"],
  err: /^error: invalid --shutdown-timeout ".*": seconds from 1 to 3600$/,
};
const limitValues: BadValues = {
  option: "--limit",
  values: ["0", "-1", "abc", "1.5", "10000000", "", "0x10", "1e3", "all"],
  err: /^error: invalid --limit ".*": a whole number from 1 to 9999999$/,
};
const formatValues: BadValues = {
  option: "--format",
  values: ["xml", "", "yaml", "JSONX", "table,json"],
  err: /^error: invalid --format ".*": use table or json$/,
};

interface CommandSpec {
  name: string;
  /** A complete valid invocation that changes nothing even if it ran (each case breaks it). */
  valid: string[];
  required: readonly string[];
  flags: readonly string[];
  values: readonly BadValues[];
  /** Exit code of a command-line error (the start hook never exits 2). */
  usage: number;
}

// A valid invocation that would make a change, except for the one broken thing: with --yes
// a running or halted VM would be reconfigured, so a case that wrongly passed would show up
// as a changed database or host.
const RECONFIG = (name: string, specific: string[], required: string[], values: BadValues[]) => ({
  name,
  valid: [`--vm-uuid=${U(2)}`, ...specific, "--shutdown-timeout=30", "--yes"],
  required: ["--vm-uuid=<uuid>", ...required],
  flags: ["--yes", "--force-shutdown"],
  values: [uuidValues(), ...values, shutdownTimeoutValues],
  usage: USAGE,
});

const COMMANDS: readonly CommandSpec[] = [
  RECONFIG("set-pool", ["--pool=A"], ["--pool=<A|B>"], [poolValues]),
  RECONFIG("set-priority", ["--priority=high"], ["--priority=<low|medium|high>"], [priorityValues]),
  RECONFIG("set-vm-id", ["--vm-id=20"], ["--vm-id=<n>"], [vmIdValues]),
  RECONFIG(
    "update-vm",
    ["--pool=A", "--priority=high", "--vm-id=20"],
    [],
    [poolValues, priorityValues, vmIdValues],
  ),
  { name: "sync", valid: [], required: [], flags: ["--check", "--dry-run"], values: [], usage: 2 },
  {
    name: "adopt",
    valid: [`--vm-uuid=${U(5)}`, "--yes"],
    required: [],
    flags: ["--yes"],
    values: [uuidValues()],
    usage: USAGE,
  },
  {
    name: "startup-hook",
    valid: [`--vm-uuid=${U(2)}`, "--reason=none"],
    required: ["--vm-uuid=<uuid>"],
    flags: [],
    values: [uuidValues("startup-hook: ")],
    usage: FAILED,
  },
  {
    name: "scan-vms",
    valid: [],
    required: [],
    flags: ["--deep"],
    values: [formatValues],
    usage: USAGE,
  },
  {
    name: "register-vm",
    valid: [`--vm-uuid=${U(4)}`, "--pool=B", "--priority=low", "--vm-id=30"],
    required: ["--vm-uuid=<uuid>"],
    flags: ["--offline"],
    values: [uuidValues(), poolValues, priorityValues, vmIdValues],
    usage: USAGE,
  },
  {
    name: "remove-vm",
    valid: [`--vm-uuid=${U(2)}`, "--yes"],
    required: ["--vm-uuid=<uuid>"],
    flags: ["--yes", "--offline"],
    values: [uuidValues()],
    usage: USAGE,
  },
  {
    name: "history",
    valid: [`--vm-uuid=${U(1)}`, "--limit=5"],
    required: [],
    flags: [],
    values: [uuidValues(), limitValues, formatValues],
    usage: USAGE,
  },
];

/** Replaces or appends `--option=value` (or `--option value`) in a valid argv. */
function withOption(valid: readonly string[], option: string, value: string, form: "=" | " ") {
  const rest = valid.filter((a) => !a.startsWith(`${option}=`) && a !== option);
  return form === "=" ? [...rest, `${option}=${value}`] : [...rest, option, value];
}

const notRegistered = (u: string) =>
  new RegExp(
    `^error: VM ${u} is not registered; see 'vgpu-admin list-vms', or register it with 'vgpu-admin register-vm --vm-uuid=${u}'$`,
  );
const inUse = (id: number, holder: string, name: string) =>
  new RegExp(
    `^error: VM ID ${id} already in use by VM ${holder} \\(${name}\\); pass --vm-id=\\d+ \\(the next free vm_id\\) to choose another$`,
  );
const gone = (u: string) =>
  new RegExp(
    `^error: VM ${u} is registered but does not exist on this host; remove it with 'vgpu-admin remove-vm --vm-uuid=${u}'$`,
  );
const CANCELLED = /^Cancelled; nothing changed\.$/;
const SHOWN =
  /^VM \S+ \(.*\), (running|halted)\n\nCurrent configuration:\n[\s\S]*New configuration:/;

/** Options of `cmd` that request a real change of `uuid`'s configuration (so it would run). */
function changing(cmd: string, uuid: string): string[] {
  const reg = VMS.find(([n]) => U(n) === uuid)?.[3] ?? ["A", "medium", 7];
  const pool = `--pool=${reg[0] === "A" ? "B" : "A"}`;
  const priority = `--priority=${reg[1] === "low" ? "high" : "low"}`;
  if (cmd === "set-pool") return [pool];
  if (cmd === "set-priority") return [priority];
  if (cmd === "set-vm-id") return ["--vm-id=40"];
  return [pool, priority, "--vm-id=40"];
}

function generate(): Case[] {
  const cases: Case[] = [];
  for (const c of COMMANDS) {
    const add = (name: string, argv: string[], code: number, err: RegExp) =>
      cases.push({ name: `${c.name}: ${name}`, argv: [c.name, ...argv], code, err });
    add(
      "unknown option",
      [...c.valid, "--bogus"],
      c.usage,
      new RegExp(
        `^error: unknown option --bogus for ${c.name}: see 'vgpu-admin ${c.name} --help'$`,
      ),
    );
    add("unknown short option", [...c.valid, "-y"], c.usage, /^error: unknown option '-y'$/);
    add(
      "an extra argument",
      [...c.valid, "extra"],
      c.usage,
      new RegExp(`^error: too many arguments for '${c.name}'\\. Expected 0 arguments but got 1`),
    );
    for (const req of c.required) {
      const flag = req.split("=")[0];
      const without = c.valid.filter((a) => !a.startsWith(`${flag}=`));
      add(
        `missing ${flag}`,
        without,
        c.usage,
        new RegExp(
          `^error: required option ${esc(req)}${
            flag === "--vm-uuid" && c.name !== "startup-hook" ? esc(" (or --vm=<name|uuid>)") : ""
          } not specified: see 'vgpu-admin ${c.name} --help'$`,
        ),
      );
      add(
        `${flag} without its value`,
        [...without, flag],
        c.usage,
        new RegExp(`^error: option ${flag} needs a value: ${esc(req)}$`),
      );
    }
    for (const flag of c.flags) {
      add(
        `${flag} given a value`,
        [...c.valid.filter((a) => a !== flag), `${flag}=yes`],
        c.usage,
        new RegExp(`^error: option ${flag} takes no value: give ${flag} alone$`),
      );
    }
    if (!c.values.some((v) => v.option === "--format")) {
      add(
        "--format where there is none",
        [...c.valid, "--format=json"],
        c.usage,
        new RegExp(
          `^error: unknown option --format for ${c.name}: see 'vgpu-admin ${c.name} --help'$`,
        ),
      );
    }
    for (const bv of c.values) {
      for (const v of bv.values) {
        for (const form of ["=", " "] as const) {
          add(
            `${bv.option}${form}${JSON.stringify(v)}`,
            withOption(c.valid, bv.option, v, form),
            c.usage,
            bv.err,
          );
        }
      }
    }
    // Two bad values at once: the error names one of them, and nothing runs.
    for (const [i, a] of c.values.entries()) {
      for (const b of c.values.slice(i + 1)) {
        const argv = withOption(
          withOption(c.valid, a.option, a.values[1], "="),
          b.option,
          b.values[0],
          "=",
        );
        add(
          `bad ${a.option} and bad ${b.option} together`,
          argv,
          c.usage,
          new RegExp(`${a.err.source}|${b.err.source}`),
        );
      }
    }
  }

  // update-vm: nothing to change is a usage error, whatever else is given.
  for (
    const extra of [[], ["--yes"], ["--shutdown-timeout=30"], ["--force-shutdown", "--yes"]]
  ) {
    cases.push({
      name: `update-vm: no --pool/--priority/--vm-id with ${JSON.stringify(extra)}`,
      argv: ["update-vm", `--vm-uuid=${U(2)}`, ...extra],
      code: USAGE,
      err: /^error: update-vm needs at least one of --pool, --priority, --vm-id$/,
    });
  }
  cases.push({
    name: "sync: --check and --dry-run together",
    argv: ["sync", "--check", "--dry-run"],
    code: USAGE,
    err: /^error: use either --check or --dry-run, not both$/,
  });

  // Operation failures (exit 1): well-formed, but the database or the host says no.
  for (const cmd of ["set-pool", "set-priority", "set-vm-id", "update-vm"]) {
    const f = (name: string, uuid: string, err: RegExp) =>
      cases.push({
        name: `${cmd}: ${name}`,
        argv: [cmd, `--vm-uuid=${uuid}`, ...changing(cmd, uuid), "--yes"],
        code: FAILED,
        err,
      });
    f("an unregistered VM on the host", U(4), notRegistered(U(4)));
    f("a VM neither registered nor on the host", NOWHERE, notRegistered(NOWHERE));
    f("a registered VM gone from the host", GONE, gone(GONE));
    f(
      "a paused VM",
      U(3),
      new RegExp(
        `^error: VM ${U(3)} is paused; unpause it \\(xe vm-unpause uuid=${
          U(3)
        }\\) or shut it down, then retry$`,
      ),
    );
    f(
      "a suspended VM",
      U(8),
      new RegExp(
        `^error: VM ${U(8)} is suspended; resume it \\(xe vm-resume uuid=${
          U(8)
        }\\) or shut it down, then retry$`,
      ),
    );
    // Declined: the configuration is shown, then nothing happens.
    for (
      const [label, input] of [
        ["end of input", undefined],
        ["'no'", ["no"]],
        ["'maybe'", ["maybe"]],
        ["an empty line", [""]],
        ["'yes please'", ["yes please"]],
      ] as const
    ) {
      cases.push({
        name: `${cmd}: declined with ${label}`,
        argv: [cmd, `--vm-uuid=${U(2)}`, ...changing(cmd, U(2))],
        code: FAILED,
        err: CANCELLED,
        out: SHOWN,
        input: input === undefined ? undefined : [...input],
      });
    }
  }
  for (const [cmd, opt] of [["set-vm-id", "--vm-id"], ["update-vm", "--vm-id"]] as const) {
    cases.push(
      {
        name: `${cmd}: a vm_id held by another VM`,
        argv: [cmd, `--vm-uuid=${U(1)}`, `${opt}=5`, "--yes"],
        code: FAILED,
        err: inUse(5, U(2), "db"),
      },
      {
        name: `${cmd}: a vm_id held by a VM gone from the host`,
        argv: [cmd, `--vm-uuid=${U(2)}`, `${opt}=7`, "--yes"],
        code: FAILED,
        err: inUse(7, GONE, "gone"),
      },
    );
  }
  // Nothing requested changes: said, exit 0, nothing touched (not even the host is read).
  for (
    const argv of [
      ["set-pool", `--vm-uuid=${U(2)}`, "--pool=b"],
      ["set-priority", `--vm-uuid=${U(2)}`, "--priority=0"],
      ["set-vm-id", `--vm-uuid=${U(2)}`, "--vm-id=5"],
      ["update-vm", `--vm-uuid=${U(2)}`, "--pool=B", "--priority=LOW", "--vm-id=5", "--yes"],
      ["set-pool", `--vm-uuid=${U(3)}`, "--pool=A", "--yes"],
    ]
  ) {
    cases.push({
      name: `${argv[0]}: nothing changes (${argv.slice(2).join(" ")})`,
      argv,
      code: OK,
      err: /^$/,
      out: /^VM \S+ already has vGPU pool [AB], priority \w+, VM ID \d+; nothing changed\.\n$/,
    });
  }

  cases.push(
    {
      name: "register-vm: a uuid the host does not have",
      argv: ["register-vm", `--vm-uuid=${NOWHERE}`],
      code: FAILED,
      err: new RegExp(
        `^error: VM ${NOWHERE} does not exist on this host \\(xe vm-list\\); check the uuid, or pass --offline to change the database only$`,
      ),
    },
    {
      name: "register-vm: already registered",
      argv: ["register-vm", `--vm-uuid=${U(1)}`, "--pool=B"],
      code: FAILED,
      err: new RegExp(`^error: VM ${U(1)} is already registered \\(vGPU pool A, VM ID 1\\); `),
    },
    {
      name: "register-vm: a vm_id in use",
      argv: ["register-vm", `--vm-uuid=${U(4)}`, "--vm-id=8"],
      code: FAILED,
      err: inUse(8, U(8), "sleeper"),
    },
    {
      name: "remove-vm: not registered",
      argv: ["remove-vm", `--vm-uuid=${U(4)}`, "--yes"],
      code: FAILED,
      err: notRegistered(U(4)),
    },
    {
      name: "remove-vm: declined",
      argv: ["remove-vm", `--vm-uuid=${U(2)}`],
      code: FAILED,
      err: CANCELLED,
      input: ["n0"],
    },
    {
      name: "show-vm: not registered",
      argv: ["show-vm", `--vm-uuid=${U(5)}`],
      code: FAILED,
      err: notRegistered(U(5)),
    },
    {
      name: "adopt: a VM the host does not have",
      argv: ["adopt", `--vm-uuid=${NOWHERE}`, "--yes"],
      code: FAILED,
      err: new RegExp(`^error: VM ${NOWHERE} does not exist on this host \\(xe vm-list\\)$`),
    },
    {
      name: "adopt: a registered VM",
      argv: ["adopt", `--vm-uuid=${U(2)}`, "--yes"],
      code: FAILED,
      err: new RegExp(`^error: VM ${U(2)} is already registered; see 'vgpu-admin show-vm `),
    },
    {
      name: "adopt: a VM with no vgpu-stub device",
      argv: ["adopt", `--vm-uuid=${U(4)}`, "--yes"],
      code: FAILED,
      err: new RegExp(`^error: VM ${U(4)} carries no vgpu-stub device; register it with `),
    },
    {
      name: "adopt: a clone carrying a registered VM's vm_id is refused",
      argv: ["adopt", `--vm-uuid=${U(6)}`, "--yes"],
      code: FAILED,
      err: /^$/,
      out: new RegExp(`^⚠ not adopted: VM ${U(6)} \\(clone\\): .*\nNothing adopted\\.\n$`),
    },
    {
      name: "adopt: declined",
      argv: ["adopt", `--vm-uuid=${U(5)}`],
      code: FAILED,
      err: CANCELLED,
      out: /^VMs to adopt /,
      input: ["nope"],
    },
    {
      name: "startup-hook: a VM the host does not have",
      argv: ["startup-hook", `--vm-uuid=${NOWHERE}`],
      code: FAILED,
      err: /^error: /,
    },
    {
      name: "startup-hook: a registered VM gone from the host",
      argv: ["startup-hook", `--vm-uuid=${GONE}`],
      code: FAILED,
      err: /^error: /,
    },
    {
      name: "startup-hook: --reason without its value",
      argv: ["startup-hook", `--vm-uuid=${U(2)}`, "--reason"],
      code: FAILED,
      err: /^error: option --reason needs a value: --reason=<reason>$/,
    },
  );

  // settings: an unknown key, and bad values for every key the product knows.
  const GENERIC_BAD = ["", "   ", "$(reboot)", "-1", "1 2", "on;off", "x\ny"];
  const BAD_SETTINGS: Record<string, readonly string[]> = {
    "platform-key": ["bad key!", ".dot-first", "a/b", "k".repeat(65), "platform:x"],
    "hook-strict": ["maybe", "2", "onn", "enabled"],
    "xe-timeout": ["0", "601", "1.5", "abc", "030", "30s"],
    "shutdown-timeout": ["0", "3601", "ten", "1e3"],
    "start-timeout": ["0", "3601", "ten", "1e3"],
  };
  for (const def of SETTING_DEFS) {
    for (const v of [...GENERIC_BAD, ...(BAD_SETTINGS[def.key] ?? [])]) {
      cases.push({
        name: `settings: ${def.key} ${JSON.stringify(v)}`,
        argv: ["settings", def.key, v],
        code: USAGE,
        err: new RegExp(`^error: invalid value ".*" for ${esc(def.key)}: `),
      });
    }
    cases.push(
      {
        name: `settings: ${def.key} in upper case`,
        argv: ["settings", def.key.toUpperCase(), "1"],
        code: USAGE,
        err: new RegExp(
          `^error: unknown setting "${esc(def.key.toUpperCase())}"; known settings: `,
        ),
      },
      {
        name: `settings: ${def.key} with a value, --unset and --format`,
        argv: ["settings", def.key, "1", "--unset", "--format=json"],
        code: USAGE,
        err: /^error: --unset takes exactly one KEY: settings KEY --unset$/,
      },
    );
  }
  for (const key of ["colour", "xe_timeout", "hook", "", "platform-key=x", "--", "$(reboot)"]) {
    cases.push({
      name: `settings: unknown key ${JSON.stringify(key)}`,
      argv: ["settings", key, "1"],
      code: USAGE,
      err: key === "--"
        ? /^error: /
        : new RegExp(`^error: unknown setting ".*"; known settings: ${
          SETTING_DEFS.map((d) => esc(d.key)).join(", ")
        }$`),
    });
  }
  cases.push(...transferCases());
  return cases;
}

// ---- export and import: bad paths and bad files ----------------------------------------------

/** Files to import, shared by every case (read only). */
const FIXTURES = (() => {
  const dir = tempDir("vgpu-badhost-files-");
  const file = (name: string, content: string | Uint8Array) => {
    const p = `${dir}/${name}`;
    if (typeof content === "string") Deno.writeTextFileSync(p, content);
    else Deno.writeFileSync(p, content);
    return p;
  };
  Deno.mkdirSync(`${dir}/a-directory`);
  Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling`);
  const pools = [
    { pool_id: "A", name: "Pool A", description: null, enabled: true },
    { pool_id: "B", name: "Pool B", description: null, enabled: true },
  ];
  const exportOf = (vms: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      format: "vgpu-admin-export",
      format_version: 1,
      schema_version: 3,
      exported_at: "2026-01-11T10:00:00.000Z",
      pools,
      vms,
      settings: {},
      ...extra,
    });
  const vm = (n: number, o: Record<string, unknown> = {}) => ({
    vm_uuid: U(n),
    vm_name: `vm${n}`,
    pool_id: "A",
    priority: "low",
    vm_id: 100 + n,
    ...o,
  });
  return {
    dir,
    missing: `${dir}/no-such-file.json`,
    directory: `${dir}/a-directory`,
    dangling: `${dir}/dangling`,
    binary: file("binary.json", new Uint8Array([0xff, 0xfe, 0x00, 0x7b])),
    files: {
      "an empty file": file("empty.json", ""),
      "not JSON": file("broken.json", "[1, 2\n"),
      "JSON null": file("null.json", "null"),
      "a JSON array": file("array.json", "[]"),
      "another format": file("other.json", JSON.stringify({ format: "other" })),
      "a newer format version": file(
        "v99.json",
        exportOf([], { format_version: 99 }),
      ),
      "a VM with a bad uuid": file("bad-uuid.json", exportOf([vm(4, { vm_uuid: "$(reboot)" })])),
      "a VM with vm_id 0": file("vm-id-0.json", exportOf([vm(4, { vm_id: 0 })])),
      "a VM in vGPU pool C": file("pool-c.json", exportOf([vm(4, { pool_id: "C" })])),
      "a VM with priority urgent": file("urgent.json", exportOf([vm(4, { priority: "urgent" })])),
      "two VMs with one vm_id": file("dup-id.json", exportOf([vm(4), vm(5, { vm_id: 104 })])),
      "one uuid twice": file("dup-uuid.json", exportOf([vm(4), vm(4, { vm_id: 105 })])),
      "a vm_id held by a registered VM": file("taken.json", exportOf([vm(4, { vm_id: 5 })])),
      "a registered VM with another configuration": file(
        "changed.json",
        exportOf([vm(2, { vm_name: "db", pool_id: "A", vm_id: 5 })]),
      ),
      "an unknown setting": file(
        "setting.json",
        exportOf([vm(4)], { settings: { colour: "red" } }),
      ),
      "a bad setting value": file(
        "setting-value.json",
        exportOf([vm(4)], { settings: { "xe-timeout": "0" } }),
      ),
      "a control character in a name": file(
        "name.json",
        exportOf([vm(4, { vm_name: "two\nlines" })]),
      ),
      "three problems": file(
        "three.json",
        exportOf([vm(4, { vm_id: -1 }), vm(5, { pool_id: "" }), vm(6, { priority: 9 })]),
      ),
    } as Record<string, string>,
  };
})();

/** Files that are bad only when merged into the database (a conflict with a registered VM). */
const MERGE_ONLY = new Set([
  "a vm_id held by a registered VM",
  "a registered VM with another configuration",
]);

/** Problem lines an import prints before its error line: `<json path>: <what>`. */
const PROBLEM = /^(\(top level\)|[a-z_]+(\[\d+\])?(\.[a-z_]+|\["[^"]*"\])*): \S/;

function transferCases(): Case[] {
  const cases: Case[] = [];
  const exp = (name: string, argv: string[] | ((c: Copy) => string[]), code: number, err: RegExp) =>
    cases.push({
      name: `export: ${name}`,
      argv: (c) => ["export", ...(typeof argv === "function" ? argv(c) : argv)],
      code,
      err,
    });
  const notWritten = (why: string) =>
    new RegExp(`^error: cannot write .*: ${esc(why)}; nothing was written$`);
  exp('--output=""', ["--output="], USAGE, /^error: --output needs a file name /);
  exp('--output "  "', ["--output", "  "], USAGE, /^error: --output needs a file name /);
  exp(
    "--output without its value",
    ["--output"],
    USAGE,
    /^error: option --output needs a value: --output=<file>$/,
  );
  exp("an extra argument", ["extra.json"], USAGE, /^error: too many arguments for 'export'/);
  exp(
    "unknown option",
    ["--format=json"],
    USAGE,
    /^error: unknown option --format for export: see 'vgpu-admin export --help'$/,
  );
  exp(
    "a directory",
    [`--output=${FIXTURES.directory}`],
    FAILED,
    notWritten("it is a directory; give a file name"),
  );
  exp(
    "a missing directory",
    [`--output=${FIXTURES.dir}/no/such/dir/x.json`],
    FAILED,
    notWritten("no such file or directory"),
  );
  exp("a device", ["--output=/dev/null"], FAILED, notWritten("it is not a regular file"));
  const itself = /^error: --output .* is the database itself; give another file$/;
  exp("the database itself", (c) => [`--output=${c.dbPath}`], USAGE, itself);
  exp(
    "the database through ..",
    (c) => [`--output=${c.dir}/etc/vgpu/../vgpu/vgpu_config.db`],
    USAGE,
    itself,
  );
  exp(
    "the database through a symbolic link",
    (c) => {
      Deno.symlinkSync(c.dbPath, `${c.dir}/link.db`);
      return [`--output=${c.dir}/link.db`];
    },
    USAGE,
    itself,
  );

  const imp = (
    name: string,
    argv: string[] | ((c: Copy) => string[]),
    code: number,
    err: RegExp,
    before?: RegExp,
  ) =>
    cases.push({
      name: `import: ${name}`,
      argv: (c) => ["import", ...(typeof argv === "function" ? argv(c) : argv)],
      code,
      err,
      before,
    });
  imp("no file", ["--yes"], USAGE, /^error: missing required argument 'file'$/);
  imp("two files", ["a.json", "b.json", "--yes"], USAGE, /^error: too many arguments for 'import'/);
  imp(
    "stdin without --yes",
    ["-"],
    USAGE,
    /^error: import - reads the file from stdin, so the confirmation cannot be answered there: add --yes \(or --dry-run\)$/,
  );
  imp(
    "an unknown option",
    [FIXTURES.missing, "--force"],
    USAGE,
    /^error: unknown option --force for import: see 'vgpu-admin import --help'$/,
  );
  imp(
    "--yes given a value",
    [FIXTURES.missing, "--yes=no"],
    USAGE,
    /^error: option --yes takes no value: give --yes alone$/,
  );
  const unreadable = (why: string) =>
    new RegExp(`^error: cannot read import file .*: ${esc(why)}$`);
  for (const flags of [["--yes"], ["--dry-run"], ["--replace", "--yes", "--offline"]]) {
    const f = flags.join(" ");
    imp(`a missing file (${f})`, [FIXTURES.missing, ...flags], FAILED, unreadable("no such file"));
    imp(
      `a dangling symbolic link (${f})`,
      [FIXTURES.dangling, ...flags],
      FAILED,
      unreadable("no such file"),
    );
    imp(
      `a directory (${f})`,
      [FIXTURES.directory, ...flags],
      FAILED,
      unreadable("it is a directory; give a file written by 'vgpu-admin export'"),
    );
    imp(
      `a binary file (${f})`,
      [FIXTURES.binary, ...flags],
      FAILED,
      /^error: import file .* is not UTF-8 text; give a file written by 'vgpu-admin export'$/,
    );
    imp(
      `the database file (${f})`,
      (c) => [c.dbPath, ...flags],
      FAILED,
      /^error: import file .* is not UTF-8 text; /,
    );
    // A device is refused before it is read (/dev/zero would never end).
    imp(
      `/dev/null (${f})`,
      ["/dev/null", ...flags],
      FAILED,
      unreadable("it is a character device; give a file written by 'vgpu-admin export'"),
    );
    for (const [what, path] of Object.entries(FIXTURES.files)) {
      // --replace takes the file's configuration over the registered one: no conflict then
      if (flags.includes("--replace") && MERGE_ONLY.has(what)) continue;
      imp(
        `${what} (${f})`,
        [path, ...flags],
        FAILED,
        /^error: cannot import .*: \d+ problems? \(listed above\); nothing was changed$/,
        PROBLEM,
      );
    }
  }
  return cases;
}

const CASES = generate();

Deno.test("the host corpus covers every host command and has no duplicate case", () => {
  const names = new Set(CASES.map((c) => c.name));
  assert.equal(names.size, CASES.length, "duplicate case names");
  for (
    const cmd of [
      "set-pool",
      "set-priority",
      "set-vm-id",
      "update-vm",
      "sync",
      "adopt",
      "startup-hook",
      "scan-vms",
      "register-vm",
      "remove-vm",
      "show-vm",
      "settings",
      "history",
      "export",
      "import",
    ]
  ) {
    assert.ok(CASES.some((k) => k.name.startsWith(`${cmd}: `)), cmd);
  }
  assert.ok(CASES.length > 300, `only ${CASES.length} cases`);
});

/** Lines a command may print before its error: a confirmation question and its answer. */
const QUESTION = /\(yes\/no\):( yes \(--yes\)| \(no answer: end of input\))?\s*$/;

for (const c of CASES) {
  Deno.test(`bad host input: ${c.name}`, async () => {
    const host = freshHost();
    const before = await snapshot(host);
    const argv = typeof c.argv === "function" ? c.argv(host) : c.argv;
    const r = await runInProcess(argv, { env: host.env, input: c.input });
    assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
    if (c.out === undefined) assert.equal(r.stdout, "", "stdout stays empty");
    else assert.match(r.stdout, c.out);
    const lines = r.stderr === "" ? [""] : r.stderr.replace(/\n$/, "").split("\n");
    assert.ok(r.stderr === "" || r.stderr.endsWith("\n"), JSON.stringify(r.stderr));
    for (const l of lines.slice(0, -1)) {
      assert.match(l, c.before ?? QUESTION, `one error line: ${r.stderr}`);
    }
    assert.match(lines.at(-1)!, c.err);
    assert.deepEqual(await snapshot(host), before, "the database and the host are unchanged");
  });
}

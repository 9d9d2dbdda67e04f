// The bad-input corpus: generated from the tables below over every option of every database
// command. Each case must exit with its exact code (2 usage, 1 operation failed), print one
// error line on stderr and nothing on stdout, and leave the database byte-for-byte unchanged.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SETTING_DEFS } from "../src/domain/settings.ts";
import { findSchemaProblem } from "../src/store/schema-check.ts";
import { fileHash, runCli, runInProcess, tempDir, UUID1, UUID2, UUID3, UUID4 } from "./helpers.ts";

const FIXED = () => new Date("2026-01-11T10:00:00Z");

// ---- the populated database every case starts from ----------------------------------------

/** UUID1 "alpha" (A, high, id 1), UUID2 "beta" (B, low, id 5), UUID3 no name (B, id 2). */
const TEMPLATE = await (async () => {
  const dir = tempDir("vgpu-bad-template-");
  const path = `${dir}/vgpu_config.db`;
  const env = { VGPU_DB: path };
  for (
    const argv of [
      ["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=alpha", "--priority=high", "--offline"],
      [
        "register-vm",
        `--vm-uuid=${UUID2}`,
        "--vm-name=beta",
        "--pool=B",
        "--priority=low",
        "--vm-id=5",
        "--offline",
      ],
      ["register-vm", `--vm-uuid=${UUID3}`, "--pool=B", "--offline"],
      ["set-pool-name", "--pool-id=B", "--name=Development", "--description=test VMs"],
      ["settings", "xe-timeout", "45"],
    ]
  ) {
    const r = await runInProcess(argv, { env, now: FIXED });
    assert.equal(r.code, 0, `template: ${argv.join(" ")}: ${r.stderr}`);
  }
  // The CLI closed its connection: no -wal/-shm left, the main file is the whole database.
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["vgpu_config.db"]);
  return path;
})();

/** A fresh copy of the populated database in its own directory. */
function freshDb(): { dir: string; path: string } {
  const dir = tempDir("vgpu-bad-");
  const path = `${dir}/vgpu_config.db`;
  Deno.copyFileSync(TEMPLATE, path);
  return { dir, path };
}

/** Every file in the database's directory with its hash: -wal/-shm leftovers count as changes. */
async function dirState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(dir)) out[e.name] = await fileHash(`${dir}/${e.name}`);
  return out;
}

// ---- the tables ----------------------------------------------------------------------------

const USAGE = 2;
const FAILED = 1;

interface Case {
  name: string;
  argv: string[];
  code: typeof USAGE | typeof FAILED;
  /** Matched against stderr without its final newline (which must be the only one). */
  err: RegExp;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** An option value the product rejects, and how its error reads. */
interface BadValues {
  option: string;
  values: readonly string[];
  err: RegExp;
}

const BAD_UUIDS = [
  "",
  "nope",
  "11111111-1111-4111-8111-11111111111", // short
  "11111111-1111-4111-8111-1111111111111", // long
  "1111111g-1111-4111-8111-111111111111", // not hex
  `${UUID1};`,
  `${UUID1}; rm -rf /`,
  `${UUID1} ${UUID2}`,
  "1111 1111-1111-4111-8111-111111111111",
  "11111111-1111-4111-8111-11111111111\n1",
  "'; DROP TABLE vms; --",
];
const uuidValues = (option = "--vm-uuid"): BadValues => ({
  option,
  values: BAD_UUIDS,
  err: new RegExp(`^error: invalid ${esc(option)} ".*": expected a VM uuid like `),
});
const poolValues = (option: string): BadValues => ({
  option,
  values: ["C", "c", "", "AB", "a b", "1", "Pool A"],
  err: new RegExp(`^error: invalid ${esc(option)} ".*": a vGPU pool is A or B$`),
});
const priorityValues: BadValues = {
  option: "--priority",
  values: ["urgent", "3", "-1", "", "med", "1.0", "HIGHEST"],
  err: /^error: invalid --priority ".*": use low, medium, high \(or 0, 1, 2\)$/,
};
const vmIdValues: BadValues = {
  option: "--vm-id",
  values: ["0", "-5", "1.5", "abc", "0x10", "99999999999", "2147483648", "007", "", "1e3", "+7"],
  err: /^error: invalid --vm-id ".*": a vm_id is a whole number from 1 to 2147483647$/,
};
const textValues = (option: string, max: number, emptyOk: boolean): BadValues => ({
  option,
  values: [
    ...(emptyOk ? [] : ["", "   "]),
    "two\nlines",
    "cr\rhere",
    "tab\there",
    "esc\x1b[2J",
    "nul\x00",
    "del\x7f",
    "c1\x9b",
    "x".repeat(max + 1),
  ],
  err: new RegExp(
    `^error: invalid ${esc(option)}(:| ".*": newlines and control characters are not allowed$)`,
  ),
});

interface CommandSpec {
  name: string;
  /** A complete valid invocation; each case changes one thing in it. */
  valid: string[];
  /** Required options in the `--name=<value>` form errors and help use. */
  required: readonly string[];
  format: boolean;
  /** Boolean flags (a value given to one is an unknown option). */
  flags: readonly string[];
  /** Takes positional arguments (settings) */
  positional: boolean;
  values: readonly BadValues[];
}

const COMMANDS: readonly CommandSpec[] = [
  {
    name: "list-pools",
    valid: [],
    required: [],
    format: true,
    flags: [],
    positional: false,
    values: [],
  },
  {
    name: "show-pool",
    valid: ["--pool-id=A"],
    required: ["--pool-id=<A|B>"],
    format: true,
    flags: [],
    positional: false,
    values: [poolValues("--pool-id")],
  },
  {
    name: "set-pool-name",
    valid: ["--pool-id=A", "--name=Production", "--description=latency-sensitive"],
    required: ["--pool-id=<A|B>", "--name=<name>"],
    format: false,
    flags: [],
    positional: false,
    values: [
      poolValues("--pool-id"),
      textValues("--name", 64, false),
      textValues("--description", 255, true),
    ],
  },
  {
    name: "register-vm",
    valid: [
      `--vm-uuid=${UUID4}`,
      "--vm-name=delta",
      "--pool=B",
      "--priority=high",
      "--vm-id=9",
      "--offline",
    ],
    required: ["--vm-uuid=<uuid>"],
    format: false,
    flags: ["--offline"],
    positional: false,
    values: [
      uuidValues(),
      textValues("--vm-name", 255, false),
      poolValues("--pool"),
      priorityValues,
      vmIdValues,
    ],
  },
  {
    name: "show-vm",
    valid: [`--vm-uuid=${UUID1}`, "--offline"],
    required: ["--vm-uuid=<uuid>"],
    format: true,
    flags: ["--offline"],
    positional: false,
    values: [uuidValues()],
  },
  {
    name: "list-vms",
    valid: ["--pool=A", "--priority=high"],
    required: [],
    format: true,
    flags: [],
    positional: false,
    values: [poolValues("--pool"), priorityValues],
  },
  {
    name: "remove-vm",
    valid: [`--vm-uuid=${UUID1}`, "--offline", "--yes"],
    required: ["--vm-uuid=<uuid>"],
    format: false,
    flags: ["--offline", "--yes"],
    positional: false,
    values: [uuidValues()],
  },
  {
    name: "status",
    valid: ["--offline"],
    required: [],
    format: true,
    flags: ["--offline"],
    positional: false,
    values: [],
  },
  {
    name: "schema",
    valid: [],
    required: [],
    format: false,
    flags: [],
    positional: false,
    values: [],
  },
  {
    name: "settings",
    valid: [],
    required: [],
    format: true,
    flags: ["--unset"],
    positional: true,
    values: [],
  },
  {
    name: "history",
    valid: [`--vm-uuid=${UUID1}`, "--limit=5"],
    required: [],
    format: true,
    flags: [],
    positional: false,
    values: [
      uuidValues(),
      {
        option: "--limit",
        values: ["0", "-1", "abc", "1.5", "10000000", "", "0x10"],
        err: /^error: invalid --limit ".*": a whole number from 1 to 9999999$/,
      },
    ],
  },
];

/** Bad values per setting (settings KEY VALUE), and the line each gives. */
const BAD_SETTINGS: Record<string, readonly string[]> = {
  "platform-key": ["bad key!", "", ".dot-first", "a;b", "k".repeat(65), "x\ny"],
  "hook-strict": ["maybe", "", "2", "onn"],
  "xe-timeout": ["0", "601", "-1", "1.5", "abc", "", "030"],
  "shutdown-timeout": ["0", "3601", "-5", "ten", ""],
  "start-timeout": ["0", "3601", "-1", "2m", ""],
};

const FORMATS = ["xml", "", "yaml", "JSONX", "table,json", "csv"];

/** Replaces or appends `--option=value` in a valid argv. */
function withOption(valid: readonly string[], option: string, value: string, form: "=" | " ") {
  const rest = valid.filter((a) => !a.startsWith(`${option}=`) && a !== option);
  return form === "=" ? [...rest, `${option}=${value}`] : [...rest, option, value];
}

function generate(): Case[] {
  const cases: Case[] = [];
  for (const c of COMMANDS) {
    const add = (name: string, argv: string[], code: Case["code"], err: RegExp) =>
      cases.push({ name: `${c.name}: ${name}`, argv: [c.name, ...argv], code, err });

    add(
      "unknown option",
      [...c.valid, "--bogus"],
      USAGE,
      new RegExp(
        `^error: unknown option --bogus for ${c.name}: see 'vgpu-admin ${c.name} --help'$`,
      ),
    );
    add("unknown short option", [...c.valid, "-x"], USAGE, /^error: unknown option '-x'$/);
    add(
      "unknown option --db-path",
      [...c.valid, "--db-path=/tmp/x"],
      USAGE,
      new RegExp(`^error: unknown option --db-path for ${c.name}: did you mean --db\\?$`),
    );
    if (!c.positional) {
      add(
        "an extra argument",
        [...c.valid, "extra"],
        USAGE,
        new RegExp(`^error: too many arguments for '${c.name}'\\. Expected 0 arguments but got 1`),
      );
    }
    for (const req of c.required) {
      const flag = req.split("=")[0];
      add(
        `missing ${flag}`,
        c.valid.filter((a) => !a.startsWith(`${flag}=`)),
        USAGE,
        new RegExp(
          `^error: required option ${esc(req)}${
            flag === "--vm-uuid" && c.name !== "startup-hook" ? esc(" (or --vm=<name|uuid>)") : ""
          } not specified: see 'vgpu-admin ${c.name} --help'$`,
        ),
      );
      add(
        `${flag} without its value`,
        [...c.valid.filter((a) => !a.startsWith(`${flag}=`)), flag],
        USAGE,
        new RegExp(`^error: option ${flag} needs a value: ${esc(req)}$`),
      );
    }
    for (const flag of c.flags) {
      add(
        `${flag} given a value`,
        [...c.valid.filter((a) => a !== flag), `${flag}=yes`],
        USAGE,
        new RegExp(`^error: option ${flag} takes no value: give ${flag} alone$`),
      );
    }
    if (c.format) {
      for (const f of FORMATS) {
        for (const form of ["=", " "] as const) {
          add(
            `--format${form}${JSON.stringify(f)}`,
            withOption(c.valid, "--format", f, form),
            USAGE,
            /^error: invalid --format ".*": use table or json$/,
          );
        }
      }
      add(
        "--format without its value",
        [...c.valid, "--format"],
        USAGE,
        /^error: option --format needs a value: --format=<table\|json>$/,
      );
      add(
        "a misspelt --format",
        [...c.valid, "--formt", "json"],
        USAGE,
        new RegExp(`^error: unknown option --formt for ${c.name}: did you mean --format\\?$`),
      );
    } else {
      add(
        "--format where there is none",
        [...c.valid, "--format=json"],
        USAGE,
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
            USAGE,
            bv.err,
          );
        }
      }
    }
  }

  // settings: keys and values, generated from the product's own list of settings.
  for (const def of SETTING_DEFS) {
    for (const v of BAD_SETTINGS[def.key] ?? []) {
      cases.push({
        name: `settings: ${def.key} ${JSON.stringify(v)}`,
        argv: ["settings", def.key, v],
        code: USAGE,
        err: new RegExp(`^error: invalid value ".*" for ${esc(def.key)}: `),
      });
    }
    cases.push({
      name: `settings: ${def.key} with a value and --unset`,
      argv: ["settings", def.key, "1", "--unset"],
      code: USAGE,
      err: /^error: --unset takes exactly one KEY: settings KEY --unset$/,
    });
  }
  assert.deepEqual(
    Object.keys(BAD_SETTINGS).sort(),
    SETTING_DEFS.map((d) => d.key).sort(),
    "every setting has bad values in the table",
  );
  for (
    const [name, argv, err] of [
      ["unknown key", ["settings", "colour"], /^error: unknown setting "colour"; known settings: /],
      [
        "unknown key with a value",
        ["settings", "colour", "red"],
        /^error: unknown setting "colour"/,
      ],
      ["upper-case key", ["settings", "XE-TIMEOUT", "5"], /^error: unknown setting "XE-TIMEOUT"/],
      ["--unset without a key", ["settings", "--unset"], /^error: --unset takes exactly one KEY/],
      [
        "three arguments",
        ["settings", "xe-timeout", "5", "6"],
        /^error: too many arguments for 'settings'/,
      ],
    ] as const
  ) {
    cases.push({ name: `settings: ${name}`, argv: [...argv], code: USAGE, err });
  }

  // Unknown commands, with and without a did-you-mean suggestion.
  for (
    const [typo, meant] of [
      ["lisst-pools", "list-pools"],
      ["list-pool", "list-pools"],
      ["show-pools", "show-pool"],
      ["regster-vm", "register-vm"],
      ["remove-v", "remove-vm"],
      ["recovr", "recover"],
      ["stat", "status"],
      ["schemas", "schema"],
      ["histroy", "history"],
      ["setting", "settings"],
      ["set-poolname", "set-pool-name"],
      ["show-vms", "show-vm"],
    ]
  ) {
    cases.push({
      name: `unknown command ${typo}`,
      argv: [typo],
      code: USAGE,
      err: new RegExp(
        `^error: unknown command '${esc(typo)}' \\(Did you mean ${esc(meant)}\\?\\)$`,
      ),
    });
  }
  for (const cmd of ["frobnicate", "DROP", "'; DROP TABLE vms; --"]) {
    cases.push({
      name: `unknown command ${JSON.stringify(cmd)}`,
      argv: [cmd],
      code: USAGE,
      err: new RegExp(`^error: unknown command '${esc(cmd)}'$`),
    });
  }
  cases.push(
    {
      name: "--db without its value",
      argv: ["--db"],
      code: USAGE,
      err: /^error: option --db needs a value: --db=<path>$/,
    },
    {
      name: "unknown global option",
      argv: ["--bogus", "list-pools"],
      code: USAGE,
      err: /^error: unknown option --bogus: see 'vgpu-admin --help'$/,
    },
  );

  // Operation failures (exit 1): the input is well-formed but the database says no.
  const notRegistered = (u: string) =>
    new RegExp(
      `^error: VM ${u} is not registered; see 'vgpu-admin list-vms', or register it with 'vgpu-admin register-vm --vm-uuid=${u}'$`,
    );
  const alreadyRegistered = new RegExp(
    `^error: VM ${UUID1} is already registered \\(vGPU pool A, VM ID 1\\); change it with 'vgpu-admin update-vm'$`,
  );
  const failures: [string, string[], RegExp][] = [
    [
      "register-vm: duplicate uuid",
      ["register-vm", `--vm-uuid=${UUID1}`, "--offline"],
      alreadyRegistered,
    ],
    [
      "register-vm: duplicate uuid in upper case",
      ["register-vm", `--vm-uuid=${UUID1.toUpperCase()}`, "--pool=B", "--offline"],
      alreadyRegistered,
    ],
    [
      "register-vm: duplicate uuid with its own vm_id",
      ["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=1", "--offline"],
      alreadyRegistered,
    ],
    [
      "register-vm: duplicate vm_id",
      ["register-vm", `--vm-uuid=${UUID4}`, "--vm-id=5", "--offline"],
      new RegExp(
        `^error: VM ID 5 already in use by VM ${UUID2} \\(beta\\); pass --vm-id=3 \\(the next free vm_id\\) to choose another$`,
      ),
    ],
    [
      "register-vm: duplicate vm_id held by a VM without a name",
      ["register-vm", `--vm-uuid=${UUID4}`, "--vm-id=2", "--offline"],
      new RegExp(
        `^error: VM ID 2 already in use by VM ${UUID3} \\(<?no name>?\\); pass --vm-id=3 \\(the next free vm_id\\) to choose another$`,
      ),
    ],
    ["show-vm: unknown uuid", ["show-vm", `--vm-uuid=${UUID4}`, "--offline"], notRegistered(UUID4)],
    [
      "show-vm: unknown uuid as json",
      ["show-vm", `--vm-uuid=${UUID4}`, "--offline", "--format=json"],
      notRegistered(UUID4),
    ],
    [
      "remove-vm: unknown uuid",
      ["remove-vm", `--vm-uuid=${UUID4}`, "--offline", "--yes"],
      notRegistered(UUID4),
    ],
    [
      "remove-vm: unknown uuid in upper case",
      ["remove-vm", `--vm-uuid=${UUID4.toUpperCase()}`, "--offline", "--yes"],
      notRegistered(UUID4),
    ],
  ];
  for (const [name, argv, err] of failures) cases.push({ name, argv, code: FAILED, err });
  return cases;
}

const CASES = generate();

Deno.test("the corpus covers every database command and has no duplicate case", () => {
  const names = new Set(CASES.map((c) => c.name));
  assert.equal(names.size, CASES.length, "duplicate case names");
  for (const c of COMMANDS) {
    assert.ok(CASES.some((k) => k.argv[0] === c.name), c.name);
  }
  assert.ok(CASES.length > 300, `only ${CASES.length} cases`);
});

for (const c of CASES) {
  Deno.test(`bad input: ${c.name}`, async () => {
    const { dir, path } = freshDb();
    const before = await dirState(dir);
    const r = await runInProcess(c.argv, { env: { VGPU_DB: path }, now: FIXED });
    assert.equal(r.code, c.code, `exit code; stderr: ${r.stderr}`);
    assert.equal(r.stdout, "", "stdout stays empty");
    assert.ok(r.stderr.endsWith("\n"), `stderr ends with a newline: ${JSON.stringify(r.stderr)}`);
    assert.equal(
      r.stderr.indexOf("\n"),
      r.stderr.length - 1,
      `one line: ${JSON.stringify(r.stderr)}`,
    );
    assert.match(r.stderr.slice(0, -1), c.err);
    assert.deepEqual(await dirState(dir), before, "the database is byte-for-byte unchanged");
  });
}

Deno.test("bad input through the real binary (subprocess, product permissions)", async () => {
  const picks = [
    "unknown command lisst-pools",
    `register-vm: --vm-uuid=${JSON.stringify(`${UUID1}; rm -rf /`)}`,
    "show-pool: missing --pool-id",
    "register-vm: duplicate vm_id",
    `list-vms: --format=${JSON.stringify("xml")}`,
    "remove-vm: unknown uuid",
  ];
  const chosen = picks.map((name) => {
    const c = CASES.find((k) => k.name === name);
    assert.ok(c, `no case named ${name}`);
    return c;
  });
  const runs = chosen.map(async (c) => {
    const { dir, path } = freshDb();
    const before = await dirState(dir);
    const r = await runCli(["--db", path, ...c.argv]);
    return { c, r, same: JSON.stringify(await dirState(dir)) === JSON.stringify(before) };
  });
  for (const { c, r, same } of await Promise.all(runs)) {
    assert.equal(r.code, c.code, `${c.name}: ${r.stderr}`);
    assert.equal(r.stdout, "", c.name);
    assert.equal(r.stderr.indexOf("\n"), r.stderr.length - 1, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr.slice(0, -1), c.err, c.name);
    assert.ok(same, `${c.name}: database unchanged`);
  }
});

Deno.test("no command at all: usage on stderr, exit 2, nothing on stdout, database untouched", async () => {
  const { dir, path } = freshDb();
  const before = await dirState(dir);
  const r = await runInProcess([], { env: { VGPU_DB: path } });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^Usage: vgpu-admin /);
  assert.deepEqual(await dirState(dir), before);
});

Deno.test("remove-vm without --yes and without an answer is declined and changes nothing", async () => {
  const { dir, path } = freshDb();
  const before = await dirState(dir);
  for (const input of [undefined, ["no"], ["maybe"], [""]]) {
    const r = await runInProcess(["remove-vm", `--vm-uuid=${UUID1}`, "--offline"], {
      env: { VGPU_DB: path },
      input,
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.endsWith("Cancelled; nothing changed.\n"), r.stderr);
    assert.deepEqual(await dirState(dir), before);
  }
});

// ---- spellings that are accepted ----------------------------------------------------------

async function ok(argv: string[], path: string): Promise<string> {
  const r = await runInProcess(argv, { env: { VGPU_DB: path }, now: FIXED });
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test("upper-case uuids and lower-case pools are accepted and find the same row", async () => {
  const { path } = freshDb();
  const upper = "ABCDEF01-2345-4678-9ABC-DEF012345678";
  const lower = upper.toLowerCase();
  await ok(
    ["register-vm", `--vm-uuid=  ${upper} `, "--pool=b", "--priority=HIGH", "--offline"],
    path,
  );
  const byLower = await ok(["show-vm", `--vm-uuid=${lower}`, "--offline", "--format=json"], path);
  const byUpper = await ok(["show-vm", `--vm-uuid=${upper}`, "--offline", "--format=json"], path);
  assert.equal(byUpper, byLower);
  const vm = JSON.parse(byLower).vm;
  assert.equal(vm.vm_uuid, lower);
  assert.equal(vm.registered.vm_uuid, lower, "stored lower-cased");
  assert.deepEqual([vm.registered.pool_id, vm.registered.priority], ["B", "high"]);
  assert.equal(JSON.stringify(vm).includes(upper), false);
  for (
    const [a, b] of [
      [["list-vms", "--pool=a"], ["list-vms", "--pool=A"]],
      [["list-vms", "--pool= b "], ["list-vms", "--pool=B"]],
      [["list-vms", "--priority=HIGH"], ["list-vms", "--priority=2"]],
      [["list-vms", "--priority=Low", "--format=JSON"], [
        "list-vms",
        "--priority=0",
        "--format=json",
      ]],
      [["show-pool", "--pool-id=b"], ["show-pool", "--pool-id=B"]],
      [["history", `--vm-uuid=${upper}`], ["history", `--vm-uuid=${lower}`]],
    ]
  ) {
    assert.equal(await ok(a, path), await ok(b, path), `${a.join(" ")} = ${b.join(" ")}`);
  }
  assert.match(await ok(["list-vms", "--pool=b", "--priority=high"], path), new RegExp(lower));
  await ok(["remove-vm", `--vm-uuid=${upper}`, "--offline", "--yes"], path);
  const after = JSON.parse(await ok(["list-vms", "--format=json"], path));
  assert.equal(after.vms.some((v: { vm_uuid: string }) => v.vm_uuid === lower), false);
});

Deno.test("SQL-, shell- and quote-laden text is stored verbatim and the tables survive", async () => {
  const { path } = freshDb();
  const vmName = "'; DROP TABLE vms; --";
  const poolName = `Robert'); DROP TABLE pools;--`;
  const description = '$(rm -rf /) `reboot` "quoted", ${HOME} | tee /etc/passwd';
  await ok(["register-vm", `--vm-uuid=${UUID4}`, `--vm-name=${vmName}`, "--offline"], path);
  await ok(
    ["set-pool-name", "--pool-id=a", `--name=${poolName}`, `--description=${description}`],
    path,
  );
  await ok(["settings", "platform-key", "device-model-args"], path);

  const shown = await ok(["show-vm", `--vm-uuid=${UUID4}`, "--offline", "--format=json"], path);
  const vm = JSON.parse(shown).vm.registered;
  assert.equal(vm.vm_name, vmName);
  assert.equal(
    vm.device,
    "-device vgpu-stub,pool_id=A,priority=medium,vm_id=3",
    "names never reach the args",
  );
  const pool = JSON.parse(await ok(["show-pool", "--pool-id=A", "--format=json"], path)).pool;
  assert.deepEqual([pool.name, pool.description], [poolName, description]);
  assert.ok((await ok(["list-vms"], path)).includes(vmName));
  assert.ok((await ok(["list-pools"], path)).includes(`Pool A: ${JSON.stringify(poolName)} |`));

  const db = new DatabaseSync(path);
  try {
    assert.equal(findSchemaProblem(db), null, "every table, column and index is still there");
    const count = (t: string) =>
      (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    assert.equal(count("vms"), 4);
    assert.equal(count("pools"), 2);
    assert.deepEqual(
      { ...db.prepare(`SELECT vm_name FROM vms WHERE vm_uuid = ?`).get(UUID4) },
      { vm_name: vmName },
    );
  } finally {
    db.close();
  }
});

/**
 * completions bash|zsh|fish: the scripts list exactly the commands and options of the command
 * table, and complete vGPU pools, priorities and registered VM uuids (read at completion time
 * through a `vgpu-admin` wrapper on PATH over a database with registered VMs). bash is driven
 * directly; zsh and fish are syntax-checked and exercised when installed (skipped otherwise).
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../src/cli/command-table.ts";
import { fakeHost, runInProcess, UUID1, UUID2, writeCliWrapper } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";

const SCRIPTS: Record<string, string> = {};
async function script(shell: string): Promise<string> {
  if (SCRIPTS[shell] === undefined) {
    const r = await runInProcess(["completions", shell]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    SCRIPTS[shell] = r.stdout;
  }
  return SCRIPTS[shell];
}

function have(shell: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${shell}`).isFile) return `${dir}/${shell}`;
    } catch { /* not here */ }
  }
  return null;
}

/** A database with two registered VMs and a `vgpu-admin` wrapper over it, first on PATH. */
async function setup() {
  const h = fakeHost([]);
  for (const [uuid, name] of [[UUID1, "web"], [UUID2, "db: main"]]) {
    const r = await runInProcess(
      ["register-vm", `--vm-uuid=${uuid}`, `--vm-name=${name}`, "--offline"],
      { env: h.env },
    );
    assert.equal(r.code, 0, r.stderr);
  }
  const bin = `${h.dir}/bin`;
  Deno.mkdirSync(bin);
  writeCliWrapper(`${bin}/vgpu-admin`, { VGPU_DB: h.dbPath });
  const files: Record<string, string> = {};
  for (const shell of ["bash", "zsh", "fish"]) {
    files[shell] = `${h.dir}/completion.${shell}`;
    Deno.writeTextFileSync(files[shell], await script(shell));
  }
  return { h, files, path: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
}

async function sh(cmd: string, args: string[], path: string) {
  const r = await new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env: { PATH: path, HOME: Deno.env.get("HOME") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** Runs the bash completion function for COMP_WORDS = words (the last is the current word). */
async function complete(s: Setup, words: string[]): Promise<string[]> {
  const r = await sh("bash", [
    "-c",
    'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _vgpu_admin; ' +
    'printf "%s\\n" "${COMPREPLY[@]}"',
    "_",
    s.files.bash,
    ...words,
  ], s.path);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return r.stdout.split("\n").filter((l) => l !== "");
}

Deno.test("completions: an unknown shell is a usage error", async () => {
  const r = await runInProcess(["completions", "tcsh"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'error: invalid shell "tcsh": use bash, zsh or fish\n');
  assert.equal(r.stdout, "");
  const ok = await runInProcess(["completions", "BASH"]);
  assert.equal(ok.code, 0, "the shell name is case-insensitive");
});

Deno.test("completions: every command and option of the command table is in each script", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const text = await script(shell);
    for (const c of COMMANDS) {
      assert.ok(text.includes(c.name), `${shell}: ${c.name}`);
      for (const o of c.options) {
        const long = o.flags.split(" ")[0];
        const word = shell === "fish" ? `-l ${long.slice(2)}` : long;
        assert.ok(text.includes(word), `${shell}: ${c.name} ${long}`);
      }
    }
    assert.ok(text.includes(shell === "fish" ? "-l db" : "--db"), `${shell}: --db`);
  }
});

Deno.test("bash: a registered VM's uuid is completed after --vm-uuid=", async () => {
  const s = await setup();
  // the brief's form: the whole "--vm-uuid=" as the current word
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-vm", "--vm-uuid="]), [UUID1, UUID2]);
  // what bash really passes: "=" is in COMP_WORDBREAKS
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-vm", "--vm-uuid", "=", ""]), [
    UUID1,
    UUID2,
  ]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-vm", "--vm-uuid", "=", "2"]), [UUID2]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "remove-vm", "--vm-uuid", ""]), [
    UUID1,
    UUID2,
  ]);
  // a name typed where the uuid goes completes to that VM's uuid
  assert.deepEqual(await complete(s, ["vgpu-admin", "set-pool", "--vm-uuid", "=", "we"]), [UUID1]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "set-pool", "--vm-uuid", "=", "db:"]), [
    UUID2,
  ]);
  // --db on the line is passed on; a --db that does not exist is not read (nor created)
  assert.deepEqual(
    await complete(s, ["vgpu-admin", "--db", "=", s.h.dbPath, "show-vm", "--vm-uuid="]),
    [UUID1, UUID2],
  );
  const missing = `${s.h.dir}/nope/v.db`;
  assert.deepEqual(
    await complete(s, ["vgpu-admin", `--db=${missing}`, "show-vm", "--vm-uuid="]),
    [],
  );
  assert.throws(() => Deno.statSync(missing), Deno.errors.NotFound);
});

Deno.test("bash: commands, options, vGPU pools, priorities, formats, shells, settings", async () => {
  const s = await setup();
  assert.deepEqual(await complete(s, ["vgpu-admin", "sh"]), ["show-pool", "show-vm"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-vm", "--"]), [
    "--vm-uuid=",
    "--vm=",
    "--offline",
    "--format=",
    "--help",
    "--db=",
  ]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "scan-vms", "--d"]), ["--deep", "--db="]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "set-pool", "--pool", "=", ""]), ["A", "B"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-pool", "--pool-id", ""]), ["A", "B"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "list-vms", "--priority=m"]), ["medium"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "register-vm", "--priority", "=", ""]), [
    "low",
    "medium",
    "high",
  ]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "doctor", "--format", "=", "j"]), ["json"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "completions", ""]), ["bash", "zsh", "fish"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "settings", "hook"]), ["hook-strict"]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "settings", "hook-strict", ""]), []);
  assert.deepEqual(await complete(s, ["vgpu-admin", "register-vm", "--vm-id", ""]), []);
  assert.deepEqual(await complete(s, ["vgpu-admin", "--v"]), ["--version"]);
});

const ZSH = have("zsh");
const FISH = have("fish");

Deno.test({
  name: ZSH === null
    ? "zsh: skipped, zsh is not installed"
    : "zsh: the script parses, and lists registered VMs with their names",
  ignore: ZSH === null,
  fn: async () => {
    const zsh = ZSH!;
    const s = await setup();
    const syntax = await sh(zsh, ["-n", s.files.zsh], s.path);
    assert.equal(syntax.code, 0, syntax.stderr);
    // Outside a completion widget: stub compdef and _describe, call the uuid lister directly.
    const r = await sh(zsh, [
      "-fc",
      'compdef() { :; }; _describe() { print -rl -- "${(@P)4}"; }; source "$1"; ' +
      "_vgpu_admin_prog=vgpu-admin; _vgpu_admin_vms",
      "_",
      s.files.zsh,
    ], s.path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${UUID1}:web\n${UUID2}:db: main\n`);
  },
});

Deno.test({
  name: FISH === null
    ? "fish: skipped, fish is not installed"
    : "fish: the script parses and completes uuids, pools and commands",
  ignore: FISH === null,
  fn: async () => {
    const fish = FISH!;
    const s = await setup();
    const syntax = await sh(fish, ["--no-execute", s.files.fish], s.path);
    assert.equal(syntax.code, 0, syntax.stderr);
    const r = await sh(fish, [
      "--no-config",
      "-c",
      `source ${s.files.fish}; complete -C "vgpu-admin show-vm --vm-uuid="; echo ==; ` +
      `complete -C "vgpu-admin list-vms --pool "; echo ==; complete -C "vgpu-admin sh"`,
    ], s.path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        `--vm-uuid=${UUID1}\tweb`,
        `--vm-uuid=${UUID2}\tdb: main`,
        "==",
        "A\tonly this vGPU pool: A or B",
        "B\tonly this vGPU pool: A or B",
        "==",
        "show-pool\tshow one vGPU pool and its VMs",
        "show-vm\tshow one registered VM: database configuration and, from xe, what the VM carries",
        "",
      ].join("\n"),
    );
  },
});

Deno.test("bash: register-vm and adopt complete the host's unregistered VMs (from xe), the others registered ones", async () => {
  const UUID3 = "33333333-3333-4333-8333-333333333333";
  const h = fakeHost([
    makeVm({ uuid: UUID1, nameLabel: "web" }),
    makeVm({ uuid: UUID3, nameLabel: "fresh one" }),
  ]);
  const r = await runInProcess(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  const bin = `${h.dir}/bin`;
  Deno.mkdirSync(bin);
  writeCliWrapper(`${bin}/vgpu-admin`, h.env);
  const file = `${h.dir}/completion.bash`;
  Deno.writeTextFileSync(file, await script("bash"));
  const s = { h, files: { bash: file }, path: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
  assert.deepEqual(await complete(s, ["vgpu-admin", "register-vm", "--vm-uuid="]), [UUID3]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "adopt", "--vm="]), [UUID3]);
  // a name typed completes to its VM's uuid
  assert.deepEqual(await complete(s, ["vgpu-admin", "register-vm", "--vm-uuid=fre"]), [UUID3]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "show-vm", "--vm-uuid="]), [UUID1]);
  assert.deepEqual(await complete(s, ["vgpu-admin", "set-pool", "--vm="]), [UUID1]);
});

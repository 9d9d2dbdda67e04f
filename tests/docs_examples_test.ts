/**
 * Every example in the operator guides (docs/user-guide.md, integration-guide.md, workflows.md,
 * troubleshooting.md) is run here against a simulated host, and its output compared exactly.
 * Also checked: the user guide has a section for every command and option of main.ts, the
 * troubleshooting guide quotes every error and warning message in src/, and
 * tests/host/acceptance.sh is valid bash.
 *
 * How a guide marks an example (the guides' "About the examples" says the same to readers):
 *
 * - A fenced block with the info string `console`. A line starting with `$ ` is a command; the
 *   lines up to the next `$ ` line (or the end of the block) are its expected output: stdout and
 *   stderr as a terminal shows them, in the order they were written (which is why vgpu-admin
 *   runs here through main() with one combined IO, as runInProcess does with two buffers).
 * - A trailing shell comment `# exit N` on the command line is the expected exit code (default 0).
 * - A line that is exactly `...` in the expected output matches any number of lines.
 * - Commands the test can run: `vgpu-admin …` (in-process, main() with a fixed clock that advances
 *   one minute per command), `echo WORDS | vgpu-admin …` (WORDS is the answer read from stdin),
 *   `NAME=value vgpu-admin …` (one-off environment), `xe …` (the fake xe of tests/fake-xe, whose
 *   vm-start runs the installed start hook like xenopsd), `cat FILE`, `tail -n N FILE`, and
 *   `env -i NAME=value… /path/program args` (a program, e.g. the hook script, run with exactly
 *   that environment, as xenopsd runs hooks).
 * - Absolute paths (/etc, /var, /root, /tmp, /usr) in a command are rooted in the document's
 *   temporary directory, and that directory is removed from the output again, so the guides show
 *   the real dom0 paths. `doctor` without `--root` gets `--root=<that directory>`; a command with
 *   `--root` runs without VGPU_DB (its database is the default one under the root).
 * - `<!-- doctest: … -->` comments change the simulated host between examples (see runDirective).
 *
 * Each document gets ONE fresh simulated host (exampleHost below: fixed uuids, names, power states
 * and args; the hook installed by `install-hook`; a simulated /proc with each running VM's QEMU)
 * and runs its examples in order. Timestamps are compared as shapes (the start hook runs as a
 * subprocess with the real clock).
 *
 * `UPDATE_DOCS=1 deno test --allow-all tests/docs_examples_test.ts` rewrites the expected output in
 * the guides from what the commands print (outputs holding a `...` line are left as written).
 */
import assert from "node:assert/strict";
import { fakeOrRealRunner } from "./fake-xe/in-process.ts";
import { COMMANDS } from "../src/cli/command-table.ts";
import { main } from "../src/cli/dispatch.ts";
import { fakeHost, type FakeHostEnv, ROOT, writeCliWrapper } from "./helpers.ts";
import {
  DEFAULT_HOST_UUID,
  FAKE_XE_PATH,
  type FakeFault,
  type FakeVm,
  makeHost,
  makeVm,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const DOCS = ["user-guide.md", "integration-guide.md", "workflows.md", "troubleshooting.md"];
const UPDATE = Deno.env.get("UPDATE_DOCS") === "1";
/** The clock of the first command of each document; each command runs one minute later. */
const BASE_TIME = Date.parse("2026-11-22T09:00:00.000Z");

// ---- the example host ------------------------------------------------------------------------

export const HOST2_UUID = "0b1e7c3a-3333-4a5b-8c9d-000000000003";
export const vmUuid = (n: number): string =>
  `7d1e2f00-aaaa-4bbb-8ccc-${String(n).padStart(12, "0")}`;

/**
 * The host every guide starts from (the guides' "example host" tables describe it):
 * xcp-host-1 (this host) and xcp-host-2 in one XCP-ng pool; VM-1…VM-9 (VM-1, VM-4, VM-7 running;
 * VM-2 with hand-set QEMU args), legacy-render (a hand-configured vgpu-stub), VM-1-clone (carries
 * VM-1's device, as a clone would), remote-worker (running on xcp-host-2).
 */
function exampleVms(): FakeVm[] {
  const vms: FakeVm[] = [];
  for (let i = 1; i <= 9; i++) {
    const running = i % 3 === 1;
    vms.push(makeVm({
      uuid: vmUuid(i),
      nameLabel: `VM-${i}`,
      powerState: running ? "running" : "halted",
      platform: i === 2 ? { "device-model-args": "-vga std -display none" } : {},
      // Running before the guide starts, with no QEMU args of ours: dom-ids 1, 2, 3.
      ...(running ? { domid: (i + 2) / 3, bootedArgs: null } : {}),
    }));
  }
  vms.push(
    makeVm({
      uuid: vmUuid(10),
      nameLabel: "legacy-render",
      platform: { "device-model-args": "-device vgpu-stub,pool_id=B,priority=high,vm_id=40" },
    }),
    makeVm({
      uuid: vmUuid(11),
      nameLabel: "VM-1-clone",
      platform: { "device-model-args": "-device vgpu-stub,pool_id=A,priority=high,vm_id=1" },
    }),
    makeVm({
      uuid: vmUuid(12),
      nameLabel: "remote-worker",
      powerState: "running",
      residentOn: HOST2_UUID,
      domid: 1,
      bootedArgs: null,
    }),
  );
  return vms;
}

interface DocHost extends FakeHostEnv {
  clock: number;
  hookDir: string;
}

/**
 * The example host as a directory tree: the fake xe's state, /etc/xapi.d with the hook that
 * `install-hook` writes, /usr/local/bin/vgpu-admin (a wrapper carrying the simulated host's
 * environment: xenopsd, here the fake, runs hooks with PATH only), /var/log, and a simulated
 * /proc with one QEMU process per running VM of this host (see writeProc).
 */
async function exampleHost(): Promise<DocHost> {
  const hosts = [
    makeHost({ uuid: DEFAULT_HOST_UUID, nameLabel: "xcp-host-1", hostname: "xcp-host-1" }),
    makeHost({ uuid: HOST2_UUID, nameLabel: "xcp-host-2", hostname: "xcp-host-2" }),
  ];
  const h = fakeHost(exampleVms(), { hostname: "xcp-host-1", hosts });
  const dir = h.dir;
  const hookDir = `${dir}/etc/xapi.d/vm-pre-start`;
  for (const d of ["var/log", "root", "tmp", "usr/local/bin", "proc"]) {
    Deno.mkdirSync(`${dir}/${d}`, { recursive: true });
  }
  const env = {
    ...h.env,
    VGPU_LOG: `${dir}/var/log/vgpu-vm-startup.log`,
    VGPU_PROC_ROOT: `${dir}/proc`,
    USER: "root",
  };
  const wrapper = `${dir}/usr/local/bin/vgpu-admin`;
  writeCliWrapper(wrapper, env);
  // The hook names the wrapper by its absolute path; doctor --root=<dir> looks for that path
  // under <dir>, so it is there too (a hard link: a symlink's absolute target is the root's)
  Deno.mkdirSync(`${dir}${dir}/usr/local/bin`, { recursive: true });
  Deno.linkSync(wrapper, `${dir}${wrapper}`);
  const doc: DocHost = { ...h, env, logPath: env.VGPU_LOG, clock: BASE_TIME, hookDir };
  const r = await runVgpuAdmin(
    doc,
    [
      "install-hook",
      `--root=${dir}`,
      `--binary=${wrapper}`,
    ],
    [],
    {},
  );
  assert.equal(r.code, 0, r.output);
  doc.clock = BASE_TIME;
  const state = JSON.parse(Deno.readTextFileSync(h.statePath));
  Deno.writeTextFileSync(h.statePath, JSON.stringify({ ...state, hookDir }));
  return doc;
}

/**
 * The simulated /proc: for each VM running on this host, `/proc/<10000+domid>/cmdline` of its
 * device model, `qemu-dm-<domid> -xen-domid <domid> … <the args it booted with>` (the fake xe
 * records them at vm-start, before the hooks run, as xenopsd hands them over).
 */
function writeProc(h: DocHost): void {
  const proc = `${h.dir}/proc`;
  Deno.removeSync(proc, { recursive: true });
  Deno.mkdirSync(proc);
  for (const vm of readStateSync(h.statePath).vms) {
    if (vm.isControlDomain || (vm.powerState !== "running" && vm.powerState !== "paused")) continue;
    if (vm.residentOn !== DEFAULT_HOST_UUID || vm.domid === undefined || vm.domid < 1) continue;
    const args = vm.bootedArgs ? vm.bootedArgs.split(" ") : [];
    const argv = [`qemu-dm-${vm.domid}`, "-xen-domid", String(vm.domid), "-nodefaults", ...args];
    Deno.mkdirSync(`${proc}/${10000 + vm.domid}`);
    Deno.writeTextFileSync(`${proc}/${10000 + vm.domid}/cmdline`, argv.join("\0") + "\0");
  }
}

// ---- parsing the guides ----------------------------------------------------------------------

interface Example {
  /** 0-based line of the `$ ` line in the file. */
  line: number;
  command: string;
  /** Expected exit code, from a trailing `# exit N` (0 without). */
  code: number;
  expected: string[];
  /** 0-based lines [from, to) of the expected output in the file, for UPDATE_DOCS. */
  outFrom: number;
  outTo: number;
  indent: string;
}

interface Directive {
  line: number;
  text: string;
}

type Step = { kind: "example"; ex: Example } | { kind: "directive"; d: Directive };

/** The steps of one guide in document order: console examples and doctest directives. */
export function parseGuide(text: string): Step[] {
  const lines = text.split("\n");
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S*)/.exec(lines[i]);
    if (open !== null) {
      const [, indent, fence, info] = open;
      let end = i + 1;
      while (end < lines.length && !lines[end].trimStart().startsWith(fence)) end++;
      if (info === "console") steps.push(...parseConsole(lines, i + 1, end, indent));
      i = end;
      continue;
    }
    const d = /^<!--\s*doctest:\s*([\s\S]*?)\s*-->\s*$/.exec(lines[i]);
    if (d !== null) steps.push({ kind: "directive", d: { line: i, text: d[1] } });
  }
  return steps;
}

function parseConsole(lines: string[], from: number, to: number, indent: string): Step[] {
  const steps: Step[] = [];
  let cur: Example | null = null;
  for (let i = from; i < to; i++) {
    const l = lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i].trimStart();
    if (l.startsWith("$ ")) {
      if (cur !== null) cur.outTo = i;
      const { command, code } = splitComment(l.slice(2));
      cur = { line: i, command, code, expected: [], outFrom: i + 1, outTo: to, indent };
      steps.push({ kind: "example", ex: cur });
    } else if (cur === null) {
      if (l.trim() !== "") throw new Error(`line ${i + 1}: console block text before any "$ "`);
    } else {
      cur.expected.push(l);
    }
  }
  return steps;
}

/** `cmd args  # exit 3` → the command and 3; a comment is only recognised outside quotes. */
function splitComment(s: string): { command: string; code: number } {
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(s[i - 1]))) {
      const m = /\bexit (\d+)\b/.exec(s.slice(i));
      return { command: s.slice(0, i).trim(), code: m ? Number(m[1]) : 0 };
    }
  }
  return { command: s.trim(), code: 0 };
}

/** POSIX-shell-like word splitting: '…', "…" (with \" and \\), backslash escapes, `|` alone. */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur = "";
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Error(`unterminated ' in: ${s}`);
      cur += s.slice(i + 1, j);
      has = true;
      i = j;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && (s[i + 1] === '"' || s[i + 1] === "\\" || s[i + 1] === "$")) i++;
        cur += s[i++];
      }
      if (i >= s.length) throw new Error(`unterminated " in: ${s}`);
      has = true;
    } else if (c === "\\") {
      cur += s[++i] ?? "";
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

// ---- running one example ---------------------------------------------------------------------

interface Ran {
  code: number;
  output: string;
}

const ROOTED = /^(\/(?:etc|var|root|tmp|usr)\/.*)$/;

/** `/etc/x` → `<dir>/etc/x`, also as the value of `--opt=/etc/x`. */
function rootPath(h: DocHost, word: string): string {
  const eq = word.startsWith("--") ? word.indexOf("=") : -1;
  const value = eq >= 0 ? word.slice(eq + 1) : word;
  if (!ROOTED.test(value)) return word;
  const path = `${h.dir}${value}`;
  return eq >= 0 ? `${word.slice(0, eq + 1)}${path}` : path;
}

function childEnv(h: DocHost): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    ...h.env,
  };
}

async function runVgpuAdmin(
  h: DocHost,
  argv: string[],
  input: string[],
  extraEnv: Record<string, string>,
): Promise<Ran> {
  let output = "";
  const pending = [...input];
  const io = {
    out: { write: (t: string) => void (output += t) },
    err: { write: (t: string) => void (output += t) },
    color: false,
    interactive: false,
    readLine: () => Promise.resolve(pending.length > 0 ? pending.shift()! : null),
  };
  // doctor looks at the host's files (the hook, its binary, logrotate): the simulated host's.
  if (argv[0] === "doctor" && !argv.some((a) => a.startsWith("--root"))) {
    argv = [...argv, `--root=${h.dir}`];
  }
  const env: Record<string, string> = { ...h.env, ...extraEnv };
  // --root=DIR works on a host tree under DIR, whose database is at its default path there.
  if (argv.some((a) => a.startsWith("--root"))) delete env.VGPU_DB;
  const at = h.clock;
  h.clock += 60_000;
  const code = await main({
    argv,
    io,
    env: { get: (n) => env[n], all: () => ({ ...childEnv(h), ...extraEnv }) },
    prompt: { ask: () => Promise.reject(new Error("the guides run without a terminal")) },
    now: () => new Date(at),
    // the fake host's xe in this process (tests/fake-xe/in-process.ts)
    xeRunner: fakeOrRealRunner,
  });
  return { code, output };
}

async function runXe(h: DocHost, args: string[]): Promise<Ran> {
  const r = await new Deno.Command(FAKE_XE_PATH, {
    args,
    clearEnv: true,
    env: childEnv(h),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, output: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** `env -i NAME=value… /abs/program args`: a program run with exactly that environment. */
async function runClean(h: DocHost, words: string[]): Promise<Ran> {
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? "")) {
    const w = words.shift()!;
    env[w.slice(0, w.indexOf("="))] = w.slice(w.indexOf("=") + 1);
  }
  const [cmd, ...args] = words.map((w) => rootPath(h, w));
  const r = await new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env,
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const output = dec.decode(r.stdout) + dec.decode(r.stderr);
  return { code: r.code, output: output.replaceAll(h.dir, "") };
}

function runFile(words: string[]): Ran {
  const [cmd, ...rest] = words;
  const file = rest[rest.length - 1];
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    return { code: 1, output: `${cmd}: ${file}: ${(e as Error).message}\n` };
  }
  if (cmd === "cat") return { code: 0, output: text };
  const n = Number(rest[rest.indexOf("-n") + 1]);
  const all = text.split("\n");
  if (all[all.length - 1] === "") all.pop();
  const part = cmd === "tail" ? all.slice(-n) : all.slice(0, n);
  return { code: 0, output: part.map((l) => l + "\n").join("") };
}

async function runExample(h: DocHost, command: string): Promise<Ran> {
  writeProc(h);
  let words = shellWords(command);
  let input: string[] = [];
  const pipe = words.indexOf("|");
  if (pipe >= 0) {
    if (words[0] !== "echo") throw new Error(`only "echo … |" pipes are supported: ${command}`);
    input = [words.slice(1, pipe).join(" ")];
    words = words.slice(pipe + 1);
  }
  const extraEnv: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? "")) {
    const w = words.shift()!;
    const eq = w.indexOf("=");
    extraEnv[w.slice(0, eq)] = rootPath(h, w.slice(eq + 1));
  }
  if (words[0] === "env" && words[1] === "-i") return await runClean(h, words.slice(2));
  const [cmd, ...args] = words;
  const rooted = args.map((a) => rootPath(h, a));
  let r: Ran;
  if (cmd === "vgpu-admin") r = await runVgpuAdmin(h, rooted, input, extraEnv);
  else if (cmd === "xe") r = await runXe(h, rooted);
  else if (cmd === "cat" || cmd === "tail") r = runFile([cmd, ...rooted]);
  else throw new Error(`the guides' test cannot run: ${command}`);
  return { code: r.code, output: r.output.replaceAll(h.dir, "") };
}

// ---- directives ------------------------------------------------------------------------------

/**
 * `<!-- doctest: fault VERB {json FakeFault} -->`   inject a failure into the fake xe
 * `<!-- doctest: clear-faults -->`                    remove every injected failure
 * `<!-- doctest: vm UUID {json Partial<FakeVm>} -->` change a VM on the simulated host
 * `<!-- doctest: vm-delete UUID -->`                  remove a VM from the simulated host
 * `<!-- doctest: run COMMAND -->`                     run a command without showing it (exit 0)
 * `<!-- doctest: write PATH TEXT -->`                 write a file (PATH rooted like commands)
 */
async function runDirective(h: DocHost, d: Directive): Promise<void> {
  const [verb, ...rest] = d.text.split(/\s+/);
  const arg = d.text.slice(verb.length).trim();
  if (verb === "fault") {
    const name = rest[0];
    const fault = JSON.parse(arg.slice(name.length)) as FakeFault;
    await updateState(h.statePath, (s) => void (s.faults = { ...s.faults, [name]: fault }));
  } else if (verb === "clear-faults") {
    await updateState(h.statePath, (s) => void delete s.faults);
  } else if (verb === "vm") {
    const uuid = rest[0];
    const patch = JSON.parse(arg.slice(uuid.length)) as Partial<FakeVm>;
    await updateState(h.statePath, (s) => {
      const vm = s.vms.find((v) => v.uuid === uuid);
      if (vm === undefined) throw new Error(`line ${d.line + 1}: no VM ${uuid}`);
      Object.assign(vm, patch);
    });
  } else if (verb === "vm-delete") {
    await updateState(h.statePath, (s) => void (s.vms = s.vms.filter((v) => v.uuid !== rest[0])));
  } else if (verb === "run") {
    const { command, code } = splitComment(arg);
    const r = await runExample(h, command);
    assert.equal(r.code, code, `line ${d.line + 1}: ${command}\n${r.output}`);
  } else if (verb === "write") {
    const path = rootPath(h, rest[0]);
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(path, arg.slice(rest[0].length).trim() + "\n");
  } else {
    throw new Error(`line ${d.line + 1}: unknown doctest directive ${verb}`);
  }
}

// ---- comparing -------------------------------------------------------------------------------

/** Timestamps as shapes: the hook subprocess runs with the real clock. Same length, so tables keep their widths. */
function normalise(line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z/g, (m) => m.replace(/\d/g, "9"))
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, (m) => m.replace(/\d/g, "9"))
    .replace(/\d{8}T\d{6}Z/g, (m) => m.replace(/\d/g, "9"))
    .trimEnd();
}

function outputLines(text: string): string[] {
  const lines = text.split("\n").map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Line-by-line equality after normalise(); a `...` line matches any number of lines. */
export function matches(expected: string[], actual: string[]): boolean {
  const e = expected.map(normalise);
  const a = actual.map(normalise);
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    if (memo.has(key)) return memo.get(key)!;
    let r: boolean;
    if (i === e.length) r = j === a.length;
    else if (e[i] === "...") r = go(i + 1, j) || (j < a.length && go(i, j + 1));
    else r = j < a.length && e[i] === a[j] && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

// ---- the tests -------------------------------------------------------------------------------

export async function checkGuide(name: string): Promise<void> {
  const path = `${ROOT}/docs/${name}`;
  const text = Deno.readTextFileSync(path);
  const steps = parseGuide(text);
  assert.ok(steps.some((s) => s.kind === "example"), `${name} has no console examples`);
  const h = await exampleHost();
  const failures: string[] = [];
  const rewrites: { ex: Example; lines: string[]; code: number }[] = [];
  try {
    for (const s of steps) {
      if (s.kind === "directive") {
        await runDirective(h, s.d);
        continue;
      }
      const ex = s.ex;
      const r = await runExample(h, ex.command);
      const actual = outputLines(r.output);
      const expected = outputLines(ex.expected.join("\n"));
      const ok = r.code === ex.code && matches(expected, actual);
      if (UPDATE && !ex.expected.includes("...")) {
        rewrites.push({ ex, lines: actual, code: r.code });
      } else if (!ok) {
        failures.push(
          [
            `docs/${name}:${ex.line + 1}: $ ${ex.command}`,
            `  exit code: expected ${ex.code}, got ${r.code}`,
            "  expected:",
            ...expected.map((l) => `    |${l}`),
            "  actual:",
            ...actual.map((l) => `    |${l}`),
          ].join("\n"),
        );
      }
    }
  } finally {
    Deno.removeSync(h.dir, { recursive: true });
  }
  if (UPDATE && rewrites.length > 0) {
    const lines = text.split("\n");
    for (const { ex, lines: out, code } of rewrites.reverse()) {
      const body = ex.command + (code === 0 ? "" : `  # exit ${code}`);
      lines.splice(ex.outFrom, ex.outTo - ex.outFrom, ...out.map((l) => ex.indent + l));
      lines[ex.line] = `${ex.indent}$ ${body}`;
    }
    Deno.writeTextFileSync(path, lines.join("\n"));
  }
  assert.deepEqual(failures, [], failures.join("\n\n"));
}

for (const name of DOCS) {
  Deno.test(`docs/${name}: every console example prints what the guide shows`, async () => {
    await checkGuide(name);
  });
}

// ---- coverage: the guides keep up with the code ---------------------------------------------

Deno.test("docs/user-guide.md has a section for every command and mentions every option", () => {
  const guide = Deno.readTextFileSync(`${ROOT}/docs/user-guide.md`);
  const missing: string[] = [];
  for (const c of COMMANDS) {
    if (!new RegExp(`^### \`${c.name}\``, "m").test(guide)) missing.push(`### \`${c.name}\``);
    for (const o of c.options) {
      const flag = o.flags.split(" ")[0];
      const section = sectionOf(guide, `### \`${c.name}\``);
      if (!section.includes(flag)) missing.push(`${c.name} ${flag}`);
    }
  }
  assert.deepEqual(missing, []);
});

function sectionOf(text: string, heading: string): string {
  const at = text.indexOf(`\n${heading}`);
  if (at < 0) return "";
  const next = text.indexOf("\n### ", at + 1);
  return text.slice(at, next < 0 ? undefined : next);
}

/** Static text of each message given to `new …Error(…)` in src/, and of each "warning:" line. */
export function messageFragments(source: string): string[] {
  const out: string[] = [];
  const re = /new (\w*Error)\(\s*(["'`])|(["'`])(warning: )/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    if (m[1] === "RangeError" || m[1] === "Error") continue; // internal bugs, printed as "bug: …"
    const q = m[2] ?? m[3];
    const start = m.index + m[0].length - (m[4]?.length ?? 0);
    const parts = staticParts(source, start, q);
    const longest = parts.map((p) => p.trim()).sort((a, b) => b.length - a.length)[0] ?? "";
    if (longest.length >= 10) out.push(longest);
  }
  return out;
}

/** The literal text of a string starting at `i` (after its quote), `${…}` parts left out. */
function staticParts(s: string, i: number, q: string): string[] {
  const parts: string[] = [];
  let cur = "";
  while (i < s.length && s[i] !== q) {
    if (s[i] === "\\") {
      cur += s[i + 1];
      i += 2;
    } else if (q === "`" && s.startsWith("${", i)) {
      parts.push(cur);
      cur = "";
      let depth = 1;
      i += 2;
      while (i < s.length && depth > 0) {
        if (s[i] === "{") depth++;
        else if (s[i] === "}") depth--;
        else if (s[i] === "`") i = skipTemplate(s, i + 1);
        i++;
      }
    } else cur += s[i++];
  }
  parts.push(cur);
  return parts;
}

function skipTemplate(s: string, i: number): number {
  while (i < s.length && s[i] !== "`") i += s[i] === "\\" ? 2 : 1;
  return i;
}

Deno.test("docs/troubleshooting.md explains every error and warning message in src/", () => {
  // A `|` inside a table cell is written `\|`.
  const guide = Deno.readTextFileSync(`${ROOT}/docs/troubleshooting.md`).replaceAll("\\|", "|")
    .replace(/\s+/g, " ");
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (p.endsWith(".ts")) {
        for (const f of messageFragments(Deno.readTextFileSync(p))) {
          if (!guide.includes(f.replace(/\s+/g, " "))) {
            missing.push(`${p.slice(ROOT.length + 1)}: ${f}`);
          }
        }
      }
    }
  };
  walk(`${ROOT}/src`);
  assert.deepEqual(missing, []);
});

Deno.test("tests/host/acceptance.sh is valid bash (syntax only; it runs on a real dom0)", async () => {
  const r = await new Deno.Command("bash", {
    args: ["-n", `${ROOT}/tests/host/acceptance.sh`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
});

Deno.test("the guides' parser: commands, exit codes, wildcards, quoting", () => {
  const steps = parseGuide(
    [
      "```console",
      "$ vgpu-admin sync --check  # exit 3",
      "a",
      "$ echo yes | vgpu-admin remove-vm --vm-uuid=X",
      "```",
      "<!-- doctest: clear-faults -->",
    ].join("\n"),
  );
  assert.equal(steps.length, 3);
  const [a, b] = steps.map((s) => s.kind === "example" ? s.ex : null);
  assert.deepEqual([a?.command, a?.code, a?.expected], ["vgpu-admin sync --check", 3, ["a"]]);
  assert.deepEqual([b?.command, b?.code, b?.expected], [
    "echo yes | vgpu-admin remove-vm --vm-uuid=X",
    0,
    [],
  ]);
  assert.deepEqual(shellWords(`--name="Batch jobs" 'a b' c\\ d`), [
    "--name=Batch jobs",
    "a b",
    "c d",
  ]);
  assert.ok(matches(["x", "...", "z"], ["x", "y1", "y2", "z"]));
  assert.ok(matches(["...", "z"], ["z"]));
  assert.ok(!matches(["x", "z"], ["x", "y", "z"]));
  assert.ok(matches(["at 2026-11-22T09:00:00.000Z"], ["at 2027-01-01T10:11:12.131Z"]));
  assert.deepEqual(
    messageFragments("throw new UsageError(`invalid --limit ${quote(x)}: a whole number`);"),
    [": a whole number"],
  );
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "").replace(/\s/g, "-");
}

Deno.test("the guides' links to other guides and to headings resolve", () => {
  const files = [...DOCS, "json.md"];
  const anchors = new Map<string, Set<string>>();
  for (const f of files) {
    const text = Deno.readTextFileSync(`${ROOT}/docs/${f}`).replace(/^```[\s\S]*?^```/gm, "");
    anchors.set(f, new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]))));
  }
  const broken: string[] = [];
  for (const f of DOCS) {
    const text = Deno.readTextFileSync(`${ROOT}/docs/${f}`).replace(/^```[\s\S]*?^```/gm, "");
    for (const m of text.matchAll(/\]\(([^)\s]*)\)/g)) {
      const [file, anchor] = m[1].split("#");
      if (/^[a-z]+:/.test(file)) continue; // an external address
      const target = file === "" ? f : file;
      if (!anchors.has(target)) {
        if (!target.startsWith("../")) broken.push(`${f}: ${m[1]}`);
        continue;
      }
      if (anchor !== undefined && !anchors.get(target)!.has(anchor)) broken.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(broken, []);
});

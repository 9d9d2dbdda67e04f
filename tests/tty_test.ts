// Colour appears only on a terminal and never with NO_COLOR: run the CLI under a real
// pseudo-terminal with util-linux `script`, and through a pipe.
import assert from "node:assert/strict";
import { cliCommand, fakeHost, runCli, runInProcess, tempDir, UUID1 } from "./helpers.ts";
import { makeVm } from "./fake-xe/state.ts";
import { openDatabase } from "../src/store/open.ts";
import { CLAIM_PREFIX } from "../src/domain/pool.ts";
import { updateState } from "./fake-xe/state.ts";
import { enableAll, fakePool, poolVm } from "./pool-helpers.ts";

const ESC = "\x1b[";
const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Runs the CLI on a pseudo-terminal (`columns` wide when given); returns its output, \n lines. */
async function onTerminal(
  args: string[],
  env: Record<string, string>,
  columns?: number,
): Promise<string> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const size = columns === undefined ? "" : `stty cols ${columns} rows 50; `;
  const line = size + "exec " + [...cliCommand(), ...args].map(q).join(" ");
  const r = await new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    env: { ...env, TERM: "xterm" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout).replaceAll("\r\n", "\n");
}

Deno.test({
  name: "colour on a terminal, none with NO_COLOR, none through a pipe",
  ignore: !hasScript,
  async fn() {
    const db = `${tempDir()}/c.db`;
    (await openDatabase(db, { now: () => new Date(), create: true })).db.close();
    const tty = await onTerminal(["list-pools"], { VGPU_DB: db });
    assert.ok(tty.includes(`${ESC}1m=== Pools (2) ===`), JSON.stringify(tty));
    const noColor = await onTerminal(["list-pools"], { VGPU_DB: db, NO_COLOR: "1" });
    assert.ok(noColor.includes("=== Pools (2) ==="));
    assert.ok(!noColor.includes(ESC), JSON.stringify(noColor));
    const [cmd, ...pre] = cliCommand();
    const piped = await new Deno.Command(cmd, {
      args: [...pre, "list-pools"],
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", VGPU_DB: db, TERM: "xterm" },
      stdout: "piped",
    }).output();
    const out = new TextDecoder().decode(piped.stdout);
    assert.equal(piped.code, 0);
    assert.ok(out.includes("=== Pools (2) ===") && !out.includes(ESC), JSON.stringify(out));
  },
});
// deno-lint-ignore no-console
if (!hasScript) console.error("tty_test: util-linux 'script' not found; colour test ignored");

// ---- yes/no questions on a real terminal (issue 11 point 3, issue 9: Ctrl-C/Ctrl-D = no) ------

const QUESTION = "Do you want to apply these settings? (yes/no): ";

/**
 * Runs the CLI on a pseudo-terminal (`script`), and each time the output holds `waitFor` one more
 * time, types the next of `keys`. Returns everything the terminal showed and the exit code.
 */
async function converse(
  args: string[],
  env: Record<string, string>,
  waitFor: string,
  keys: string[],
): Promise<{ code: number; screen: string }> {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = "exec " + [...cliCommand(), ...args].map(q).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      SHELL: "/bin/sh",
      TERM: "xterm",
      NO_COLOR: "1",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const dec = new TextDecoder();
  let screen = "";
  let sent = 0;
  const count = (s: string) => s.split(waitFor).length - 1;
  for await (const chunk of child.stdout) {
    screen += dec.decode(chunk, { stream: true });
    while (sent < keys.length && count(screen) > sent) {
      await writer.write(new TextEncoder().encode(keys[sent++]));
    }
  }
  const { code } = await child.status;
  await writer.close().catch(() => {});
  return { code, screen: screen.replaceAll("\r\n", "\n") };
}

async function haltedVm(): Promise<Record<string, string>> {
  const h = fakeHost([makeVm({ uuid: UUID1, nameLabel: "web" })]);
  const r = await runCli(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env });
  assert.equal(r.code, 0, r.stderr);
  return h.env;
}

async function priorityOf(env: Record<string, string>): Promise<string> {
  const r = await runCli(["show-vm", `--vm-uuid=${UUID1}`, "--format=json"], { env });
  return JSON.parse(r.stdout).vm.registered.priority;
}

Deno.test({
  name: "tty: the registry's exact question; 'maybe' is asked again, then 'yes' applies",
  ignore: !hasScript,
  async fn() {
    const env = await haltedVm();
    const r = await converse(
      ["set-priority", `--vm-uuid=${UUID1}`, "--priority=high"],
      env,
      QUESTION,
      ["maybe\n", "yes\n"],
    );
    assert.equal(r.code, 0, r.screen);
    assert.ok(
      r.screen.includes(`${QUESTION}maybe\nPlease answer yes or no.\n${QUESTION}yes\n`),
      JSON.stringify(r.screen),
    );
    assert.ok(!r.screen.includes("? Do you"), "no prompt-library prefix");
    assert.equal(await priorityOf(env), "high");
  },
});

for (const [what, key] of [["Ctrl-C", "\x03"], ["Ctrl-D", "\x04"]] as const) {
  Deno.test({
    name: `tty: ${what} at the question means no: Cancelled, exit 1, nothing changed`,
    ignore: !hasScript,
    async fn() {
      const env = await haltedVm();
      const r = await converse(
        ["set-priority", `--vm-uuid=${UUID1}`, "--priority=high"],
        env,
        QUESTION,
        [key],
      );
      assert.equal(r.code, 1, r.screen);
      assert.match(r.screen, /\nCancelled; nothing changed\.\n$/);
      assert.ok(!r.screen.includes("bug:"), r.screen);
      assert.equal(await priorityOf(env), "medium");
    },
  });
}

Deno.test({
  name: "tty: remove-vm asks in the same style, Ctrl-C keeps the VM",
  ignore: !hasScript,
  async fn() {
    const env = await haltedVm();
    const question = `from vgpu-admin? (yes/no): `;
    const r = await converse(["remove-vm", `--vm-uuid=${UUID1}`], env, question, ["nah\n", "\x03"]);
    assert.equal(r.code, 1, r.screen);
    assert.ok(r.screen.includes(`${question}nah\nPlease answer yes or no.\n`), r.screen);
    assert.match(r.screen, /Cancelled; nothing changed\.\n$/);
    assert.equal(await priorityOf(env), "medium", "still registered");
  },
});

// Width (issue 13): list-vms and history fit the terminal; names are cut in the middle, uuids
// never; below the minimum width rows become blocks; through a pipe nothing is cut.
const FAMILY = "👨‍👩‍👧"; // one grapheme, 2 columns
const LONG = "render-node-with-a-very-long-descriptive-name-07"; // 48 columns
const U = (n: number) => `0a000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

async function widthDb(): Promise<string> {
  const db = `${tempDir("vgpu-width-")}/w.db`;
  const vms: [number, string, string, string][] = [
    [1, "web-1", "A", "high"],
    [2, LONG, "B", "low"],
    [3, `${FAMILY} family ☕`, "A", "medium"], // 2 + 8 + 2 = 12 columns
  ];
  for (const [id, name, pool, priority] of vms) {
    const r = await runInProcess(
      [
        "register-vm",
        `--vm-uuid=${U(id)}`,
        `--vm-name=${name}`,
        `--pool=${pool}`,
        `--priority=${priority}`,
        `--vm-id=${id}`,
        "--offline",
      ],
      { env: { VGPU_DB: db }, now: () => new Date(Date.UTC(2026, 10, 30, 20, 4, id)) },
    );
    assert.equal(r.code, 0, r.stderr);
  }
  return db;
}

/** Lines of printable ASCII: their length is their width on the terminal. */
const asciiLines = (out: string) => out.split("\n").filter((l) => /^[\x20-\x7e]*$/.test(l));

Deno.test({
  name: "list-vms at 120 columns: a table, the long name cut in the middle, no uuid cut",
  ignore: !hasScript,
  async fn() {
    const db = await offlineDb();
    const out = await onTerminal(["list-vms"], { VGPU_DB: db, NO_COLOR: "1" }, 120);
    const lines = out.split("\n");
    // 5 + 36 + 8 fixed columns, the pool's 10 ("A (Pool A)"), 16 of borders: 45 columns are left
    // for the 48-column name.
    assert.ok(
      lines.includes(
        `│ 2     │ ${
          U(2)
        } │ render-node-with-a-ver…ng-descriptive-name-07 │ B (Pool B) │ low      │`,
      ),
      out,
    );
    assert.ok(
      lines.includes(
        `│ 3     │ ${U(3)} │ ${FAMILY} family ☕${" ".repeat(33)} │ A (Pool A) │ medium   │`,
      ),
      out,
    );
    for (const l of asciiLines(out)) assert.ok(l.length <= 120, `${l.length}: ${l}`);
    assert.equal(lines[0].length, 120, "the table takes the whole width");
    for (const id of [1, 2, 3]) assert.ok(out.includes(U(id)), "uuids are never cut");
  },
});

Deno.test({
  name: "list-vms at 80 columns: below the table's minimum width, one block per VM",
  ignore: !hasScript,
  async fn() {
    const db = await offlineDb();
    const out = await onTerminal(["list-vms"], { VGPU_DB: db, NO_COLOR: "1" }, 80);
    assert.ok(!out.includes("│"), out);
    assert.ok(
      out.includes(
        [
          "VM ID:     2",
          `UUID:      ${U(2)}`,
          `Name:      ${LONG}`,
          "vGPU Pool: B (Pool B)",
          "Priority:  low",
        ].join("\n"),
      ),
      out,
    );
    assert.ok(out.includes(`Name:      ${FAMILY} family ☕\n`), out);
    for (const l of asciiLines(out)) assert.ok(l.length <= 80, `${l.length}: ${l}`);
  },
});

Deno.test({
  name: "history at 80 and 120 columns fits; a long change is cut in the middle",
  ignore: !hasScript,
  async fn() {
    const db = await offlineDb();
    for (const columns of [80, 120]) {
      const out = await onTerminal(["history"], { VGPU_DB: db, NO_COLOR: "1", TZ: "UTC" }, columns);
      for (const l of asciiLines(out)) assert.ok(l.length <= columns, `${columns}: ${l}`);
      // Time, actor, command and uuid take 98 columns with the borders: Change gets less than its
      // minimum (32) even at 120, so each change is a block.
      assert.ok(!out.includes("│"), out);
      assert.ok(out.includes(`Subject: ${U(2)}\n`), out);
      assert.ok(out.includes("Time:    2026-11-30 20:04:02 +0000\n"), out);
      if (columns === 80) {
        // "Command: " takes 9 columns: 71 are left for the 87-column value, cut in its middle.
        assert.ok(
          out.includes(
            'Change:  new: vm_name="render-node-with-a-ve…-07" pool_id=B priority=low vm_id=2\n',
          ),
          out,
        );
      }
    }
  },
});

Deno.test({
  name: "history at 200 columns: each row says what changed, before -> after per field, uncut",
  ignore: !hasScript,
  async fn() {
    const db = await widthDb();
    const rename = await runInProcess(
      ["set-pool-name", "--pool-id=B", "--name=Batch", `--description=${LONG}`],
      { env: { VGPU_DB: db } },
    );
    assert.equal(rename.code, 0, rename.stderr);
    const out = await onTerminal(["history"], { VGPU_DB: db, NO_COLOR: "1", TZ: "UTC" }, 200);
    for (const l of asciiLines(out)) assert.ok(l.length <= 200, l);
    const row = out.split("\n").find((l) => l.includes("set-pool-name"))!;
    assert.ok(
      row.includes(`│ pool_name "Pool B" -> "Batch", description null -> "${LONG}" │`),
      out,
    );
    assert.ok(!out.includes("…"), out);
    assert.ok(!/│ Before|│ After/.test(out), "one Change column, not two whole rows");
  },
});

Deno.test({
  name: "through a pipe nothing is cut, whatever COLUMNS says",
  async fn() {
    const db = await offlineDb();
    for (const cmd of ["list-vms", "history"]) {
      const r = await runCli([cmd], { env: { VGPU_DB: db, COLUMNS: "40", TZ: "UTC" } });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith("┌"), r.stdout);
      assert.ok(r.stdout.includes(LONG), r.stdout);
      assert.ok(!r.stdout.includes("…"), r.stdout);
    }
  },
});

Deno.test({
  name: "a terminal that reports no size: COLUMNS, else 80",
  ignore: !hasScript,
  async fn() {
    const db = await offlineDb();
    const out = await onTerminal(["list-vms"], { VGPU_DB: db, NO_COLOR: "1", COLUMNS: "200" });
    assert.ok(out.includes(LONG) && out.includes("│"), out);
  },
});

let offline: Promise<string> | null = null;
const offlineDb = () => (offline ??= widthDb());

// Line layouts at 80 columns (issue 18 C11): status, scan-vms, show-pool and doctor break between
// fields (never inside a word) and fit, except a command to paste, which is never broken.
Deno.test({
  name: "status, scan-vms, show-pool, show-vm at 80 columns: lines fit, broken only between fields",
  ignore: !hasScript,
  async fn() {
    const d = (p: string, pr: string, id: number) =>
      `-device vgpu-stub,pool_id=${p},priority=${pr},vm_id=${id}`;
    const V = (n: number) => `7d1e2f00-aaaa-4bbb-8ccc-00000000000${n}`;
    const h = fakeHost([
      makeVm({ uuid: V(1), nameLabel: "VM-1", powerState: "running" }),
      makeVm({
        uuid: V(2),
        nameLabel: "VM-2",
        platform: { "device-model-args": d("B", "low", 2) },
      }),
      makeVm({
        uuid: V(3),
        nameLabel: "clone",
        platform: { "device-model-args": d("A", "high", 1) },
      }),
      makeVm({
        uuid: V(4),
        nameLabel: "hand",
        platform: { "device-model-args": d("B", "high", 40) },
      }),
    ]);
    for (
      const argv of [
        ["register-vm", `--vm-uuid=${V(1)}`, "--priority=high"],
        ["register-vm", `--vm-uuid=${V(2)}`, "--offline", "--vm-name=VM-2", "--vm-id=2"],
      ]
    ) assert.equal((await runInProcess(argv, { env: h.env })).code, 0);
    const env = { ...h.env, NO_COLOR: "1", TZ: "UTC" };
    for (
      const argv of [["status"], ["scan-vms"], ["show-pool", "--pool-id=A"], [
        "show-vm",
        `--vm-uuid=${V(2)}`,
      ]]
    ) {
      const out = await onTerminal(argv, env, 80);
      const piped = await runCli(argv, { env });
      const what = argv[0];
      for (const l of out.split("\n")) {
        const command = /^ *(-> fix: |Action: Run ')vgpu-admin \S+( --\S+)*'?$/.test(l);
        assert.ok([...l].length <= 80 || command, `${what}: ${[...l].length}: ${l}`);
      }
      // the same words in the same order: only line breaks (and the " | " at a break) differ
      const words = (s: string) => s.split(/\s+/).filter((w) => w !== "" && w !== "|");
      assert.deepEqual(words(out), words(piped.stdout), what);
      // a command to paste is never broken: each one is whole on one line
      const commands = piped.stdout.match(
        /vgpu-admin [a-z-]+ --vm-uuid=[0-9a-f-]{36}( --[a-z-]+=\S+)*/g,
      );
      for (const c of commands ?? []) {
        assert.ok(out.split("\n").some((l) => l.includes(c)), `${what}: ${c} broken in\n${out}`);
      }
      // and a pipe gets whole lines: the piped status has lines wider than 80
      if (what === "status") assert.ok(piped.stdout.split("\n").some((l) => [...l].length > 80));
    }
  },
});

Deno.test({
  name: "install-hook and uninstall-hook at 80 columns: lines fit, broken only between words",
  ignore: !hasScript,
  async fn() {
    // a hook line on dom0 is ~100 columns ("runs /usr/local/bin/vgpu-admin"); here longer still.
    // The terminal and the pipe each get a root of their own, with paths of the same length.
    const onTty = tempDir("vgpu-tty-install-");
    const onPipe = tempDir("vgpu-tty-install-");
    const env = (root: string) => ({
      VGPU_DB: `${root}/etc/vgpu/vgpu_config.db`,
      NO_COLOR: "1",
      TZ: "UTC",
    });
    const words = (s: string) => s.split(/\s+/).filter((w) => w !== "");
    for (const cmd of ["install-hook", "uninstall-hook"]) {
      const out = await onTerminal([cmd, `--root=${onTty}`], env(onTty), 80);
      const piped = await runCli([cmd, `--root=${onPipe}`], { env: env(onPipe) });
      assert.equal(piped.code, 0, piped.stderr);
      assert.ok(piped.stdout.split("\n").some((l) => [...l].length > 80), `${cmd}: pipe: whole`);
      // every line fits, but for a single word (a path) longer than the terminal
      for (const l of out.split("\n")) {
        assert.ok([...l].length <= 80 || !l.trim().includes(" "), `${cmd}: ${[...l].length}: ${l}`);
      }
      // the same words in the same order, stdout then stderr (a terminal shows both)
      assert.deepEqual(
        words(out.replaceAll(onTty, onPipe)),
        words(piped.stdout + piped.stderr),
        cmd,
      );
    }
  },
});

Deno.test({
  name:
    "pool status at 80 columns: lines fit, broken only between fields; a fix to paste stays whole",
  ignore: !hasScript,
  async fn() {
    const p = fakePool(2, [poolVm(1), poolVm(2)]);
    await enableAll(p);
    const [h1] = p.hosts;
    for (const vm of [poolVm(1), poolVm(2)]) {
      assert.equal(
        (await runInProcess(["register-vm", `--vm-uuid=${vm.uuid}`], { env: h1.env })).code,
        0,
      );
    }
    // a lost claim: its fix is a command longer than 80 columns; the redo log cannot be told
    await updateState(p.statePath, (s) => {
      delete s.pool!.otherConfig[`${CLAIM_PREFIX}2`];
    });
    Deno.removeSync(h1.localDb);
    const env = { ...h1.env, NO_COLOR: "1", TZ: "UTC" };
    const out = await onTerminal(["pool", "status"], env, 80);
    const piped = await runCli(["pool", "status"], { env });
    const fix = piped.stdout.split("\n").find((l) => l.startsWith("    fix: "));
    assert.ok(fix !== undefined && [...fix].length > 80, piped.stdout);
    assert.ok(out.split("\n").includes(fix), `the fix to paste broken in\n${out}`);
    for (const l of out.split("\n")) {
      assert.ok([...l].length <= 80 || l === fix, `${[...l].length}: ${l}`);
    }
    const words = (s: string) => s.split(/\s+/).filter((w) => w !== "" && w !== "|");
    assert.deepEqual(words(out), words(piped.stdout));
    assert.ok(piped.stdout.split("\n").some((l) => [...l].length > 80), "a pipe gets whole lines");
  },
});

Deno.test({
  name: "set-pool's progress line at 80 columns keeps the timeout: the uuid is shortened",
  ignore: !hasScript,
  async fn() {
    const V = "7d1e2f00-aaaa-4bbb-8ccc-000000000001";
    const h = fakeHost([makeVm({ uuid: V, nameLabel: "VM-1", powerState: "running" })]);
    assert.equal((await runInProcess(["register-vm", `--vm-uuid=${V}`], { env: h.env })).code, 0);
    const out = await onTerminal(
      ["set-pool", `--vm-uuid=${V}`, "--pool=B", "--yes"],
      { ...h.env, NO_COLOR: "1" },
      80,
    );
    const drawn = out.split(/[\r\n]/).find((l) => l.startsWith("Shutting down VM"));
    assert.ok(drawn !== undefined, out);
    const line = drawn.replace("\x1b[K", "");
    assert.ok([...line].length <= 79, line);
    assert.match(
      line,
      /^Shutting down VM 7d1e2f00… \(clean, waiting up to 120 s\)\.\.\. \(\d+ s\)$/,
    );
  },
});

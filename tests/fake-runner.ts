/**
 * An in-process, argv-keyed fake of the xe runner (style.md rule 9), given to vgpu-admin through
 * Deps (runInProcess's `xe` option). It answers the verbs vgpu-admin uses from a small model of
 * the host (VMs with power state and platform args), so a test states only what is special:
 * `expect(pattern, reply)` answers the next call whose argv (joined by spaces) matches, once,
 * before the model; a reply can fail, print garbage, hang (an XeTimeoutError at once, the fake
 * clock moved by the call's bound: no real waiting) or run a side effect. A call that neither an
 * expectation nor the model knows fails at once; `verify()` fails on expectations never used.
 * The subprocess fake (tests/fake-xe) stays for the end-to-end tests.
 */
import { DatabaseSync } from "node:sqlite";
import { XeTimeoutError } from "../src/domain/errors.ts";
import { classifyXeFailure } from "../src/xe/parse.ts";
import type { XeRunner } from "../src/xe/runner.ts";
import { runInProcess, tempDir, UUID1 } from "./helpers.ts";

export type Power = "halted" | "running" | "paused" | "suspended";

export interface ModelVm {
  uuid: string;
  nameLabel: string;
  power: Power;
  /** platform map; the args live under "device-model-args". */
  platform: Record<string, string>;
  /** Set by vm-start: the args the VM booted with (null: none). */
  bootedArgs?: string | null;
  /** A late clean shutdown: at this time of the fake clock the running VM halts. */
  haltAt?: number;
}

export interface Reply {
  code?: number;
  stdout?: string;
  stderr?: string;
  /** Never answers: the runner's time bound passes (XeTimeoutError), the clock moves by it. */
  hang?: boolean;
  /** Run the call in the model first (its change happens), then answer with this reply. */
  thenModel?: boolean;
  /** Runs when the call is answered (e.g. take a database lock, fill the disk). */
  effect?: () => void | Promise<void>;
}

export interface FakeClock {
  now(): Date;
  sleep(ms: number): Promise<void>;
  every(ms: number, fn: () => void): () => void;
  after(ms: number, fn: () => void): () => void;
  /** Total milliseconds passed through sleep() and hung calls. */
  readonly elapsedMs: number;
}

/**
 * A clock that never waits: sleep moves it at once. Its timers (every, after) fire only when the
 * clock is moved past them (sleep, advance, a hung call), never in real time.
 */
export function fakeClock(start = new Date("2026-03-01T02:00:00.000Z")): FakeClock & {
  advance(ms: number): void;
} {
  let t = start.getTime();
  let elapsed = 0;
  const timers = new Set<{ at: number; period: number | null; fn: () => void }>();
  const schedule = (ms: number, period: number | null, fn: () => void) => {
    const timer = { at: t + ms, period, fn };
    timers.add(timer);
    return () => void timers.delete(timer);
  };
  const move = (ms: number) => {
    const end = t + ms;
    elapsed += ms;
    for (;;) {
      const due = [...timers].filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      t = due.at; // each timer sees the time it was due at
      if (due.period === null) timers.delete(due);
      else due.at += due.period;
      due.fn();
    }
    t = end;
  };
  return {
    now: () => new Date(t),
    async sleep(ms: number) {
      move(ms);
      await Promise.resolve();
    },
    every: (ms, fn) => schedule(ms, Math.max(ms, 1), fn),
    after: (ms, fn) => schedule(ms, null, fn),
    advance: move,
    get elapsedMs() {
      return elapsed;
    },
  };
}

export const HOST_UUID = "0b1e7c3a-1111-4a5b-8c9d-000000000001";

interface Expectation {
  pattern: RegExp;
  reply: Reply;
  used: boolean;
}

export class FakeRunner implements XeRunner {
  readonly calls: string[] = [];
  readonly vms: Map<string, ModelVm>;
  #expectations: Expectation[] = [];
  #unexpected: string[] = [];

  constructor(vms: ModelVm[], readonly clock?: FakeClock & { advance(ms: number): void }) {
    this.vms = new Map(vms.map((v) => [v.uuid, { ...v, platform: { ...v.platform } }]));
  }

  /** The next call whose argv (joined by spaces) matches `pattern` gets `reply` (once). */
  expect(pattern: RegExp | string, reply: Reply = {}): this {
    const re = typeof pattern === "string"
      ? new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`)
      : pattern;
    this.#expectations.push({ pattern: re, reply, used: false });
    return this;
  }

  vm(uuid: string): ModelVm {
    const v = this.vms.get(uuid);
    if (v === undefined) throw new Error(`fake xe: no VM ${uuid}`);
    return v;
  }

  /** Fails on expectations never used and on calls nothing expected. */
  verify(): void {
    const unused = this.#expectations.filter((e) => !e.used).map((e) => String(e.pattern));
    if (unused.length > 0 || this.#unexpected.length > 0) {
      throw new Error(
        `fake xe: unused expectations ${JSON.stringify(unused)}; unexpected calls ${
          JSON.stringify(this.#unexpected)
        }`,
      );
    }
  }

  async run(args: readonly string[], o?: { timeoutMs?: number }): Promise<string> {
    const line = args.join(" ");
    this.calls.push(line);
    const t = this.clock?.now().getTime();
    for (const v of this.vms.values()) {
      if (v.haltAt !== undefined && t !== undefined && t >= v.haltAt) {
        if (v.power === "running") v.power = "halted";
        delete v.haltAt;
      }
    }
    const exp = this.#expectations.find((e) => !e.used && e.pattern.test(line));
    if (exp !== undefined) {
      exp.used = true;
      const r = exp.reply;
      if (r.hang) {
        if (r.thenModel) this.#model(args);
        const ms = o?.timeoutMs ?? 30_000;
        this.clock?.advance(ms);
        await r.effect?.();
        throw new XeTimeoutError(`xe ${args[0]} did not answer within ${ms / 1000} s`, args, ms);
      }
      const modelled = r.thenModel ? this.#model(args) : null;
      await r.effect?.();
      if ((r.code ?? 0) !== 0) throw classifyXeFailure(args, r.code!, r.stderr ?? "");
      if (r.stdout === undefined && modelled !== null) {
        if (modelled.code !== 0) throw classifyXeFailure(args, modelled.code, modelled.stderr);
        return modelled.stdout;
      }
      return r.stdout ?? "";
    }
    const out = this.#model(args);
    if (out === null) {
      this.#unexpected.push(line);
      throw new Error(`fake xe: unexpected call: xe ${line}`);
    }
    if (out.code !== 0) throw classifyXeFailure(args, out.code, out.stderr);
    return out.stdout;
  }

  /** The host's answer to a call, changing the model as xe would; null for a call it does not know. */
  #model(args: readonly string[]): { code: number; stdout: string; stderr: string } | null {
    const p = new Map<string, string>();
    for (const a of args.slice(1)) {
      const i = a.indexOf("=");
      if (i > 0) p.set(a.slice(0, i), a.slice(i + 1));
    }
    const ok = (stdout = "") => ({ code: 0, stdout, stderr: "" });
    const fail = (stderr: string) => ({ code: 1, stdout: "", stderr });
    const vmOf = (u: string | undefined) => (u === undefined ? undefined : this.vms.get(u));
    const invalid = (u: string) =>
      fail(`The uuid you supplied was invalid.\ntype: VM\nuuid: ${u}\n`);
    switch (args[0]) {
      case "vm-list": {
        const want = p.get("uuid");
        const out = [...this.vms.values()].filter((v) => want === undefined || v.uuid === want)
          .map((v) => record(v)).join("");
        return ok(out);
      }
      case "host-list":
        return ok(`uuid ( RO)           : ${HOST_UUID}\n     name-label ( RW): xcp-host\n\n\n`);
      case "vm-param-get": {
        const u = p.get("uuid")!;
        const v = vmOf(u);
        if (v === undefined) return invalid(u);
        if (p.get("param-name") === "power-state") return ok(`${v.power}\n`);
        if (p.get("param-name") === "platform") {
          const k = p.get("param-key")!;
          if (!(k in v.platform)) return fail(`Error: Key ${k} not found in map\n`);
          return ok(`${v.platform[k]}\n`);
        }
        return null;
      }
      case "vm-param-set": {
        const u = p.get("uuid")!;
        const v = vmOf(u);
        if (v === undefined) return invalid(u);
        for (const [k, val] of p) if (k.startsWith("platform:")) v.platform[k.slice(9)] = val;
        return ok();
      }
      case "vm-param-remove": {
        const u = p.get("uuid")!;
        const v = vmOf(u);
        if (v === undefined) return invalid(u);
        const k = p.get("param-key")!;
        if (!(k in v.platform)) return fail(`Error: Key ${k} is not in map\n`);
        delete v.platform[k];
        return ok();
      }
      case "vm-start":
      case "vm-shutdown": {
        const v = vmOf(p.get("uuid"));
        if (v === undefined) return fail("Error: No matching VMs found\n");
        const start = args[0] === "vm-start";
        const expected = start ? "halted" : "running";
        if (v.power !== expected) {
          return fail(
            `You attempted an operation on a VM that was not in an appropriate power state at the time; for example, you attempted to start a VM that was already running. The parameters returned are the VM's handle, and the expected and actual VM state at the time of the call.\nvm: ${v.uuid} (${v.nameLabel})\nexpected: ${expected}\nactual: ${v.power}\n`,
          );
        }
        v.power = start ? "running" : "halted";
        if (start) v.bootedArgs = v.platform[KEY] ?? null;
        return ok();
      }
    }
    return null;
  }
}

function record(v: ModelVm): string {
  const platform = Object.entries(v.platform).map(([k, val]) => `${k}: ${val}`).join("; ");
  const resident = v.power === "running" || v.power === "paused" ? HOST_UUID : "<not in database>";
  return [
    `uuid ( RO)                  : ${v.uuid}`,
    `            name-label ( RW): ${v.nameLabel}`,
    `     is-control-domain ( RO): false`,
    `           power-state ( RO): ${v.power}`,
    `           resident-on ( RO): ${resident}`,
    `              platform (MRW): ${platform}`,
    "",
    "",
    "",
  ].join("\n");
}

export function fakeRunner(vms: ModelVm[], clock?: FakeClock & { advance(ms: number): void }) {
  return new FakeRunner(vms, clock);
}

// ---- an in-process host: a database in a temporary directory, this fake xe, a fake clock ----

export const KEY = "device-model-args";
export const HAND = "-global kvm-pit.lost_tick_policy=discard";
/** As a hand-configured VM carries it: properties in another order than ours. */
export const ADOPTED = `${HAND} -device vgpu-stub,vm_id=7,pool_id=A,priority=high`;

export function webVm(args = ADOPTED, power: ModelVm["power"] = "running"): ModelVm {
  return { uuid: UUID1, nameLabel: "web", power, platform: { [KEY]: args, viridian: "true" } };
}

export function host(dir = tempDir("vgpu-undo-")) {
  const dbPath = `${dir}/vgpu_config.db`;
  const clock = fakeClock();
  const xe = fakeRunner([webVm()], clock);
  const run = (argv: string[], o: { busyTimeoutMs?: number; input?: string[] } = {}) =>
    runInProcess(argv, { env: { VGPU_DB: dbPath }, xe, clock, ...o });
  const journalOpen = () => {
    const db = new DatabaseSync(dbPath, { readOnly: true });
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM op_journal WHERE closed_at IS NULL").get() as {
        n: number;
      }).n;
    } finally {
      db.close();
    }
  };
  const row = () => {
    const db = new DatabaseSync(dbPath, { readOnly: true });
    try {
      return { ...db.prepare("SELECT pool_id, priority, vm_id FROM vms").get() };
    } finally {
      db.close();
    }
  };
  return { dir, dbPath, clock, xe, run, journalOpen, row };
}

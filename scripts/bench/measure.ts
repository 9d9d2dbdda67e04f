// deno task bench: measuring whole processes (wall time, peak RSS, xe calls), in interleaved
// rounds, optionally each run paired with a baseline run just before it.
import { POLL_MS, readOr, RUNS } from "./config.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Sample {
  ms: number;
  code: number;
  stdout: string;
  /** Bytes written to stdout. */
  outBytes: number;
  stderr: string;
  /** VmHWM of the measured process itself (polled), kB; 0 when never seen. */
  ownKb: number;
  /** /usr/bin/time %M: the process and every child it waited for (the fake xe too), kB. */
  treeKb: number | null;
  xeCalls: number | null;
}

export interface RunSpec {
  argv: string[];
  env: Record<string, string>;
  /** The fake's call log: truncated before the run, its lines counted after. */
  callLog?: string;
  stdin?: string;
}

export interface Case {
  label: string;
  size: string;
  spec: RunSpec | (() => RunSpec);
  /** Checks the warm-up run (exit code, output): returns a problem or null. */
  check?: (s: Sample) => string | null;
  /** Runs before every run (measured or not), e.g. a fresh empty database for import. */
  before?: () => void;
  expectCode?: number;
  /** The measured process runs xe: its own RSS is the polled one, not /usr/bin/time's. */
  usesXe?: boolean;
}

export interface Result {
  c: Case;
  samples: Sample[];
  median: number;
  min: number;
  max: number;
  /** Peak RSS of the measured process itself over all runs, MB. */
  rssMb: number;
  /** Peak RSS including waited-for children (/usr/bin/time), MB; null without it. */
  treeMb: number | null;
  /** Median stdout size, KiB. */
  outKb: number;
  xeCalls: string;
  xeCallsMax: number | null;
  /** With a baseline: median over the runs of (this run / the baseline run just before it). */
  paired?: number | null;
  /** The baseline's label, when paired. */
  pairedWith?: string;
}

export const TIME_BIN = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : null;
  } catch {
    return null;
  }
})();

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function hwmKb(pid: number): number {
  const m = /^VmHWM:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

/** The pid of the process /usr/bin/time started (its only child), or null while not yet there. */
function childOf(pid: number): number | null {
  const first = readOr(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)[0];
  return first ? Number(first) : null;
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    NO_COLOR: "1",
    // deno's own update check is not the product's start-up.
    DENO_NO_UPDATE_CHECK: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return env;
}

/** One whole process: wall time from spawn to exit, its own peak RSS, its xe calls. */
export async function runOnce(work: string, spec: RunSpec): Promise<Sample> {
  if (spec.callLog) Deno.writeTextFileSync(spec.callLog, "");
  const timeOut = `${work}/time-${crypto.randomUUID()}.txt`;
  const [cmd, ...args] = TIME_BIN ? [TIME_BIN, "-f", "%M", "-o", timeOut, ...spec.argv] : spec.argv;
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env: { ...baseEnv(), ...spec.env },
    stdin: spec.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let done = false;
  let t1 = 0;
  const output = child.output().then((r) => {
    t1 = performance.now();
    done = true;
    return r;
  });
  if (spec.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(enc.encode(spec.stdin));
    await w.close();
  }
  let own = 0;
  let target: number | null = TIME_BIN ? null : child.pid;
  while (!done) {
    target ??= childOf(child.pid);
    if (target !== null) own = Math.max(own, hwmKb(target));
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const r = await output;
  let treeKb: number | null = null;
  if (TIME_BIN) {
    const lines = readOr(timeOut).trim().split("\n");
    const last = Number(lines[lines.length - 1]);
    treeKb = Number.isFinite(last) ? last : null;
    Deno.removeSync(timeOut);
  }
  let xeCalls: number | null = null;
  if (spec.callLog) {
    xeCalls = readOr(spec.callLog).split("\n").filter((l) => l.trim() !== "").length;
  }
  return {
    ms: t1 - t0,
    code: r.code,
    stdout: dec.decode(r.stdout),
    outBytes: r.stdout.length,
    stderr: dec.decode(r.stderr),
    ownKb: own,
    treeKb,
    xeCalls,
  };
}

function summarise(c: Case, samples: Sample[]): Result {
  const ms = samples.map((s) => s.ms);
  const calls = samples.map((s) => s.xeCalls).filter((n): n is number => n !== null);
  const lo = Math.min(...calls);
  const hi = Math.max(...calls);
  // Own RSS: exact from /usr/bin/time when the process has no children; polled otherwise.
  const own = samples.map((s) =>
    !c.usesXe && s.treeKb !== null ? Math.max(s.treeKb, s.ownKb) : s.ownKb
  );
  const tree = samples.map((s) => s.treeKb).filter((n): n is number => n !== null);
  return {
    c,
    samples,
    median: median(ms),
    min: Math.min(...ms),
    max: Math.max(...ms),
    rssMb: Math.max(...own) / 1024,
    treeMb: tree.length ? Math.max(...tree) / 1024 : null,
    outKb: median(samples.map((s) => s.outBytes)) / 1024,
    xeCalls: calls.length === 0 ? "" : lo === hi ? String(lo) : `${lo}-${hi}`,
    xeCallsMax: calls.length === 0 ? null : hi,
  };
}

/** One bench run's state: its temporary directory, every result by section, the problems. */
export class Bench {
  readonly results: (Result & { section: string })[] = [];
  readonly problems: string[] = [];
  section = "";

  constructor(readonly work: string) {}

  progress(msg: string): void {
    Deno.stderr.writeSync(enc.encode(`  … ${msg}\n`));
  }

  run(spec: RunSpec): Promise<Sample> {
    return runOnce(this.work, spec);
  }

  private problemOf(c: Case, s: Sample, run: string): string | null {
    const expect = c.expectCode ?? 0;
    if (s.code !== expect) {
      return `${c.label} ${c.size}: ${run} exit ${s.code} (expected ${expect}): ${
        s.stderr.trim().split("\n")[0] ?? ""
      }`;
    }
    return null;
  }

  /**
   * Measures the cases together: one warm-up each (checked), then `runs` rounds that run every
   * case once, so a burst of load from other work on the machine hits all of them alike. With a
   * `baseline`, every run of a case follows a run of the baseline, and the case's `paired`
   * figure is the median of (case / baseline just before it): the fairest ratio on a busy
   * machine. The baseline's own result comes first in the returned list.
   */
  async group(cases: Case[], runs = RUNS, baseline?: Case): Promise<Result[]> {
    const specOf = (c: Case) => typeof c.spec === "function" ? c.spec() : c.spec;
    for (const c of baseline ? [baseline, ...cases] : cases) {
      this.progress(`${c.label} ${c.size}`);
      c.before?.();
      const warm = await this.run(specOf(c));
      const exit = this.problemOf(c, warm, "warm-up");
      const output = exit === null ? c.check?.(warm) ?? null : null;
      if (exit !== null) this.problems.push(exit);
      if (output !== null) this.problems.push(`${c.label} ${c.size}: ${output}`);
    }
    const samples: Sample[][] = cases.map(() => []);
    const ratios: number[][] = cases.map(() => []);
    const base: Sample[] = [];
    const measure = async (c: Case, run: number) => {
      c.before?.();
      const s = await this.run(specOf(c));
      const problem = this.problemOf(c, s, `run ${run}`);
      if (problem !== null) this.problems.push(problem);
      return s;
    };
    for (let i = 0; i < runs; i++) {
      for (const [k, c] of cases.entries()) {
        const b = baseline ? await measure(baseline, i + 1) : null;
        const s = await measure(c, i + 1);
        samples[k].push(s);
        if (b !== null) {
          base.push(b);
          ratios[k].push(s.ms / b.ms);
        }
      }
    }
    const rs: Result[] = cases.map((c, k) => ({
      ...summarise(c, samples[k]),
      paired: baseline ? median(ratios[k]) : null,
      pairedWith: baseline?.label,
    }));
    const section = this.section;
    if (baseline) {
      const b = { ...summarise(baseline, base), paired: null };
      this.results.push({ ...b, section });
      rs.unshift(b);
    }
    this.results.push(...rs.slice(baseline ? 1 : 0).map((r) => ({ ...r, section })));
    return rs;
  }

  async one(c: Case): Promise<Result> {
    return (await this.group([c]))[0];
  }
}

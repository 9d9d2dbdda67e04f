// deno task bench: scenario groups with bounds, one file each in scripts/bench/groups/. A group
// builds what it needs, measures through the Bench (its runs join the report's table), and
// returns its bounds, each printed PASS/FAIL. To add one (the start hook, pool mode, …): write
// groups/<name>.ts exporting a ScenarioGroup, and list it below. BENCH_ONLY=<name>,… runs only
// those groups ("legacy" names the figures of scripts/bench/scenarios.ts).
import type { Bench } from "./measure.ts";
import { pool } from "./groups/pool.ts";
import { scale } from "./groups/scale.ts";

export interface Bound {
  /** What is bounded, with the bound: `--help ≤ 2× floor`. */
  bound: string;
  /** null: not measured (a problem is reported instead). */
  pass: boolean | null;
  /** The figure it is judged on, and what it is made of. */
  figure: string;
  more?: string[];
}

export interface ScenarioGroup {
  name: string;
  run(b: Bench): Promise<Bound[]>;
}

export const GROUPS: readonly ScenarioGroup[] = [scale, pool];

export const ONLY: string[] | null = (() => {
  const raw = Deno.env.get("BENCH_ONLY");
  return raw === undefined || raw.trim() === "" ? null : raw.split(",").map((s) => s.trim());
})();

export const runs = (name: string): boolean => ONLY === null || ONLY.includes(name);

/** Every bound of the groups run, one line each (more lines indented under it). */
export function boundLines(results: { group: string; bounds: Bound[] }[]): string[] {
  const out: string[] = [];
  for (const { group, bounds } of results) {
    out.push(`bounds of the ${group} group (verdict, bound, figure):`);
    for (const x of bounds) {
      const v = x.pass === null ? "----" : x.pass ? "PASS" : "FAIL";
      out.push(`  ${v}  ${x.bound.padEnd(58)} ${x.figure}`);
      for (const m of x.more ?? []) out.push(`${" ".repeat(66)}${m}`);
    }
  }
  return out;
}

// --format handling, written once for every read command.
import { UsageError } from "../domain/errors.ts";
import { jsonSafe } from "../domain/printable.ts";
import { quote } from "../domain/validate.ts";
import type { Output } from "./io.ts";

export type Format = "table" | "json";

/** The version of every JSON shape vgpu-admin prints (docs/json.md). */
export const JSON_SCHEMA_VERSION = 1;

export function parseFormat(raw: string | undefined): Format {
  const v = (raw ?? "table").trim().toLowerCase();
  if (v === "table" || v === "json") return v;
  throw new UsageError(`invalid --format ${quote(raw ?? "")}: use table or json`);
}

/** Prints one JSON document with its schema_version first. */
export function writeJson(out: Output, body: object): void {
  // Written piece by piece (each small subtree by one native stringify): the same bytes as
  // JSON.stringify(doc, null, 2), without the whole text in memory at once, which took
  // status --format=json at 10,000 VMs past 100 MB peak RSS (issue 12, docs/benchmark.md).
  const w = bufferedOutput(out);
  writeValue(w, { schema_version: JSON_SCHEMA_VERSION, ...body }, "");
  w.write("\n");
  w.flush();
}

/** An array at least this long is written element by element. */
const SPLIT_LENGTH = 32;
/**
 * Characters gathered per write, and elements of a mapped list stringified per native call:
 * every piece stays well under V8's large-object size (128 KB; a name with one non-Latin-1
 * character makes a piece two bytes a character). Larger pieces were allocated outside the
 * young generation and freed only by a full collection: status --format=json at 10,000 VMs
 * peaked 3-4 MiB higher with 65,536 and 64 (issue 19, measured).
 */
const FLUSH_AT = 16384;
const BATCH = 16;

const MAPPED = Symbol("mapped");

interface Mapped {
  [MAPPED]: {
    sources: readonly unknown[];
    f: (s: unknown) => unknown;
    text?: (s: unknown, indent: string) => string;
  };
}

/**
 * `sources.map(f)` in a JSON view, made only as writeJson writes it, BATCH elements at a time:
 * 10,000 VM states are never all built, nor held together with their text (issue 19: peak
 * RSS and garbage collection at 10,000 VMs). Typed as the array it stands for; JSON.stringify
 * of it gives the same text (toJSON). Nothing but writeJson (and JSON.stringify) may read it;
 * its elements must hold no mapped list themselves. `text`, when given, writes an element
 * straight to its JSON text (no objects built): JSON.stringify(f(s), null, 2) with every line
 * after the first at `indent`, and jsonSafe already applied.
 */
export function mapped<S, T>(
  sources: readonly S[],
  f: (s: S) => T,
  text?: (s: S, indent: string) => string,
): T[] {
  const m: Mapped & { toJSON(): T[] } = {
    [MAPPED]: {
      sources,
      f: f as (s: unknown) => unknown,
      text: text as ((s: unknown, indent: string) => string) | undefined,
    },
    toJSON: () => sources.map(f),
  };
  return m as unknown as T[];
}

function isMapped(v: unknown): v is Mapped {
  return v !== null && typeof v === "object" && MAPPED in v;
}

/** Holds a mapped list, or an array of SPLIT_LENGTH elements or more, at any depth. */
function large(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  if (isMapped(v)) return true;
  if (Array.isArray(v)) return v.length >= SPLIT_LENGTH || v.some(large);
  return Object.values(v).some(large);
}

interface JsonOutput extends Output {
  /** Text that is jsonSafe already. */
  safe(t: string): void;
  flush(): void;
}

function bufferedOutput(out: Output): JsonOutput {
  let pending = "";
  const w: JsonOutput = {
    // C1, separators, bidi as \uNNNN: same value, safe on a terminal
    write: (t) => w.safe(jsonSafe(t)),
    safe(safe) {
      if (safe.length >= FLUSH_AT) {
        if (pending !== "") out.write(pending);
        pending = "";
        out.write(safe);
        return;
      }
      pending += safe;
      if (pending.length >= FLUSH_AT) {
        out.write(pending);
        pending = "";
      }
    },
    flush() {
      if (pending !== "") out.write(pending);
      pending = "";
    },
  };
  return w;
}

/**
 * A mapped list at `indent`: each batch of elements is one native stringify of that batch
 * wrapped in as many arrays as `indent` has levels, so that the native indentation is already
 * the document's; the wrappers' brackets are cut off. The same bytes as the elements
 * stringified one by one, with no second copy of the text to re-indent it.
 */
function writeMapped(out: JsonOutput, m: Mapped, indent: string): void {
  const { sources, f, text } = m[MAPPED];
  if (sources.length === 0) {
    out.write("[]");
    return;
  }
  out.write("[");
  if (text !== undefined) {
    const inner = indent + "  ";
    for (let i = 0; i < sources.length; i++) {
      out.safe((i === 0 ? "\n" : ",\n") + inner + text(sources[i], inner));
    }
    out.write(`\n${indent}]`);
    return;
  }
  const depth = indent.length / 2;
  // "[\n" + "  [\n" + … before the first element, "\n  ]" + "\n]" after the last
  const cut = 2 * (depth + 1) + depth * (depth + 1);
  const batch: unknown[] = [];
  for (let i = 0; i < sources.length; i += BATCH) {
    batch.length = 0;
    const end = Math.min(i + BATCH, sources.length);
    for (let j = i; j < end; j++) batch.push(f(sources[j]));
    let wrapped: unknown = batch;
    for (let d = 0; d < depth; d++) wrapped = [wrapped];
    const text = JSON.stringify(wrapped, null, 2);
    out.write((i === 0 ? "\n" : ",\n") + text.slice(cut, text.length - cut));
  }
  out.write(`\n${indent}]`);
}

/** JSON.stringify(v, null, 2) at `indent`, written in pieces (plain data only, as ours is). */
function writeValue(out: JsonOutput, v: unknown, indent: string): void {
  if (isMapped(v)) {
    writeMapped(out, v, indent);
    return;
  }
  const inner = indent + "  ";
  const split = large(v);
  if (split && Array.isArray(v)) {
    out.write("[");
    v.forEach((el, i) => {
      out.write((i === 0 ? "\n" : ",\n") + inner);
      const plain = el === undefined || typeof el === "function" || typeof el === "symbol";
      writeValue(out, plain ? null : el, inner);
    });
    out.write(`\n${indent}]`);
    return;
  }
  if (
    split && v !== null && typeof v === "object" && !Array.isArray(v) &&
    typeof (v as { toJSON?: unknown }).toJSON !== "function"
  ) {
    const entries = Object.entries(v).filter(([, x]) =>
      x !== undefined && typeof x !== "function" && typeof x !== "symbol"
    );
    if (entries.length === 0) {
      out.write("{}");
      return;
    }
    out.write("{");
    entries.forEach(([k, x], i) => {
      out.write(`${i === 0 ? "\n" : ",\n"}${inner}${JSON.stringify(k)}: `);
      writeValue(out, x, inner);
    });
    out.write(`\n${indent}}`);
    return;
  }
  // JSON escapes every newline inside strings: each raw newline here starts a line to indent.
  const text = JSON.stringify(v, null, 2);
  out.write(indent === "" ? text : text.replaceAll("\n", `\n${indent}`));
}

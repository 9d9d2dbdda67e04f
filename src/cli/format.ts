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
const FLUSH_AT = 65536;

/** Holds an array of SPLIT_LENGTH elements or more, at any depth (plain data only). */
function large(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.length >= SPLIT_LENGTH || v.some(large);
  return Object.values(v).some(large);
}

function bufferedOutput(out: Output): Output & { flush(): void } {
  let pending = "";
  return {
    write(t) {
      pending += jsonSafe(t); // C1, separators, bidi as \uNNNN: same value, safe on a terminal
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
}

/** JSON.stringify(v, null, 2) at `indent`, written in pieces (plain data only, as ours is). */
function writeValue(out: Output, v: unknown, indent: string): void {
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

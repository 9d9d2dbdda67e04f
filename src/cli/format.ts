// --format handling, written once for every read command.
import { UsageError } from "../domain/errors.ts";
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
export function writeJson(out: Output, body: Record<string, unknown>): void {
  writeJsonStream(out, { schema_version: JSON_SCHEMA_VERSION, ...body });
}

const CHUNK = 64 * 1024;

/**
 * Writes `value` exactly as `JSON.stringify(value, null, 2) + "\n"` would, in chunks of about
 * 64 KiB: at 10,000 VMs the document is ~11 MiB, and building it whole (plus its UTF-8 copy)
 * pushed peak RSS past 150 MB (measured, docs/benchmark.md).
 */
export function writeJsonStream(out: Output, value: unknown): void {
  let buf = "";
  const emit = (s: string) => {
    buf += s;
    if (buf.length >= CHUNK) {
      out.write(buf);
      buf = "";
    }
  };
  const walk = (v: unknown, indent: string): void => {
    if (Array.isArray(v)) {
      if (v.length === 0) return emit("[]");
      emit("[\n");
      v.forEach((item, i) => {
        emit(indent + "  ");
        // JSON.stringify writes undefined and functions inside arrays as null.
        if (item === undefined || typeof item === "function") emit("null");
        else walk(item, indent + "  ");
        emit(i < v.length - 1 ? ",\n" : "\n");
      });
      return emit(indent + "]");
    }
    if (v !== null && typeof v === "object" && !("toJSON" in v)) {
      const entries = Object.entries(v).filter(([, x]) =>
        x !== undefined && typeof x !== "function"
      );
      if (entries.length === 0) return emit("{}");
      emit("{\n");
      entries.forEach(([k, x], i) => {
        emit(`${indent}  ${JSON.stringify(k)}: `);
        walk(x, indent + "  ");
        emit(i < entries.length - 1 ? ",\n" : "\n");
      });
      return emit(indent + "}");
    }
    emit(JSON.stringify(v, null, 2)?.replaceAll("\n", "\n" + indent) ?? "null");
  };
  walk(value, "");
  out.write(buf + "\n");
}

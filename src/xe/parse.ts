// Pure parsers for what `xe` prints (shared/xe-reference.md). No I/O here.

import {
  XeError,
  XeKeyMissingError,
  XeOutputError,
  XePowerStateError,
  XeVmNotFoundError,
} from "../domain/errors.ts";
import { ownString } from "../domain/own-string.ts";
import type { PowerState } from "../domain/types.ts";

// Field tags xe prints after a label: plain ( RO)/( RW), maps (MRO)/(MRW), sets (SRO)/(SRW).
const LABEL_RE = /^(\S+)\s*\((?: RO| RW|MRO|MRW|SRO|SRW)\)$/;

// A map key as we recognise it inside a rendered map: no spaces, no ";" (see parseMap).
const MAP_SEGMENT_RE = /^([A-Za-z0-9_.:-]+):(?: (.*))?$/s;

/** Characters a map key may hold for parseMap to recognise it. */
export const MAP_KEY_RE = /^[A-Za-z0-9_.:-]+$/;

const POWER_STATES: readonly PowerState[] = ["halted", "paused", "running", "suspended"];

// xe's usage errors add this line; it says nothing about the failure itself.
const USAGE_HINT = "For usage run: 'xe help'";

const MAX_MESSAGE_DETAIL = 400;

/** Builds the error for output we cannot read; messages start "xe printed" (the client adds the verb). */
function unreadable(what: string, text: string): XeOutputError {
  return new XeOutputError(`xe printed ${what} vgpu-admin cannot read: ${oneLine(text, 80)}`);
}

/** Shortens text to `max` chars and replaces control characters so a message stays one line. */
function oneLine(text: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * Parses xe record output (`label ( RO): value` lines, records separated by blank lines)
 * into one Map per record, label → raw value. Throws XeOutputError on a line of another shape.
 */
export function parseRecords(stdout: string): Map<string, string>[] {
  const records: Map<string, string>[] = [];
  forEachRecord(stdout, (r) => void records.push(r));
  return records;
}

/**
 * parseRecords one record at a time: `each` gets every record as soon as it is read, so a
 * caller that keeps less than the whole Map (vm-list at 10,000 VMs) never holds all of them.
 * Lines are found with indexOf, not one split of the whole output.
 */
export function forEachRecord(stdout: string, each: (r: Map<string, string>) => void): void {
  const reader = new RecordReader(each);
  reader.push(stdout);
  reader.end();
}

/**
 * forEachRecord over text that arrives in pieces cut anywhere (a streamed answer): `push` each
 * piece, then `end`. The pieces joined give exactly forEachRecord's records and errors.
 */
export class RecordReader {
  #each: (r: Map<string, string>) => void;
  #current: Map<string, string> | null = null;
  /** The Map handed out last, cleared for the next record (`reuse`). */
  #spare: Map<string, string> | null = null;
  #reuse: boolean;
  /** The start of a line whose end has not arrived yet. */
  #rest = "";
  /** Labels read so far (a record's few, every record alike): one string each, not one a line. */
  #labels: string[] = [];
  /**
   * The n-th line of the record before up to its value (`   label ( RO): `), and its label: xe
   * prints every record's lines alike (the same labels, padded alike), so a line that begins
   * with the same text is read by one comparison (10,000 VMs, issue 19).
   */
  #heads: string[] = [];
  #headLabels: string[] = [];
  /** Lines of the current record so far. */
  #lineNo = 0;

  /**
   * `reuse`: `each` keeps nothing of the Map it is given (only its values), so one Map serves
   * every record (vm-list at 10,000 VMs: no Map per VM).
   */
  constructor(each: (r: Map<string, string>) => void, o: { reuse?: boolean } = {}) {
    this.#each = each;
    this.#reuse = o.reuse === true;
  }

  push(text: string): void {
    let start = 0;
    let end = text.indexOf("\n");
    if (end < 0) {
      this.#rest += text;
      return;
    }
    // the line begun in the previous piece is joined alone: the kept values are slices of this
    // piece, never of a copy of it joined to that line (which would hold both)
    if (this.#rest !== "") {
      const line = this.#rest + text.slice(0, end);
      this.#rest = "";
      this.#line(line, 0, line.length);
      start = end + 1;
      end = text.indexOf("\n", start);
    }
    // lines are read in place (no string per line): only labels and values are cut out
    for (; end >= 0; end = text.indexOf("\n", start)) {
      this.#line(text, start, end);
      start = end + 1;
    }
    this.#rest = text.slice(start);
  }

  /** The last line (which has no line end) and the last record. */
  end(): void {
    const last = this.#rest;
    this.#rest = "";
    this.#line(last, 0, last.length);
    this.#close();
  }

  #close(): void {
    this.#lineNo = 0;
    const r = this.#current;
    if (r === null) return;
    this.#current = null;
    this.#each(r);
    if (this.#reuse) {
      r.clear();
      this.#spare = r;
    }
  }

  /** The line `t[s, e)`. */
  #line(t: string, s: number, e: number): void {
    const n = this.#lineNo++;
    const head = n < this.#heads.length ? this.#heads[n] : "";
    // the same head as the line of the record before: the same label, the value after it (what
    // the rules below give for it; tests/record_reader_test.ts compares them on shuffled records)
    if (head !== "" && e - s >= head.length && t.startsWith(head, s)) {
      this.#add(this.#headLabels[n], t.slice(s + head.length, e), t, s, e);
      return;
    }
    let p = s;
    for (; p < e; p++) {
      const c = t.charCodeAt(p);
      if (c !== 0x20 && c !== 0x09) break;
    }
    // every record is followed by two empty lines; accept any number, and none at EOF
    if (p === e) {
      this.#close();
      return;
    }
    // `   label ( RO): value`, as xe prints every line; anything else is read by the general rule
    const at = t.indexOf(": ", p);
    const k = at < 0 || at >= e - 1 ? -1 : plainLabelEnd(t, p, at);
    if (k < 0) {
      this.#general(t.slice(s, e));
      return;
    }
    const label = this.#label(t, p, k);
    if (n < MAX_HEADS) {
      // its own string: a slice would keep this whole piece of the answer alive
      while (this.#heads.length < n) {
        this.#heads.push("");
        this.#headLabels.push("");
      }
      this.#heads[n] = ownString(t.slice(s, at + 2));
      this.#headLabels[n] = label;
    }
    this.#add(label, t.slice(at + 2, e), t, s, e);
  }

  /** The label `t[p, k)`: the same string as the last records' (xe repeats them), else cut out. */
  #label(t: string, p: number, k: number): string {
    const seen = this.#labels;
    for (let i = 0; i < seen.length; i++) {
      const l = seen[i];
      if (l.length === k - p && t.startsWith(l, p)) return l;
    }
    const l = ownString(t.slice(p, k)); // not a slice keeping this piece of the answer alive
    if (seen.length < 32) seen.push(l);
    return l;
  }

  /** A line of any shape: parseRecordLine's rules, or its error. */
  #general(line: string): void {
    if (line.trim() === "") {
      this.#close();
      return;
    }
    const { label, value } = parseRecordLine(line);
    this.#add(label, value, line, 0, line.length);
  }

  #add(label: string, value: string, t: string, s: number, e: number): void {
    if (this.#current === null) {
      this.#current = this.#spare ?? new Map();
      this.#spare = null;
    }
    // a repeated label means two records ran together: refuse rather than merge them (one
    // lookup: the record did not grow)
    const size = this.#current.size;
    if (this.#current.set(label, value).size === size) throw unreadable("output", t.slice(s, e));
  }
}

/** Line heads remembered (RecordReader): more than any record of ours has lines. */
const MAX_HEADS = 32;

/**
 * Where the label of `t` from `p` ends when the line reads `label TAG<spaces>: ` with a label of
 * printable ASCII without "(" (what xe prints): parseRecordLine gives the same label and value
 * then. -1 for any other shape (read by the general rule).
 */
/** `t` at `i` holds one of LABEL_RE's tags: ( RO) ( RW) (MRO) (MRW) (SRO) (SRW). */
function isTag(t: string, i: number): boolean {
  const kind = t.charCodeAt(i + 1);
  const mode = t.charCodeAt(i + 3);
  return t.charCodeAt(i) === 0x28 && (kind === 0x20 || kind === 0x4d || kind === 0x53) &&
    t.charCodeAt(i + 2) === 0x52 && (mode === 0x4f || mode === 0x57) &&
    t.charCodeAt(i + 4) === 0x29;
}

function plainLabelEnd(t: string, p: number, at: number): number {
  let k = p;
  for (; k < at; k++) {
    const c = t.charCodeAt(k);
    if (c <= 0x20 || c >= 0x7f || c === 0x28) break;
  }
  if (k === p || t.charCodeAt(k) !== 0x20 || k + 6 > at || !isTag(t, k + 1)) return -1;
  for (let j = k + 6; j < at; j++) if (t.charCodeAt(j) !== 0x20) return -1;
  return k;
}

/** Splits one record line at its first ": " and strips the padding and the field tag. */
function parseRecordLine(line: string): { label: string; value: string } {
  // labels are padded and right-aligned, so split at the first ": ", never by column
  const at = line.indexOf(": ");
  let head: string;
  let value: string;
  if (at >= 0) {
    head = line.slice(0, at);
    value = line.slice(at + 2);
  } else if (line.endsWith(":")) {
    // an empty map prints an empty value; tolerate the trailing space being lost
    head = line.slice(0, -1);
    value = "";
  } else {
    throw unreadable("output", line);
  }
  const m = LABEL_RE.exec(head.trim());
  if (m === null) throw unreadable("output", line);
  return { label: m[1], value };
}

/**
 * Parses xe's map rendering `k1: v1; k2: v2` (xe does no escaping).
 * A segment after a "; " starts a new entry only when it begins with `key: ` (or is `key:`
 * at the end), key = one or more of `[A-Za-z0-9_.:-]`; any other segment is a continuation of
 * the previous value (which held "; ") and marks that key ambiguous. A value holding ": " and
 * a repeated key (first value kept) are ambiguous too. Ambiguous keys must be read alone with
 * `vm-param-get ... param-key=`. A value holding "; k: " with a key-like k cannot be told from
 * two entries by anyone; that residual ambiguity is inherent in xe's rendering.
 * Throws XeOutputError when the first segment is not `key: value`.
 */
export function parseMap(value: string): { entries: Map<string, string>; ambiguous: Set<string> } {
  const entries = new Map<string, string>();
  const ambiguous = new Set<string>();
  if (value === "") return { entries, ambiguous };
  const pairs: { key: string; value: string; continued: boolean }[] = [];
  for (const segment of value.split("; ")) {
    const m = MAP_SEGMENT_RE.exec(segment);
    if (m !== null) {
      pairs.push({ key: m[1], value: m[2] ?? "", continued: false });
      continue;
    }
    const last = pairs.at(-1);
    if (last === undefined) throw unreadable("a map", value);
    // no `key: ` prefix: the previous value itself contained "; " (xe-reference.md, Maps)
    last.value += `; ${segment}`;
    last.continued = true;
  }
  for (const p of pairs) {
    if (entries.has(p.key)) {
      ambiguous.add(p.key);
      continue;
    }
    entries.set(p.key, p.value);
    if (p.continued || p.value.includes(": ")) ambiguous.add(p.key);
  }
  return { entries, ambiguous };
}

/**
 * parseMap(value) asked about one key: `value` is `entries.get(key) ?? null` and `ambiguous` is
 * `ambiguous.has(key)`; throws where parseMap throws. Builds no Map, Set or entry per key (one
 * per VM of vm-list: issue 19); tests/xe_stream_test.ts compares the two on many maps.
 */
export function mapEntry(value: string, key: string): { value: string | null; ambiguous: boolean } {
  if (value === "") return { value: null, ambiguous: false };
  // found by native searches, the segments between never read (one map per VM of vm-list)
  const at = keyPairAt(value, key, 0);
  // a map whose first segment is no pair cannot be read at all
  if (at !== 0 && pairColon(value, 0, segmentEnd(value, 0)) < 0) throw unreadable("a map", value);
  if (at < 0) return { value: null, ambiguous: false };
  const colon = at + key.length;
  let end = segmentEnd(value, at);
  let found = colon + 1 === end ? "" : value.slice(colon + 2, end);
  let ambiguous = false;
  // the segments after it that are no pair continue its value, which held "; "
  while (end < value.length) {
    const next = segmentEnd(value, end + 2);
    if (pairColon(value, end + 2, next) >= 0) break;
    found += `; ${value.slice(end + 2, next)}`;
    ambiguous = true;
    end = next;
  }
  // the key again later (the first value is kept), or a value holding ": "
  if (!ambiguous) ambiguous = found.includes(": ") || keyPairAt(value, key, end) >= 0;
  return { value: found, ambiguous };
}

/** Where the segment of `v` that starts at `s` ends: at the next "; ", or at the end. */
function segmentEnd(v: string, s: number): number {
  const next = v.indexOf("; ", s);
  return next < 0 ? v.length : next;
}

/**
 * The start of the first segment of `v` at or after `from` that is a `key: value` pair of this
 * key (pairColon's pair, its key exactly `key`), or -1. Segments start at 0 and after each "; ".
 */
function keyPairAt(v: string, key: string, from: number): number {
  const isPair = (p: number) => {
    const c = p + key.length + 1; // just past the ":" that ends the key
    const next = v.charCodeAt(c);
    return c === v.length || next === 0x20 || (next === 0x3b && v.charCodeAt(c + 1) === 0x20);
  };
  if (from === 0 && v.startsWith(key, 0) && v.charCodeAt(key.length) === 0x3a && isPair(0)) {
    return 0;
  }
  const needle = `; ${key}:`;
  for (let i = v.indexOf(needle, from); i >= 0; i = v.indexOf(needle, i + 1)) {
    if (isPair(i + 2)) return i + 2;
  }
  return -1;
}

/** A character MAP_KEY_RE allows: [A-Za-z0-9_.:-]. */
function isKeyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) ||
    c === 0x5f || c === 0x2e || c === 0x2d;
}

/**
 * MAP_SEGMENT_RE on `v[s, e)` without cutting it out: the index of the ":" that ends the key, or
 * -1 when the segment is no `key: value` pair. The regex's greedy key can only end at the last
 * character of the run of key characters (":" is one of them), followed by the end or a space.
 */
function pairColon(v: string, s: number, e: number): number {
  let r = s;
  while (r < e && isKeyChar(v.charCodeAt(r))) r++;
  if (r - 1 <= s || v.charCodeAt(r - 1) !== 0x3a) return -1;
  return r === e || v.charCodeAt(r) === 0x20 ? r - 1 : -1;
}

/**
 * Parses `--minimal` output: one line, values comma-separated with `\,` for `,` and `\\`
 * for `\`. No results (one empty line, or nothing) → []. More than one line → XeOutputError.
 * Note: a single empty value is indistinguishable from no results; both give [].
 */
export function parseMinimal(stdout: string): string[] {
  const line = stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
  if (line.includes("\n")) throw unreadable("output", line);
  if (line === "") return [];
  const values: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && (line[i + 1] === "," || line[i + 1] === "\\")) {
      cur += line[++i];
    } else if (c === ",") {
      values.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  values.push(cur);
  return values;
}

/**
 * Validates a power state as xe prints it (`halted|paused|running|suspended`, compared
 * lower-cased); anything else → XeOutputError.
 */
export function parsePowerState(text: string): PowerState {
  const s = text.trim().toLowerCase();
  const found = POWER_STATES.find((p) => p === s);
  if (found === undefined) throw unreadable("a power state", text);
  return found;
}

/**
 * Turns a failed xe call (exit code ≠ 0, stderr) into a typed XeError naming the verb
 * (argv[0]): VM not found, wrong power state, missing map key, or a generic XeError that
 * keeps xe's own text on one line.
 */
export function classifyXeFailure(
  argv: readonly string[],
  exitCode: number,
  stderr: string,
): XeError {
  const verb = argv[0] ?? "";
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const field = (name: string) => fieldValue(lines, name);
  const uuidArg = argv.find((a) => a.startsWith("uuid="))?.slice("uuid=".length) ?? "";

  // server error: the sentence, then `type:` and `uuid:` lines; only type VM is a missing VM
  if (lines.includes("The uuid you supplied was invalid.") && (field("type") ?? "VM") === "VM") {
    const uuid = field("uuid") ?? uuidArg;
    return new XeVmNotFoundError(
      `xe ${verb}: no VM with uuid ${uuid}`,
      argv,
      exitCode,
      stderr,
      uuid,
    );
  }
  // CLI-side: unknown uuid, a template, or dom0 (for shutdown)
  if (lines.some((l) => /^Error: No matching VMs found\.?$/.test(l))) {
    return new XeVmNotFoundError(
      `xe ${verb}: no VM with uuid ${uuidArg} (or it is a template or the control domain)`,
      argv,
      exitCode,
      stderr,
      uuidArg,
    );
  }
  if (lines.some((l) => l.startsWith("You attempted an operation on a VM that was not in an"))) {
    // one rare race capitalises the states, so lower-case them
    const expected = (field("expected") ?? "").toLowerCase();
    const actual = (field("actual") ?? "").toLowerCase();
    const vm = field("vm") ?? uuidArg;
    const detail = actual !== "" && expected !== ""
      ? `is ${actual}, expected ${expected.includes(",") ? "one of " : ""}${expected}`
      : "is in the wrong power state";
    return new XePowerStateError(
      `xe ${verb}: VM ${vm} ${detail}`,
      argv,
      exitCode,
      stderr,
      expected,
      actual,
    );
  }
  for (const l of lines) {
    // vm-param-get says "not found in map", vm-param-remove says "is not in map"
    const m = /^Error: Key (.+?) (?:not found in map|is not in map)\.?$/.exec(l);
    if (m !== null) {
      return new XeKeyMissingError(
        `xe ${verb}: map key ${m[1]} is not set`,
        argv,
        exitCode,
        stderr,
        m[1],
      );
    }
  }
  const text = lines.filter((l) => l !== USAGE_HINT).join("; ");
  const message = text === ""
    ? `xe ${verb} failed with exit code ${exitCode} and no message`
    : `xe ${verb} failed: ${oneLine(text, MAX_MESSAGE_DETAIL)}`;
  return new XeError(message, argv, exitCode, stderr);
}

/** Value of the first `name: value` line (server errors print parameters this way). */
function fieldValue(lines: readonly string[], name: string): string | undefined {
  const prefix = `${name}:`;
  const line = lines.find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length).trim();
}

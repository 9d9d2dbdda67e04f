// Golden-file helpers (style.md rule 8). A case is a directory under tests/golden/<suite>/
// holding its input file(s) and expected output file(s). A missing expected file is written
// only when UPDATE_GOLDEN=1. An existing one is overwritten only when named:
// UPDATE_GOLDEN=tests/golden/output/empty/status.txt (several: comma-separated; a path ends
// the file's path), so a regression cannot be accepted by habit.

import assert from "node:assert/strict";

const GOLDEN_ROOT = new URL("./golden/", import.meta.url);

export interface GoldenCase {
  /** The case directory's name. */
  name: string;
  /** Absolute path of the case directory. */
  dir: string;
  /** Absolute path of a file in the case directory. */
  path(file: string): string;
  /** A file's exact text, or null when it does not exist. */
  read(file: string): string | null;
}

function resolveDir(dir: string): string {
  if (dir.startsWith("/")) return dir;
  return decodeURIComponent(new URL(dir.replace(/\/?$/, "/"), GOLDEN_ROOT).pathname);
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The cases (sub-directories, sorted by name) of a suite: `dir` is absolute or under tests/golden/. */
export function goldenCases(dir: string): GoldenCase[] {
  const root = resolveDir(dir).replace(/\/$/, "");
  const names: string[] = [];
  for (const e of Deno.readDirSync(root)) if (e.isDirectory) names.push(e.name);
  names.sort();
  return names.map((name) => {
    const caseDir = `${root}/${name}`;
    const path = (file: string) => `${caseDir}/${file}`;
    return { name, dir: caseDir, path, read: (file: string) => readOrNull(path(file)) };
  });
}

/** What UPDATE_GOLDEN allows for the file at `path`: write it if missing, overwrite it, or nothing. */
export function goldenUpdate(
  path: string,
  setting: string | undefined,
): "missing" | "named" | null {
  if (setting === undefined || setting === "") return null;
  if (setting === "1") return "missing";
  const named = setting.split(",").map((p) => p.trim()).filter((p) => p !== "");
  return named.some((n) => path === n || path.endsWith(`/${n.replace(/^\.?\//, "")}`))
    ? "named"
    : null;
}

/**
 * Asserts `actual` equals the file at `path` byte for byte. A missing file is written with
 * UPDATE_GOLDEN=1; an existing one only when UPDATE_GOLDEN names it.
 */
export function assertGolden(path: string, actual: string): void {
  const expected = readOrNull(path);
  const update = goldenUpdate(path, Deno.env.get("UPDATE_GOLDEN"));
  if (update === "named" || (expected === null && update === "missing")) {
    if (expected !== actual) Deno.writeTextFileSync(path, actual);
    return;
  }
  if (expected === null) {
    assert.fail(`missing golden file ${path}; run the test with UPDATE_GOLDEN=1 to write it`);
  }
  assert.equal(
    actual,
    expected,
    `golden file ${path} differs; if the change is intended, run the test with UPDATE_GOLDEN=${path}`,
  );
}

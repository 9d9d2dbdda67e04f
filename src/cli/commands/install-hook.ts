import { UsageError, VgpuError } from "../../domain/errors.ts";
import { quote } from "../../domain/validate.ts";
import {
  DEFAULT_BINARY,
  executableState,
  foreignFileError,
  inspectFile,
  installFiles,
  managedFiles,
  pathExists,
  underRoot,
} from "../../ops/install.ts";
import { DEFAULT_DB_PATH } from "../../store/open.ts";
import { VERSION } from "../command-table.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { binaryWarning, databaseLine, installedLine } from "../render/install.ts";
import { fitLines } from "../render/fit.ts";
import { paint } from "../render/style.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface InstallHookOptions {
  /** Absolute path of vgpu-admin on the host (what the hook runs). */
  binary: string;
  /** Install under this directory instead of /; null = /. */
  root: string | null;
}

function noControl(raw: string, option: string): void {
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) {
    throw new UsageError(`invalid ${option} ${quote(raw)}: control characters are not allowed`);
  }
}

/** --root: any directory ("/" is the real root); control characters refused. */
export function parseRoot(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  noControl(raw, "--root");
  if (raw.trim() === "") throw new UsageError('invalid --root "": give a directory');
  const r = raw.replace(/\/+$/, "");
  return r === "" ? null : r;
}

export function parseOptions(input: RawOptions): InstallHookOptions {
  const raw = input.pick({ binary: "text", root: "text" });
  const binary = raw.binary ?? DEFAULT_BINARY;
  noControl(binary, "--binary");
  if (!binary.startsWith("/") || binary.endsWith("/")) {
    throw new UsageError(
      `invalid --binary ${
        quote(binary)
      }: give the absolute path of the vgpu-admin program, e.g. --binary=${DEFAULT_BINARY}`,
    );
  }
  return { binary, root: parseRoot(raw.root) };
}

/**
 * The database a command works on under --root: `<root>/etc/vgpu/vgpu_config.db` unless --db or
 * VGPU_DB named another one (then that path, as given). `hookDb` is the value the hook script
 * gets: null when it is the host's default database.
 */
export function rootedDb(deps: Deps, root: string | null): { path: string; hookDb: string | null } {
  if (deps.dbPath === DEFAULT_DB_PATH) {
    return { path: underRoot(root, DEFAULT_DB_PATH), hookDb: null };
  }
  return { path: deps.dbPath, hookDb: deps.dbPath };
}

export async function run(opts: InstallHookOptions, deps: Deps): Promise<void> {
  const db = rootedDb(deps, opts.root);
  if (!db.path.startsWith("/")) {
    throw new UsageError(
      `install-hook needs an absolute database path, not ${
        quote(db.path)
      }: the hook runs from / (pass --db=/path/to/vgpu_config.db)`,
    );
  }
  noControl(db.path, "--db");
  const files = managedFiles(opts.root, opts.binary, db.hookDb);
  // A file we did not write at one of our paths stops everything before anything changes.
  const foreign = files.find((f) => inspectFile(f) === "foreign");
  if (foreign !== undefined) throw foreignFileError(foreign);
  const c = paint(deps.io.color);
  // Then the database: a damaged one stops the install before any file is written.
  const local = db.path === deps.dbPath ? deps : deps.at(db.path);
  const lines: string[] = [];
  try {
    const existed = pathExists(db.path);
    const store = await local.store({ create: true });
    lines.push(databaseLine(db.path, existed, store.schemaVersion(), c));
  } finally {
    if (local !== deps) local.close();
  }
  const runs = `; runs ${opts.binary}${db.hookDb === null ? "" : ` --db=${db.hookDb}`}`;
  for (const r of installFiles(files)) {
    lines.push(installedLine(r, r.file.kind === "hook" ? runs : "", c));
  }
  // fitted to a terminal's width (a hook line on dom0 is ~100 columns), broken between words
  writeLines(deps.io.out, fitLines(lines, deps.io.columns ?? null));
  await recordInPool(deps, db.path, opts.root);
  const bin = underRoot(opts.root, opts.binary);
  const state = executableState(bin, opts.root);
  if (state !== "ok") {
    const o = { defaultBinary: opts.binary === DEFAULT_BINARY, version: VERSION };
    writeLines(deps.io.err, fitLines([binaryWarning(bin, state, o)], deps.io.errColumns ?? null));
  }
}

/** Pool mode: this host's member key names the hooks now installed (ops/pool-member.ts). */
export async function recordInPool(deps: Deps, dbPath: string, root: string | null): Promise<void> {
  if (!pathExists(dbPath)) return;
  const local = dbPath === deps.dbPath ? deps : deps.at(dbPath);
  try {
    const { recordMember } = await import("../../ops/pool-member.ts");
    let store;
    try {
      store = await local.store();
    } catch (e) {
      // a database that cannot be opened says nothing of pool mode: other commands report it
      if (e instanceof VgpuError) return;
      throw e;
    }
    const r = await recordMember(store, () => local.xe(), local.localHost(), root);
    if (r !== null) {
      const columns = (r.ok ? deps.io.columns : deps.io.errColumns) ?? null;
      writeLines(r.ok ? deps.io.out : deps.io.err, fitLines([r.line], columns));
    }
  } finally {
    if (local !== deps) local.close();
  }
}

export const command = defineCommand({ parseOptions, run });

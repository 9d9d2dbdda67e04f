// install-hook / uninstall-hook: the files vgpu-admin puts on a host besides its database. Their
// content travels inside the program (text imports), so nothing is read from the source tree at
// run time. Every file we write carries MARKER: only such a file is ever replaced or removed.
import { describeFileError, dirname } from "../domain/file-errors.ts";
import { linkTarget, replaceFile } from "./file-write.ts";
import HOOK_TEMPLATE from "../../hooks/vm-pre-start/10-vgpu-admin" with { type: "text" };
import LOGROTATE_SNIPPET from "../../hooks/logrotate/vgpu-admin" with { type: "text" };
import { ConflictError, OperationFailedError } from "../domain/errors.ts";
import { DEFAULT_DB_PATH } from "../store/open.ts";
import { HOOK_EVENTS, type HookEvent } from "./startup-hook.ts";

/** The first characters of the line that marks a file as written by install-hook. */
export const MARKER = "# vgpu-admin-managed";
export const DEFAULT_BINARY = "/usr/local/bin/vgpu-admin";
/** Where xenopsd finds the start hook (xe-reference.md, VM hooks). */
export const HOOK_PATH = "/etc/xapi.d/vm-pre-start/10-vgpu-admin";

/** Where xenopsd finds our script for `event` (xe-reference.md, Pools: hooks per event). */
export function hookPath(event: HookEvent): string {
  return `/etc/xapi.d/${event}/10-vgpu-admin`;
}

/** The four hook scripts install-hook writes, in this order. */
export const HOOK_PATHS: readonly { event: HookEvent; path: string }[] = HOOK_EVENTS.map((
  event,
) => ({ event, path: hookPath(event) }));
export const LOGROTATE_PATH = "/etc/logrotate.d/vgpu-admin";
export const HOOK_MODE = 0o755;
export const LOGROTATE_MODE = 0o644;

export type ManagedKind = "hook" | "logrotate";

/** One file install-hook writes: where (under the root), what, and its mode. */
export interface ManagedFile {
  kind: ManagedKind;
  /** The path on disk, --root prefix included. */
  path: string;
  /** For a hook: which xapi hook it is. */
  event?: HookEvent;
  content: string;
  mode: number;
}

/** What is at a managed file's path now. */
export type FileState =
  | "absent"
  /** Ours, same content and mode. */
  | "current"
  /** Ours, same content, wrong mode. */
  | "wrong-mode"
  /** Carries our marker, other content (an older version, or edited). */
  | "outdated"
  /** Exists without our marker: never replaced or removed. */
  | "foreign";

/** `path` under `root` (null or "/" = the real root). */
export function underRoot(root: string | null, path: string): string {
  if (root === null) return path;
  const r = root.replace(/\/+$/, "");
  return r === "" ? path : `${r}${path}`;
}

export function hasMarker(text: string): boolean {
  return text.split("\n").some((l) => l.startsWith(MARKER));
}

// Characters no POSIX shell treats specially inside a word.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

function singleQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function replaceLine(text: string, name: string, value: string): string {
  const re = new RegExp(`^${name}=.*$`, "m");
  // The template is ours and has both lines (tests/install_test.ts pins it): a miss is a bug.
  if (!re.test(text)) throw new Error(`hook template lacks its ${name}= line`);
  return text.replace(re, () => `${name}=${value}`);
}

/**
 * The hook script as install-hook writes it: VGPU_ADMIN set to `binary` (a path on the host),
 * VGPU_DB_PATH to `dbPath`, or "" when the database is at its default, VGPU_HOOK to `event`.
 */
export function renderHook(
  binary: string,
  dbPath: string | null,
  event: HookEvent = "vm-pre-start",
): string {
  const admin = SHELL_SAFE.test(binary) ? binary : singleQuote(binary);
  const db = dbPath === null || dbPath === DEFAULT_DB_PATH
    ? '""'
    : SHELL_SAFE.test(dbPath)
    ? `"${dbPath}"`
    : singleQuote(dbPath);
  return replaceLine(
    replaceLine(replaceLine(HOOK_TEMPLATE, "VGPU_ADMIN", admin), "VGPU_DB_PATH", db),
    "VGPU_HOOK",
    event,
  );
}

export function renderLogrotate(): string {
  return LOGROTATE_SNIPPET;
}

/** Undoes POSIX sh quoting of one word ('…', "…", \x); null when it is not one plain word. */
function shellWord(word: string): string | null {
  let out = "";
  let i = 0;
  while (i < word.length) {
    const c = word[i];
    if (c === "'") {
      const end = word.indexOf("'", i + 1);
      if (end < 0) return null;
      out += word.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= word.length) return null;
        const d = word[i];
        if (d === '"') break;
        if (d === "\\" && i + 1 < word.length && '$`"\\'.includes(word[i + 1])) {
          out += word[i + 1];
          i += 2;
        } else if (d === "$" || d === "`") {
          return null; // an expansion: not a plain path
        } else {
          out += d;
          i++;
        }
      }
      i++;
    } else if (c === "\\" && i + 1 < word.length) {
      out += word[i + 1];
      i += 2;
    } else if (/[\s;&|<>()$`]/.test(c)) {
      return null;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The binary, database and event an installed hook names (null when a line is missing or not plain). */
export function readHookSettings(
  text: string,
): { binary: string | null; dbPath: string | null; event: string | null } {
  const value = (name: string) => {
    const m = new RegExp(`^${name}=(.*)$`, "m").exec(text);
    return m === null ? null : shellWord(m[1]);
  };
  const db = value("VGPU_DB_PATH");
  return { binary: value("VGPU_ADMIN"), dbPath: db === "" ? null : db, event: value("VGPU_HOOK") };
}

/** The files install-hook writes under `root` for a hook that runs `binary` with `dbPath`. */
export function managedFiles(
  root: string | null,
  binary: string,
  dbPath: string | null,
): ManagedFile[] {
  return [
    ...HOOK_PATHS.map(({ event, path }): ManagedFile => ({
      kind: "hook",
      path: underRoot(root, path),
      event,
      content: renderHook(binary, dbPath, event),
      mode: HOOK_MODE,
    })),
    {
      kind: "logrotate",
      path: underRoot(root, LOGROTATE_PATH),
      content: renderLogrotate(),
      mode: LOGROTATE_MODE,
    },
  ];
}

/** The shared wording, with the advice that applies to every install path. */
function reason(e: unknown): string {
  const why = describeFileError(e);
  return e instanceof Deno.errors.PermissionDenied ? `${why}; run as root` : why;
}

/** The text of a file, or null when there is none; throws OperationFailedError otherwise. */
export function readIfPresent(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new OperationFailedError(`cannot read ${path}: ${reason(e)}`);
  }
}

/** Permission bits of `path`, or null when it does not exist. */
export function modeOf(path: string): number | null {
  try {
    const st = Deno.statSync(path);
    return st.mode === null ? null : st.mode & 0o7777;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new OperationFailedError(`cannot read ${path}: ${reason(e)}`);
  }
}

export function inspectFile(f: ManagedFile): FileState {
  // A symbolic link is not our file: never read, written or chmod-ed through (foreignFileError).
  if (linkTarget(f.path) !== null) return "foreign";
  const text = readIfPresent(f.path);
  if (text === null) return "absent";
  if (!hasMarker(text)) return "foreign";
  if (text !== f.content) return "outdated";
  return modeOf(f.path) === f.mode ? "current" : "wrong-mode";
}

/**
 * Writes `content` to `path` atomically with `mode`. The temporary file goes into the parent of
 * the target's directory: xenopsd runs every file in vm-pre-start/, so a half-written one must
 * never appear there.
 */
function writeAtomic(path: string, content: string, mode: number): void {
  const dir = dirname(path);
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    replaceFile(path, content, { mode, tmpDir: dirname(dir) });
  } catch (e) {
    throw new OperationFailedError(`cannot write ${path}: ${reason(e)}`);
  }
}

export type InstallAction = "installed" | "updated" | "mode-fixed" | "unchanged";

export interface InstallResult {
  file: ManagedFile;
  action: InstallAction;
}

/** The error for a file at one of our paths that we did not write. */
export function foreignFileError(f: ManagedFile): ConflictError {
  const to = linkTarget(f.path);
  if (to !== null) {
    return new ConflictError(
      `${f.path} is a symbolic link to ${to}; vgpu-admin never writes through a link: remove the link, then run 'vgpu-admin install-hook' again`,
    );
  }
  const where = f.kind === "hook"
    ? `move it out of ${dirname(f.path)}/ (xenopsd runs every file there)`
    : "move it aside";
  return new ConflictError(
    `${f.path} exists and was not written by vgpu-admin (it has no '${MARKER}' line); ${where}, then run 'vgpu-admin install-hook' again`,
  );
}

/**
 * Checks every file first (a foreign one → ConflictError, nothing written), then writes what is
 * absent or outdated and fixes modes. A file already current is not rewritten.
 */
export function installFiles(files: readonly ManagedFile[]): InstallResult[] {
  const states = files.map((f) => ({ file: f, state: inspectFile(f) }));
  const foreign = states.find((s) => s.state === "foreign");
  if (foreign !== undefined) throw foreignFileError(foreign.file);
  return states.map(({ file, state }): InstallResult => {
    switch (state) {
      case "current":
        return { file, action: "unchanged" };
      case "wrong-mode":
        try {
          Deno.chmodSync(file.path, file.mode);
        } catch (e) {
          throw new OperationFailedError(`cannot chmod ${file.path}: ${reason(e)}`);
        }
        return { file, action: "mode-fixed" };
      default:
        writeAtomic(file.path, file.content, file.mode);
        return { file, action: state === "absent" ? "installed" : "updated" };
    }
  });
}

export type UninstallAction = "removed" | "absent" | "foreign";

export interface UninstallResult {
  kind: ManagedKind;
  path: string;
  action: UninstallAction;
}

/** Removes the managed files under `root` that carry our marker; leaves everything else. */
export function uninstallFiles(root: string | null): UninstallResult[] {
  const targets: [ManagedKind, string][] = [
    ...HOOK_PATHS.map(({ path }): [ManagedKind, string] => ["hook", underRoot(root, path)]),
    ["logrotate", underRoot(root, LOGROTATE_PATH)],
  ];
  return targets.map(([kind, path]): UninstallResult => {
    const text = readIfPresent(path);
    if (text === null) return { kind, path, action: "absent" };
    if (!hasMarker(text)) return { kind, path, action: "foreign" };
    try {
      Deno.removeSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { kind, path, action: "absent" };
      throw new OperationFailedError(`cannot remove ${path}: ${reason(e)}`);
    }
    return { kind, path, action: "removed" };
  });
}

/** How many links a path may go through (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * `inner` (absolute, as the host under `root` names it) with every symlink on the way followed
 * inside `root`: `root` + the path the host would reach. null for a loop of links.
 */
function resolveInRoot(root: string, inner: string): string | null {
  let rest = inner.split("/");
  const done: string[] = [];
  for (let links = 0; rest.length > 0;) {
    const name = rest.shift()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      done.pop(); // never above the root, as at "/"
      continue;
    }
    const here = `${root}/${[...done, name].join("/")}`;
    let target: string | null = null;
    try {
      if (Deno.lstatSync(here).isSymlink) target = Deno.readLinkSync(here);
    } catch {
      // missing or unreadable: statSync says which, on the path as far as it goes
    }
    if (target === null) {
      done.push(name);
      continue;
    }
    if (++links > MAX_LINKS) return null;
    if (target.startsWith("/")) done.length = 0;
    rest = [...target.split("/"), ...rest];
  }
  return `${root}/${done.join("/")}`;
}

/** Whether anything exists at `path` (the database install-hook reports as created or present). */
export function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `path` is an existing regular file with an execute bit: "ok", "missing" or
 * "not-executable". Under a `root` (--root) its symlinks are followed inside that root, as the
 * host that boots from it will: an absolute target such as /opt/vgpu-admin/bin/vgpu-admin is the
 * root's, never this machine's file of that name.
 */
export function executableState(
  path: string,
  root: string | null = null,
): "ok" | "missing" | "not-executable" {
  const r = root === null ? "" : root.replace(/\/+$/, "");
  const resolved = r === "" ? path : resolveInRoot(r, path.slice(r.length));
  if (resolved === null) return "not-executable"; // a loop of links, as stat's ELOOP
  try {
    const st = Deno.statSync(resolved);
    if (!st.isFile) return "not-executable";
    return st.mode === null || (st.mode & 0o111) !== 0 ? "ok" : "not-executable";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return "missing";
    }
    return "not-executable";
  }
}

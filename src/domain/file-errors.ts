// Paths and file-system errors in messages: one wording for every command that reads or
// writes a file (database, export, import, hook). Pure: it only looks at the error object.

/** The directory part of a path ("." for a bare name, "/" for a file at the root). */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

/** A short reason for a failed file operation, e.g. "permission denied". */
export function describeFileError(e: unknown): string {
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  const msg = e instanceof Error ? e.message : String(e);
  if (/read-only file system/i.test(msg)) return "read-only file system";
  return msg.split("\n")[0];
}

// Which files sit beside a database (its -wal, -journal), without an exception for the usual
// answer "none": a failing lstat throws, and the first exception of a process costs ~1.5 ms in
// the bundle (measured in the start hook: 1.4-1.8 ms, against ~0.25 ms for one directory listing),
// which the hook and every command's open would pay at every start (issue 19).

/** Directories larger than this (st_size) are asked name by name instead of listed. */
const LIST_MAX_BYTES = 1 << 20;

/**
 * The `suffixes` for which something (any kind, a dangling link too) is at `${path}${suffix}`:
 * read from one listing of the directory, or by one lstat per name when the directory cannot be
 * listed (no read permission) or is too large to list cheaply.
 */
export function besideFiles(path: string, suffixes: readonly string[]): Set<string> {
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "." : (path.slice(0, i) || "/");
  const base = path.slice(i + 1);
  const found = new Set<string>();
  try {
    if (Deno.statSync(dir).size <= LIST_MAX_BYTES) {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.name.startsWith(base)) continue;
        const rest = e.name.slice(base.length);
        if (suffixes.includes(rest)) found.add(rest);
      }
      return found;
    }
  } catch {
    // not listable: ask for each name below
  }
  for (const s of suffixes) {
    try {
      Deno.lstatSync(`${path}${s}`);
      found.add(s);
    } catch {
      // nothing there
    }
  }
  return found;
}

// Reading the file given to `import`: a regular file, or a pipe (`<(vgpu-admin export)` gives
// /dev/fd/N). A device (/dev/zero would never end), a socket or a directory is refused before it
// is opened (fileTarget, for "read"); reading stops past IMPORT_MAX_BYTES; a pipe nobody writes
// (a FIFO whose writer never comes, or never writes) ends after `idleMs` without data, timed by
// the Deps clock (issue 20 item 2).
import type { Clock } from "../domain/clock.ts";
import { describeFileError } from "../domain/file-errors.ts";
import { ImportFileError } from "../domain/config-file.ts";
import { fileTarget, FileTargetError } from "../platform/file-target.ts";

/** An export of 20,000 VMs is about 4 MiB: anything past this is not an export. */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

/** How long a pipe may stay silent (no writer, or no data) before the import gives up. */
export const IMPORT_IDLE_MS = 30_000;

const GIVE = "give a file written by 'vgpu-admin export'";

/**
 * The text to import: `-` is stdin, read line by line through the command's IO; anything else is
 * a path, read by readImportFile.
 */
export async function readImportText(
  file: string,
  o: { readLine(): Promise<string | null>; clock: Pick<Clock, "after">; idleMs?: number },
): Promise<string> {
  if (file !== "-") return await readImportFile(file, o);
  const lines: string[] = [];
  for (let l = await o.readLine(); l !== null; l = await o.readLine()) lines.push(l);
  return lines.join("\n");
}

/** The text of the import file at `path` (UTF-8); ImportFileError for every way it can fail. */
export async function readImportFile(
  path: string,
  o: { clock: Pick<Clock, "after">; idleMs?: number },
): Promise<string> {
  const idleMs = o.idleMs ?? IMPORT_IDLE_MS;
  const within = <T>(p: Promise<T>) => withinIdle(p, idleMs, o.clock);
  const fail = (why: string) => new ImportFileError(`cannot read import file ${path}: ${why}`);
  let kind: "file" | "pipe";
  try {
    const t = fileTarget(path, { for: "read" });
    kind = t.kind === "pipe" ? "pipe" : "file";
  } catch (e) {
    if (!(e instanceof FileTargetError)) throw e;
    if (e.why === "no such file") throw fail(e.why);
    throw fail(e.reason === "kind" ? `${e.why}; ${GIVE}` : e.why);
  }
  const silent = () =>
    fail(
      `nothing arrived on it for ${
        Math.round(idleMs / 1000)
      } s (a pipe that nobody writes?); ${GIVE}`,
    );
  let f: Deno.FsFile;
  try {
    const opening = Deno.open(path, { read: true });
    if (kind === "pipe") {
      const opened = await within(opening);
      if (opened === TIMEOUT) {
        // Our open waits for a writer: be that writer for an instant, so that it returns (to
        // an empty read) instead of holding the process, then give up.
        Deno.open(path, { write: true }).then((w) => w.close(), () => {});
        opening.then((r) => r.close(), () => {});
        throw silent();
      }
      f = opened;
    } else f = await opening;
  } catch (e) {
    if (e instanceof ImportFileError) throw e;
    throw fail(e instanceof Deno.errors.NotFound ? "no such file" : describeFileError(e));
  }
  let bytes: Uint8Array;
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = kind === "pipe" ? await within(f.read(buf)) : await f.read(buf);
      if (n === TIMEOUT) throw silent();
      if (n === null) break;
      total += n;
      if (total > IMPORT_MAX_BYTES) {
        throw fail(
          `it is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MiB, so not an export; ${GIVE}`,
        );
      }
      chunks.push(buf.slice(0, n));
    }
    bytes = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
  } catch (e) {
    if (e instanceof ImportFileError) throw e;
    throw fail(describeFileError(e));
  } finally {
    try {
      f.close();
    } catch { /* a read still pending on it: the process ends anyway */ }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ImportFileError(`import file ${path} is not UTF-8 text; ${GIVE}`);
  }
}

const TIMEOUT = Symbol("timeout");

/** `p`, or TIMEOUT when it has not settled after `ms`. The timer never outlives the race. */
async function withinIdle<T>(
  p: Promise<T>,
  ms: number,
  clock: Pick<Clock, "after">,
): Promise<T | typeof TIMEOUT> {
  let cancel: (() => void) | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<typeof TIMEOUT>((r) => {
        cancel = clock.after(ms, () => r(TIMEOUT));
      }),
    ]);
  } finally {
    cancel?.();
  }
}

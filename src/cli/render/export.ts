// export --output: the one line saying what the file holds and where it is (stdout carries only
// the document itself when no --output is given) (issue 20 item 5).
import type { ExportFile } from "../../domain/config-file.ts";

/** stderr after `export --output`: what the file holds and where it is. */
export function exportedErrLine(file: ExportFile, path: string): string {
  const n = file.vms.length;
  const k = Object.keys(file.settings).length;
  return `Exported ${n} VM${n === 1 ? "" : "s"}, ${file.pools.length} vGPU pools and ${k} setting${
    k === 1 ? "" : "s"
  } to ${path} (mode 0600)`;
}

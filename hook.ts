// vgpu-admin's hook entry point (issue 19): what the installed hook scripts reach through
// /usr/local/bin/vgpu-admin startup-hook … (the launcher and the single file pick this file for
// that command; main.ts comes here too). It loads src/hook/ only: no command table, no
// commander, no other command.
import { hookMain } from "./src/hook/main.ts";

/** Runs the hook on this process's argv and streams; returns the exit code. */
export function runHookEntry(): Promise<number> {
  const enc = new TextEncoder();
  const write = (fd: typeof Deno.stdout) => (text: string) => {
    const bytes = enc.encode(text);
    let off = 0;
    try {
      while (off < bytes.length) off += fd.writeSync(bytes.subarray(off));
    } catch {
      // a closed stream cannot change the hook's outcome
    }
  };
  return hookMain({
    argv: Deno.args,
    env: { get: (n) => Deno.env.get(n) },
    out: write(Deno.stdout),
    err: write(Deno.stderr),
  });
}

if (import.meta.main) Deno.exit(await runHookEntry());

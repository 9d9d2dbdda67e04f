// The real xe runner against tiny sh executables standing in for xe (xe_client_test and
// xe_stream_test): a directory of scripts, and a fresh Deno process that runs a runner script
// and reaps the grandchild an xe script may leave behind.

import { processGone } from "./helpers.ts";

/** A temp dir with executable sh scripts; removed afterwards. */
export async function withScripts(
  scripts: Record<string, string>,
  f: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vgpu-xe-test-" });
  try {
    for (const [name, body] of Object.entries(scripts)) {
      await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      await Deno.chmod(`${dir}/${name}`, 0o755);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `script` in a fresh Deno process (no config); afterwards kills the process whose pid an
 * xe script wrote to `<dir>/orphan.pid`, if any, so a failing assertion leaves nothing running.
 */
export async function runReaping(
  script: string,
  dir: string,
): Promise<{ stdout: string; code: number; ms: number }> {
  const started = Date.now();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", "--no-config", script],
      stdin: "null",
      stderr: "inherit",
    }).output();
    return {
      stdout: new TextDecoder().decode(out.stdout),
      code: out.code,
      ms: Date.now() - started,
    };
  } finally {
    const orphan = await Deno.readTextFile(`${dir}/orphan.pid`).catch(() => "");
    if (orphan.trim() !== "") {
      try {
        Deno.kill(Number(orphan), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/** True once `pid` has exited (gone, or a zombie nobody reaps), polled every 50 ms for `ms`. */
export async function goneOrZombie(pid: string, ms = 5_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (processGone(Number(pid))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

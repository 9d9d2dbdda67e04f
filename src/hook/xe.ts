// The hooks' xe reads and writes: the one runner (src/xe/runner.ts) in its plain form, bounded by
// the hook's deadline on every call. The start path reads the args itself (src/xe/vm-args.ts, as Xe.vmGetArgs does)
// without loading the whole client; a repair gets the full client (src/xe/client.ts).
import { XeTimeoutError } from "../domain/errors.ts";
import type { Xe } from "../xe/client.ts";
import { createXeRunner, type XeRunner } from "../xe/runner.ts";
import { readVmArgs } from "../xe/vm-args.ts";
import { loadSlow } from "./slow-path.ts";

export interface HookXe {
  /** platform:<key> of the VM; null when the key is absent. */
  vmGetArgs(vmUuid: string): Promise<string | null>;
  /** The full client on the same bounded runner (for a repair). */
  client(): Promise<Xe>;
}

/** An xe whose every call ends by `deadline` (epoch ms) and within `defaultMs`. */
export function hookXe(
  xePath: string,
  platformKey: string,
  defaultMs: number,
  deadline: number,
  now: () => Date,
): HookXe {
  const base = createXeRunner({ xePath, defaultTimeoutMs: defaultMs, plain: true });
  const bounded: XeRunner = {
    run(argv, o) {
      const left = deadline - now().getTime();
      const timeoutMs = Math.min(o?.timeoutMs ?? defaultMs, left);
      if (timeoutMs < 100) {
        return Promise.reject(
          new XeTimeoutError(`no time left for xe ${argv[0]} within the bound`, argv, 0),
        );
      }
      return base.run(argv, { timeoutMs });
    },
  };
  return {
    vmGetArgs(vmUuid) {
      return readVmArgs((argv) => bounded.run(argv), vmUuid, platformKey);
    },
    async client() {
      const { Xe } = await loadSlow();
      return new Xe(bounded, { platformKey });
    },
  };
}

// The hooks' xe client: the one runner (src/xe/runner.ts) in its plain form, bounded by the
// hook's deadline on every call.
import { XeTimeoutError } from "../domain/errors.ts";
import { Xe } from "../xe/client.ts";
import { createXeRunner, type XeRunner } from "../xe/runner.ts";

/** An xe client whose every call ends by `deadline` (epoch ms) and within `defaultMs`. */
export function hookXe(
  xePath: string,
  platformKey: string,
  defaultMs: number,
  deadline: number,
  now: () => Date,
): Xe {
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
  return new Xe(bounded, { platformKey });
}

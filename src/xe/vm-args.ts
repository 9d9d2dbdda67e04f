// Reading a VM's args (`vm-param-get … param-name=platform param-key=K`): one home for the full
// client (Xe.vmGetArgs) and the start hook's light path, which must not load the whole client.
import { XeKeyMissingError, XeOutputError } from "../domain/errors.ts";

/** platform:<platformKey> of VM `uuid` through `run`; null when the key is absent. */
export async function readVmArgs(
  run: (argv: string[]) => Promise<string>,
  uuid: string,
  platformKey: string,
): Promise<string | null> {
  const argv = ["vm-param-get", `uuid=${uuid}`, "param-name=platform", `param-key=${platformKey}`];
  let out: string;
  try {
    out = await run(argv);
  } catch (e) {
    // "Error: Key K not found in map" (xe-reference.md): the VM has no args
    if (e instanceof XeKeyMissingError) return null;
    throw e;
  }
  // xe prints the value and one newline, also for an empty value: an answer without it is
  // empty or cut short, never data to build the next args on (design.md §5 step 11)
  if (!out.endsWith("\n")) {
    throw new XeOutputError(
      `xe vm-param-get printed ${
        out === "" ? "nothing" : "an answer cut short"
      } for the args of VM ${uuid}; nothing was written`,
      argv,
      0,
      "",
    );
  }
  return out.slice(0, -1);
}

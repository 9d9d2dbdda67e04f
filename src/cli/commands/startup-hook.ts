// `startup-hook` inside the full CLI (tests run it in-process through dispatch). The installed
// hooks reach the same run (src/hook/run.ts) through the dedicated entry (hook.ts, main.ts), which
// loads none of the CLI; here the ports come from the command's Deps.
import { VgpuError } from "../../domain/errors.ts";
import { DEFAULT_HOOK_LOG } from "../../ops/hook-log.ts";
import { type HookRegistry } from "../../ops/startup-hook.ts";
import { hookRequest } from "../../hook/main.ts";
import { type HookPorts, type HookRequest, runHook } from "../../hook/run.ts";
import { setArgsVerified } from "../../ops/xe-write.ts";
import type { Deps } from "../deps.ts";
import type { Outcome } from "../outcome.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export { HOOK_BOUND_MS } from "../../hook/run.ts";
export { refusalMarker } from "../../ops/startup-hook.ts";

export type StartupHookOptions = HookRequest;

export function parseOptions(input: RawOptions): StartupHookOptions {
  const raw = input.pick({ vmUuid: "required", reason: "text", hook: "text" });
  const event = raw.hook ?? "vm-pre-start";
  // the event is checked by hookRequest's caller below; an unknown one is a failure, never 2
  return hookRequest({
    event: event as HookRequest["event"],
    vmUuid: raw.vmUuid,
    reason: raw.reason,
    db: undefined,
  });
}

export async function run(opts: StartupHookOptions, deps: Deps): Promise<Outcome> {
  const { isHookEvent } = await import("../../ops/startup-hook.ts");
  if (!isHookEvent(opts.event)) {
    throw new VgpuError(
      `startup-hook: invalid --hook ${
        JSON.stringify(String(opts.event).slice(0, 40))
      }: vm-pre-start, vm-pre-resume, vm-pre-migrate or vm-post-migrate`,
    );
  }
  const ports: HookPorts = {
    now: deps.now,
    logPath: deps.env.get("VGPU_LOG") || DEFAULT_HOOK_LOG,
    err: (t) => deps.io.err.write(t),
    out: (t) => deps.io.out.write(t),
    async open() {
      const store = await deps.store();
      const registry: HookRegistry = {
        getVm: (u) => store.getVm(u),
        getVmByVmId: (id) => store.getVmByVmId(id),
        lowestFreeVmId: () => store.lowestFreeVmId(),
        hasStaleRun: (u) => store.getStaleRun(u) !== null,
      };
      const { readPoolState } = await import("../../store/pool-cache.ts");
      const pool = readPoolState(store);
      return {
        registry,
        settings: await deps.settings(),
        poolState: pool === null ? null : JSON.stringify(pool),
      };
    },
    async readArgs(uuid, _s, deadline) {
      return await (await deps.xeUntil(deadline)).vmGetArgs(uuid);
    },
    async writeArgs(uuid, args, _s, deadline) {
      await setArgsVerified(await deps.xeUntil(deadline), uuid, args);
    },
    xe: (_s, deadline) => deps.xeUntil(deadline),
    async writeStale(uuid, change) {
      const store = await deps.store();
      if (change === "clear") store.clearStaleRun(uuid);
      else store.markStaleRun(uuid, change.mark);
    },
  };
  return (await runHook(opts, ports)) === "refused" ? "refused" : undefined;
}

export const command = defineCommand({ parseOptions, run });

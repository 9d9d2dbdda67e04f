// The hooks' own entry (issue 19): `vgpu-admin startup-hook …` as the installed hook scripts run
// it, reached by hook.ts (the launcher and the single file pick it for `startup-hook`) and by
// main.ts, without the command table, commander or any other command. It reads the database
// through its lighter connection (src/hook/db.ts) and spawns xe once, plainly (src/hook/xe.ts).
// Exit codes: 0 done, 1 failed (the start goes on), 2 only for a strict refusal (design.md §4).
import { UsageError, VgpuError } from "../domain/errors.ts";
import { parseUuid } from "../domain/validate.ts";
import { DEFAULT_HOOK_LOG } from "../ops/hook-log.ts";
import { type HookEvent, isHookEvent } from "../ops/startup-hook.ts";
import { openHookDb } from "./db.ts";
import { type HookPorts, type HookRequest, logSafeReason, logSafeUuid, runHook } from "./run.ts";
import { hookXe } from "./xe.ts";
import { loadSlow } from "./slow-path.ts";

/** The database when neither --db nor VGPU_DB names one (src/store/open.ts DEFAULT_DB_PATH). */
export const HOOK_DEFAULT_DB = "/etc/vgpu/vgpu_config.db";

export interface HookMainInput {
  argv: readonly string[];
  env: { get(name: string): string | undefined };
  out(text: string): void;
  err(text: string): void;
  now?: () => Date;
}

interface HookArgs {
  event: HookEvent;
  vmUuid: string;
  reason: string | undefined;
  db: string | undefined;
}

const OPTIONS = ["--vm-uuid", "--reason", "--hook", "--db"] as const;

/** `startup-hook --vm-uuid=U [--reason=R] [--hook=EVENT] [--db=PATH]` (= or a separate value). */
export function parseHookArgv(argv: readonly string[]): HookArgs {
  const rest = argv[0] === "startup-hook" ? argv.slice(1) : argv;
  const seen = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!(OPTIONS as readonly string[]).includes(name)) {
      throw new UsageError(
        `startup-hook: unknown argument ${
          JSON.stringify(a.replace(/[^\x20-\x7e]/g, "?").slice(0, 64))
        }; usage: startup-hook --vm-uuid=UUID [--reason=R] [--hook=EVENT] [--db=PATH]`,
      );
    }
    let value: string;
    if (eq > 0) value = a.slice(eq + 1);
    else {
      if (i + 1 >= rest.length) throw new UsageError(`startup-hook: ${name} needs a value`);
      value = rest[++i];
    }
    if (seen.has(name)) throw new UsageError(`startup-hook: ${name} given twice`);
    seen.set(name, value);
  }
  const vmUuid = seen.get("--vm-uuid");
  if (vmUuid === undefined) throw new UsageError("startup-hook: --vm-uuid is required");
  const event = seen.get("--hook") ?? "vm-pre-start";
  if (!isHookEvent(event)) {
    throw new UsageError(
      `startup-hook: invalid --hook ${
        JSON.stringify(event.slice(0, 40))
      }: vm-pre-start, vm-pre-resume, vm-pre-migrate or vm-post-migrate`,
    );
  }
  return { event, vmUuid, reason: seen.get("--reason"), db: seen.get("--db") };
}

/** The request of a hook run: a malformed uuid is logged and fails (never a usage error). */
export function hookRequest(a: HookArgs): HookRequest {
  const given = logSafeUuid(a.vmUuid);
  const reason = logSafeReason(a.reason);
  try {
    return { event: a.event, vmUuid: parseUuid(a.vmUuid), given, malformed: null, reason };
  } catch (e) {
    if (e instanceof UsageError) {
      return { event: a.event, vmUuid: null, given, malformed: e.message, reason };
    }
    throw e;
  }
}

/** --db, else VGPU_DB, else the default; an empty value is refused (as src/cli/deps.ts). */
function dbPathOf(a: HookArgs, env: HookMainInput["env"]): string {
  const v = a.db ?? env.get("VGPU_DB");
  if (v === undefined) return HOOK_DEFAULT_DB;
  if (v.trim() === "") {
    throw new UsageError(
      `${a.db !== undefined ? "--db" : "VGPU_DB"} is empty; give the database path`,
    );
  }
  return v;
}

/** Runs one hook and returns the exit code: 0, 1, or 2 for a strict refusal. */
export async function hookMain(input: HookMainInput): Promise<number> {
  const now = input.now ?? (() => new Date());
  let close = () => {};
  try {
    const a = parseHookArgv(input.argv);
    const dbPath = dbPathOf(a, input.env);
    const xePath = input.env.get("VGPU_XE") || "xe";
    const ports: HookPorts = {
      now,
      logPath: input.env.get("VGPU_LOG") || DEFAULT_HOOK_LOG,
      err: input.err,
      out: input.out,
      async open() {
        const db = await openHookDb(dbPath, now);
        close = () => db.close();
        ports.writeStale = (uuid, change) => Promise.resolve(db.writeStale(uuid, change));
        return { registry: db.registry, settings: db.settings, poolState: db.poolState };
      },
      readArgs: (uuid, s, deadline) =>
        hookXe(xePath, s.platformKey, s.xeTimeoutS * 1000, deadline, now).vmGetArgs(uuid),
      async writeArgs(uuid, args, s, deadline) {
        // the rare repair: its write is read back when the answer is lost (design.md §5)
        const [{ setArgsVerified }, xe] = await Promise.all([
          loadSlow(),
          hookXe(xePath, s.platformKey, s.xeTimeoutS * 1000, deadline, now).client(),
        ]);
        await setArgsVerified(xe, uuid, args);
      },
      writeStale: () => Promise.reject(new Error("the database is not open")),
      xe: (s, deadline) =>
        hookXe(xePath, s.platformKey, s.xeTimeoutS * 1000, deadline, now).client(),
    };
    return (await runHook(hookRequest(a), ports)) === "refused" ? 2 : 0;
  } catch (e) {
    // Never 2 for anything but a strict refusal: 2 would abort the VM start (design.md §4).
    if (e instanceof VgpuError) input.err(`error: ${e.message}\n`);
    else {
      const msg = e instanceof Error ? e.message : String(e);
      input.err(`bug: ${msg.split("\n")[0]} (please report it)\n`);
    }
    return 1;
  } finally {
    try {
      close();
    } catch {
      // closing cannot change the outcome
    }
  }
}

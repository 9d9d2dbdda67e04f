// doctor's look at the three hooks besides vm-pre-start (issue 17 item 5): vm-pre-resume,
// vm-pre-migrate and vm-post-migrate. Each missing, foreign, outdated or non-executable one is an
// item of the "hook" check: starts are still checked, resumes or migrations are not.
import { VgpuError } from "../domain/errors.ts";
import {
  hasMarker,
  HOOK_PATHS,
  MARKER,
  modeOf,
  readHookSettings,
  readIfPresent,
  renderHook,
  underRoot,
} from "./install.ts";
import type { HookEvent } from "./startup-hook.ts";

const UNCHECKED: Record<HookEvent, string> = {
  "vm-pre-start": "no VM start is checked",
  "vm-pre-resume": "no VM resume is checked",
  "vm-pre-migrate": "no migration leaving this host is checked",
  "vm-post-migrate": "no VM arriving by migration is checked",
};

/** Not what install-hook writes for the binary and database the script itself names. */
function differs(text: string, event: HookEvent): boolean {
  const named = readHookSettings(text);
  return named.binary === null || named.event !== event ||
    text !== renderHook(named.binary, named.dbPath, event);
}

export interface HookItem {
  vmUuid: null;
  message: string;
  fix: string;
}

/** Problems of the resume and migration hooks under `root`; [] when all three are current. */
export function otherHookItems(root: string | null, install: string): HookItem[] {
  const items: HookItem[] = [];
  for (const { event, path: p } of HOOK_PATHS) {
    if (event === "vm-pre-start") continue;
    const path = underRoot(root, p);
    const item = (message: string, fix = install) => items.push({ vmUuid: null, message, fix });
    let text: string | null;
    try {
      text = readIfPresent(path);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      item(e.message, "run doctor as root");
      continue;
    }
    if (text === null) item(`${path} is not installed: ${UNCHECKED[event]}`);
    else if (!hasMarker(text)) {
      item(
        `${path} was not written by vgpu-admin (it has no '${MARKER}' line)`,
        `move it out of ${path.slice(0, path.lastIndexOf("/"))}/, then ${install}`,
      );
    } else if (differs(text, event)) {
      item(`${path} differs from what this vgpu-admin installs (an older version, or edited)`);
    } else if (((modeOf(path) ?? 0) & 0o111) === 0) {
      item(`${path} is not executable: xenopsd cannot run it`, `chmod 0755 '${path}'`);
    }
  }
  return items;
}

/** Adds the items to doctor's "hook" check: a passing check becomes a warning. */
export function addOtherHooks(
  checks: {
    list: { id: string; status: string; message: string; fix: string | null; items: unknown[] }[];
  },
  items: HookItem[],
): void {
  const hook = checks.list.find((c) => c.id === "hook");
  if (hook === undefined || items.length === 0) return;
  if (hook.status === "ok") {
    hook.status = "warning";
    hook.fix = items[0].fix;
  }
  hook.message += `; ${items.length} of the resume and migration hooks ${
    items.length === 1 ? "needs" : "need"
  } attention`;
  hook.items.push(...items);
}

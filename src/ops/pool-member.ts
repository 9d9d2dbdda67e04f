// This host's record in the pool (design.md §8): the `vgpu-admin:member` key of its host
// other-config names the vgpu-admin version and the hooks installed here, which is all xapi can
// tell `pool status` of another host's /etc/xapi.d. `pool enable` writes it; install-hook and
// uninstall-hook keep it true. Replaced by remove then add: the key is this host's alone.
import { MEMBER_KEY } from "../domain/pool.ts";
import { VgpuError } from "../domain/errors.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import { installedHooks, memberValue } from "./pool-enable.ts";

export interface MemberRecord {
  /** false: the pool could not be written; `line` says what to run. */
  ok: boolean;
  line: string;
}

/**
 * Standalone (or no host uuid): null, no xe call. In pool mode: this host's member key made to
 * name the hooks installed under `root` now (at most 3 xe calls; none written when it already
 * does). The master out of reach is a warning: the files are what they are.
 */
export async function recordMember(
  store: Store,
  xe: () => Promise<Xe>,
  localHost: string | null,
  root: string | null,
): Promise<MemberRecord | null> {
  if (readPoolState(store) === null || localHost === null) return null;
  const hooks = installedHooks(root);
  const value = memberValue(hooks);
  const said = `this host's record in the pool (host other-config ${MEMBER_KEY}) says hooks=${
    hooks.join(",") || "none"
  }`;
  try {
    const xp = new XePool(await xe());
    const old = await xp.get("host", localHost, MEMBER_KEY);
    if (old === value) return { ok: true, line: `pool mode: ${said} (unchanged)` };
    if (old !== null) await xp.removeIfOurs("host", localHost, MEMBER_KEY, old);
    if (await xp.add("host", localHost, MEMBER_KEY, value) === "exists") {
      throw new VgpuError(`${MEMBER_KEY} was written by another vgpu-admin at the same time`);
    }
    return { ok: true, line: `pool mode: ${said} (updated)` };
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    return {
      ok: false,
      line:
        `warning: pool mode: this host's record in the pool could not be updated (${e.message}); pool status shows the hooks of the last record until you run 'vgpu-admin pool enable' again`,
    };
  }
}

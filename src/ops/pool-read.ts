// Read commands in pool mode (design.md §8): this host's database is the pool's registry, cached;
// it is refreshed from xapi first (two xe calls). When the master cannot be reached, the read
// goes on with the cache under a banner naming the master and the cache's age.
import { humanTime } from "../domain/time.ts";
import { readPoolState, writePoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import { readSnapshot, refreshCache } from "./pool-mode.ts";

/** The banner over a cached registry. */
export function cacheBanner(
  masterName: string,
  refreshedAt: string,
  why: string,
  now: Date,
): string {
  const age = Math.max(0, Math.round((now.getTime() - Date.parse(refreshedAt)) / 1000));
  return `warning: the pool master ${masterName} cannot be reached (${why}); showing this host's cached registry from ${
    humanTime(refreshedAt)
  } (${age} s old)`;
}

/**
 * Refreshes the cache when this host is in pool mode. Returns null when it is fresh (or the host
 * is standalone: no xe call then), else the error that kept the master out of reach, after
 * `warn` got the banner.
 */
export async function refreshForRead(
  store: Store,
  xe: () => Promise<Xe>,
  now: () => Date,
  warn: (line: string) => void,
): Promise<Error | null> {
  const state = readPoolState(store);
  if (state === null) return null;
  try {
    const client = await xe();
    const snap = await readSnapshot(new XePool(client));
    if (snap.format === 0) {
      writePoolState(store, null, now());
      warn("warning: pool mode was turned off on this pool: this host is standalone again");
      return null;
    }
    if (snap.format === null) {
      // never read a pool that lost its claims into the cache: reconcile rebuilds them from it
      warn(
        `warning: the pool has lost its pool-mode marker (a master rollback or a wiped other-config?): showing this host's cached registry from ${
          humanTime(state.refreshedAt)
        }; run 'vgpu-admin pool reconcile'`,
      );
      return null;
    }
    let masterName = state.masterName;
    if (snap.record.master !== state.master) {
      // a new master (failover): its name, in one more call
      const out = await client.call([
        "host-param-get",
        `uuid=${snap.record.master}`,
        "param-name=name-label",
      ]).catch(() => snap.record.master);
      masterName = out.trim();
    }
    refreshCache(store, snap, masterName, now());
    return null;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    warn(cacheBanner(state.masterName, state.refreshedAt, err.message, now()));
    return err;
  }
}

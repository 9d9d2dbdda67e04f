// `pool disable` (design.md §8): leave pool mode on the whole XCP-ng pool. The marker becomes
// `off` (every host leaves pool mode at its next contact with the master), every vm_id claim and
// this host's member mark go; each host's database keeps the whole registry as it was.
import { CLAIM_PREFIX, MARKER_KEY, MARKER_OFF, MEMBER_KEY } from "../domain/pool.ts";
import { writePoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import { readSnapshot, unreachable } from "./pool-mode.ts";
import { readPoolState } from "../store/pool-cache.ts";

export interface DisablePlan {
  poolUuid: string;
  /** The marker's value now (null: absent). */
  marker: string | null;
  claims: [number, string][];
}

export async function readDisablePlan(
  store: Store,
  xe: Xe,
): Promise<{ plan: DisablePlan; xp: XePool }> {
  const xp = new XePool(xe);
  let snap;
  try {
    snap = await readSnapshot(xp);
  } catch (e) {
    throw unreachable(readPoolState(store), e);
  }
  return {
    plan: {
      poolUuid: snap.record.uuid,
      marker: snap.record.otherConfig.get(MARKER_KEY) ?? null,
      claims: [...snap.claims].sort((a, b) => a[0] - b[0]),
    },
    xp,
  };
}

export async function applyDisable(
  store: Store,
  xp: XePool,
  plan: DisablePlan,
  localHost: string | null,
  now: () => Date,
): Promise<void> {
  const pool = plan.poolUuid;
  // `off` first: from here on no host writes a claim, so the removals below race with nobody
  if (plan.marker !== MARKER_OFF) {
    if (plan.marker !== null) await xp.removeIfOurs("pool", pool, MARKER_KEY, plan.marker);
    await xp.add("pool", pool, MARKER_KEY, MARKER_OFF);
  }
  for (const [n, uuid] of plan.claims) {
    await xp.removeIfOurs("pool", pool, `${CLAIM_PREFIX}${n}`, uuid);
  }
  if (localHost !== null) {
    const member = await xp.get("host", localHost, MEMBER_KEY);
    if (member !== null) await xp.removeIfOurs("host", localHost, MEMBER_KEY, member);
  }
  writePoolState(store, null, now());
}

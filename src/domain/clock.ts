// Time as the program sees it: read and waited on only through this interface, which Deps hands
// to every command (src/cli/deps.ts builds the real one; tests give one that never waits).

export interface Clock {
  now(): Date;
  /** Resolves after `ms` milliseconds (a test clock moves at once). */
  sleep(ms: number): Promise<void>;
}

/** A clock for callers that must not wait between retries (the start hook's bounded path). */
export function noWaitClock(now: () => Date): Clock {
  return { now, sleep: () => Promise.resolve() };
}

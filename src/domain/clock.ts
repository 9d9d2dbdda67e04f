// Time as the program sees it: read, waited on and ticked only through this interface, which
// Deps hands to every command (src/cli/deps.ts builds the real one; tests give one that never
// waits and whose timers fire only when the test moves it).

export interface Clock {
  now(): Date;
  /** Resolves after `ms` milliseconds (a test clock moves at once). */
  sleep(ms: number): Promise<void>;
  /**
   * Calls `fn` every `ms` milliseconds until the returned function is called. The timer never
   * keeps the process alive on its own (a forgotten stop must not hold a finished command).
   */
  every(ms: number, fn: () => void): () => void;
  /**
   * Calls `fn` once after `ms` milliseconds unless the returned function is called first; it
   * keeps the process alive meanwhile, as a pending wait does.
   */
  after(ms: number, fn: () => void): () => void;
}

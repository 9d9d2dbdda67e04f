// The reads (`*-list`, `*-param-get`) xe is answering right now, for src/cli/signal-exit.ts.
// The CLI's xe calls run in a session of their own (spawn.ts `detached`; main.ts's early reads
// excepted): the terminal's Ctrl-C and a dropped SSH session's SIGHUP never reach them. For a
// write that is the point (xapi finishes it whatever its client does; a change's apply phase
// decides what a signal does). A read has nothing to finish, and left running it outlived us: on
// a slave whose master is down (xe retries for ever) each Ctrl-C'd `status` left one more xe.

const live = new Set<Deno.ChildProcess>();

/** A verb that only reads (endsWith, not a regex: a first regex costs a compile on the hook's path). */
export function isReadVerb(verb: string | undefined): boolean {
  return verb !== undefined && (verb.endsWith("-list") || verb.endsWith("-param-get"));
}

/** Keeps `child` among the live reads until it ends, when its verb only reads (runner onSpawn). */
export function trackRead(child: Deno.ChildProcess, args: readonly string[]): void {
  if (!isReadVerb(args[0])) return;
  live.add(child);
  child.status.then(() => live.delete(child), () => live.delete(child));
}

/** The reads under way now. */
export function liveReads(): Deno.ChildProcess[] {
  return [...live];
}

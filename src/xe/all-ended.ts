// Several xe calls at once: like Promise.all, but every call has ended (answered, failed, or
// timed out and its process tree killed) before the first failure is thrown. With Promise.all a
// command could exit on one failure while another xe still ran, orphaned with its children.

/** The answers of `calls`, in order, once all have ended; the first failure is thrown. */
export async function allEnded<T extends readonly unknown[]>(
  calls: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const ended = await Promise.allSettled(calls);
  for (const e of ended) if (e.status === "rejected") throw e.reason;
  return ended.map((e) => (e as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

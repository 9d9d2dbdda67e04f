// What a command's run() may return besides success; dispatch.ts turns it into the exit code
// (0 ok, 1 failed, 2 strict refusal by the start hook, 3 drift found by `sync --check`).
// Errors are thrown, never returned.
export type Outcome = void | "degraded" | "drift" | "refused";

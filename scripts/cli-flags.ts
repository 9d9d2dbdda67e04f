// The run-time flags of the product: the `cli` task of deno.json is their single source. The
// tests, the benchmark, `deno compile` (build.ts) and the portable launcher all take them here.

/** Permission flags and V8 flags of the `cli` task, in order. */
export function cliRunFlags(denoJson: { tasks: Record<string, string> }): string[] {
  return denoJson.tasks.cli.split(/\s+/).filter((t) =>
    t.startsWith("--allow-") || t.startsWith("--deny-") || t.startsWith("--v8-flags=")
  );
}

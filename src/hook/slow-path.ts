// Where the hooks' rare paths live (src/hook/slow.ts), named by a computed specifier so that Deno
// neither loads nor prepares them at start: this module's neighbour in the source tree; in the
// bundle (lib/hook/, built by build:portable with slow.ts as a second entry) every chunk sits at
// the top and the second entry keeps its source path, src/hook/slow.js.
type Slow = typeof import("./slow.ts");

export function loadSlow(): Promise<Slow> {
  const bundled = import.meta.url.endsWith(".js");
  return import(bundled ? ["./src", "hook", "slow.js"].join("/") : ["./slow", "ts"].join("."));
}

// The xe calls of a command and nothing else (deno task bench): spawned at once as the CLI spawns
// them (VGPU_XE, a plain spawn), their answers copied to stdout, nothing parsed or rendered. Run
// with the CLI's own Deno flags, it is what any program making these calls costs on this machine
// (its start, the spawns, the fake xe processes sharing the CPUs): the reference that says how
// much of a ratio against one bare call the command itself adds. Each argument is one call, its
// words separated by spaces (no xe argument of the bench holds one).
const xe = Deno.env.get("VGPU_XE") || "xe";
const calls = Deno.args.map((a) =>
  new Deno.Command(xe, { args: a.split(" "), stdin: "null", stdout: "piped", stderr: "piped" })
    .output()
);
let failed = false;
for (const c of await Promise.all(calls)) {
  Deno.stdout.writeSync(c.stdout);
  failed ||= c.code !== 0;
}
Deno.exit(failed ? 1 : 0);

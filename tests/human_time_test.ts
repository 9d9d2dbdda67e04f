// One human time format (issue 13): local time with its zone offset, to the second; JSON keeps
// the stored UTC. Run under three zones in subprocesses (TZ is read once at start-up).
import assert from "node:assert/strict";

const TIME_TS = new URL("../src/domain/time.ts", import.meta.url).href;

async function underZone(tz: string, stored: string[]): Promise<string[]> {
  const code = `import { humanTime } from ${JSON.stringify(TIME_TS)};
for (const s of ${JSON.stringify(stored)}) console.log(humanTime(s));`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env: { TZ: tz },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return new TextDecoder().decode(r.stdout).trimEnd().split("\n");
}

// A SQLite CURRENT_TIMESTAMP value (UTC, no zone) and an ISO value with milliseconds.
const STORED = ["2026-11-30 20:04:30", "2026-11-30T20:04:28.329Z", "2026-07-01T12:00:00.000Z"];

Deno.test("human time: UTC", async () => {
  assert.deepEqual(await underZone("UTC", STORED), [
    "2026-11-30 20:04:30 +0000",
    "2026-11-30 20:04:28 +0000",
    "2026-07-01 12:00:00 +0000",
  ]);
});

Deno.test("human time: a half-hour zone east of UTC, across midnight", async () => {
  assert.deepEqual(await underZone("Asia/Kolkata", STORED), [
    "2026-12-01 01:34:30 +0530",
    "2026-12-01 01:34:28 +0530",
    "2026-07-01 17:30:00 +0530",
  ]);
});

Deno.test("human time: west of UTC, with daylight saving time", async () => {
  assert.deepEqual(await underZone("America/New_York", STORED), [
    "2026-11-30 15:04:30 -0500",
    "2026-11-30 15:04:28 -0500",
    "2026-07-01 08:00:00 -0400",
  ]);
});

Deno.test("human time: a value that is not a time is shown as stored", async () => {
  assert.deepEqual(await underZone("UTC", ["soon"]), ["soon"]);
});

/**
 * src/cli/progress.ts: plain lines without a terminal; on a terminal one line updated in place
 * (`\r`, elapsed seconds, erase-to-end), each step kept, counters replaced, and done() ending it.
 */
import assert from "node:assert/strict";
import { bufferIo } from "../src/cli/io.ts";
import { createProgress } from "../src/cli/progress.ts";

Deno.test("progress without a terminal: one plain line per step, nothing else", () => {
  const io = bufferIo();
  const p = createProgress(io);
  p.step("Shutting down VM U (clean, waiting up to 120 s)...");
  p.update("[1/2] VM A");
  p.update("[2/2] VM B");
  p.done();
  p.done();
  assert.equal(
    io.stderr(),
    "Shutting down VM U (clean, waiting up to 120 s)...\n[1/2] VM A\n[2/2] VM B\n",
  );
  assert.equal(io.stdout(), "");
});

Deno.test("progress on a terminal: \\r-updated line with elapsed seconds", async () => {
  const io = bufferIo({ interactive: true });
  let t = 0;
  const p = createProgress(io, { now: () => t, tickMs: 5 });
  p.step("Shutting down VM U...");
  t = 3000;
  await new Promise((r) => setTimeout(r, 30)); // a few ticks redraw the elapsed time
  p.step("Starting VM U...");
  t = 4000;
  p.done();
  const out = io.stderr();
  assert.ok(out.startsWith("\rShutting down VM U... (0 s)\x1b[K"), JSON.stringify(out));
  assert.ok(out.includes("\rShutting down VM U... (3 s)\x1b[K\n"), "the first step is kept");
  assert.ok(out.endsWith("\rStarting VM U... (0 s)\x1b[K\n"), JSON.stringify(out));
});

Deno.test("progress on a terminal: update replaces the line; done ends it once", () => {
  const io = bufferIo({ interactive: true });
  const p = createProgress(io, { now: () => 0, tickMs: 60_000 });
  p.update("[1/3] VM A");
  p.update("[2/3] VM B");
  p.update("[3/3] VM C");
  p.done();
  p.done();
  assert.equal(
    io.stderr(),
    "\r[1/3] VM A (0 s)\x1b[K\r[2/3] VM B (0 s)\x1b[K\r[3/3] VM C (0 s)\x1b[K\n",
  );
});

Deno.test("progress on an 80-column terminal: a redrawn line never wraps; the uuid is shortened, not the timeout", () => {
  const io = bufferIo({ interactive: true, columns: 80 });
  const p = createProgress(io, { now: () => 0 });
  const long =
    "Shutting down VM 11111111-1111-4111-8111-111111111111 (clean, waiting up to 120 s)...";
  p.step(long);
  p.done();
  const drawn = io.stderr().split("\r")[1].replace("\x1b[K\n", "");
  assert.ok(drawn.length <= 79, drawn);
  assert.equal(drawn, "Shutting down VM 11111111… (clean, waiting up to 120 s)... (0 s)");
  // still too long without its uuids: then it is cut with …
  const narrow = bufferIo({ interactive: true, columns: 40 });
  const n = createProgress(narrow, { now: () => 0 });
  n.step(long);
  n.done();
  const cut = narrow.stderr().split("\r")[1].replace("\x1b[K\n", "");
  assert.equal(cut, "Shutting down VM 11111111… (clea… (0 s)");
  const wide = bufferIo({ interactive: true, columns: 200 });
  const q = createProgress(wide, { now: () => 0 });
  q.step(long);
  q.done();
  assert.equal(wide.stderr(), `\r${long} (0 s)\x1b[K\n`, "nothing is cut when it fits");
});

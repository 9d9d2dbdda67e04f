/**
 * src/cli/progress.ts: plain lines without a terminal; on a terminal one line updated in place
 * (`\r`, elapsed seconds, erase-to-end), each step kept, counters replaced, and done() ending it.
 */
import assert from "node:assert/strict";
import { bufferIo } from "../src/cli/io.ts";
import { createProgress } from "../src/cli/progress.ts";
import { fakeClock } from "./fake-runner.ts";

/** A clock at 0 whose ticker fires only when the test moves it. */
const zero = () => fakeClock(new Date(0));

Deno.test("progress without a terminal: one plain line per step, nothing else", () => {
  const io = bufferIo();
  const clock = zero();
  const p = createProgress(io, clock);
  p.step("Shutting down VM U (clean, waiting up to 120 s)...");
  p.update("[1/2] VM A");
  p.update("[2/2] VM B");
  clock.advance(5000); // no ticker without a terminal
  p.done();
  p.done();
  assert.equal(
    io.stderr(),
    "Shutting down VM U (clean, waiting up to 120 s)...\n[1/2] VM A\n[2/2] VM B\n",
  );
  assert.equal(io.stdout(), "");
});

Deno.test("progress on a terminal: \\r-updated line with the clock's elapsed seconds, its ticker stopped by done()", () => {
  const io = bufferIo({ interactive: true });
  const clock = zero();
  const p = createProgress(io, clock);
  p.step("Shutting down VM U...");
  clock.advance(2500); // the clock's ticker redraws each second, and only through the clock
  p.step("Starting VM U...");
  clock.advance(1000);
  p.done();
  clock.advance(5000); // stopped: nothing more is drawn
  assert.equal(
    io.stderr(),
    [
      "\rShutting down VM U... (0 s)\x1b[K",
      "\rShutting down VM U... (1 s)\x1b[K",
      "\rShutting down VM U... (2 s)\x1b[K\n",
      "\rStarting VM U... (0 s)\x1b[K",
      "\rStarting VM U... (1 s)\x1b[K\n",
    ].join(""),
  );
});

Deno.test("progress on a terminal: update replaces the line; done ends it once", () => {
  const io = bufferIo({ interactive: true });
  const p = createProgress(io, zero(), { tickMs: 60_000 });
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
  const p = createProgress(io, zero());
  const long =
    "Shutting down VM 11111111-1111-4111-8111-111111111111 (clean, waiting up to 120 s)...";
  p.step(long);
  p.done();
  const drawn = io.stderr().split("\r")[1].replace("\x1b[K\n", "");
  assert.ok(drawn.length <= 79, drawn);
  assert.equal(drawn, "Shutting down VM 11111111… (clean, waiting up to 120 s)... (0 s)");
  // still too long without its uuids: then it is cut with …
  const narrow = bufferIo({ interactive: true, columns: 40 });
  const n = createProgress(narrow, zero());
  n.step(long);
  n.done();
  const cut = narrow.stderr().split("\r")[1].replace("\x1b[K\n", "");
  assert.equal(cut, "Shutting down VM 11111111… (clea… (0 s)");
  const wide = bufferIo({ interactive: true, columns: 200 });
  const q = createProgress(wide, zero());
  q.step(long);
  q.done();
  assert.equal(wide.stderr(), `\r${long} (0 s)\x1b[K\n`, "nothing is cut when it fits");
});

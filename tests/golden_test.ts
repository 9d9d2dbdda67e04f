// UPDATE_GOLDEN: a missing golden file is written with UPDATE_GOLDEN=1; an existing one is
// overwritten only when UPDATE_GOLDEN names it (tests/golden.ts).
import assert from "node:assert/strict";
import { goldenUpdate } from "./golden.ts";

Deno.test("UPDATE_GOLDEN=1 writes only missing files; naming a file allows overwriting it", () => {
  const file = "/repo/tests/golden/output/empty/status.txt";
  assert.equal(goldenUpdate(file, undefined), null);
  assert.equal(goldenUpdate(file, ""), null);
  assert.equal(goldenUpdate(file, "1"), "missing");
  assert.equal(goldenUpdate(file, "tests/golden/output/empty/status.txt"), "named");
  assert.equal(goldenUpdate(file, "./tests/golden/output/empty/status.txt"), "named");
  assert.equal(goldenUpdate(file, file), "named");
  assert.equal(goldenUpdate(file, "a.txt, output/empty/status.txt"), "named");
  assert.equal(goldenUpdate(file, "tests/golden/output/populated/status.txt"), null);
  assert.equal(goldenUpdate(file, "status.txt.bak"), null);
  // "all" is not a file name: an existing file is never overwritten by habit.
  assert.equal(goldenUpdate(file, "all"), null);
});

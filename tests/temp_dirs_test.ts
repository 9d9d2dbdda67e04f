// The suite leaves nothing behind in /tmp (a run used to leave ~10 directories and files each
// time, ~17,000 over a few hundred runs): a test's temporary directory is made by tempDir()
// (helpers.ts), which removes it when the test module ends, except in the few files below that
// make and remove their own in a `finally`, each for a reason of its own.
import assert from "node:assert/strict";
import { ROOT } from "./helpers.ts";

/** Files that make a temporary directory themselves, and why. */
const OWN_CLEANUP: Record<string, string> = {
  "tests/helpers.ts": "tempDir() itself",
  "tests/chroot.ts": "chroot roots, removed after each run (and a mount probe)",
  "tests/xe-scripts.ts": "withScripts: kills what its scripts left running before removing them",
  "tests/fake_xe_test.ts": "the fake's own tests, removed in their finally",
  "tests/damaged_env_test.ts": "a probe for file permissions, removed at once",
  "tests/hostile_targets_test.ts": "mknod, chattr and mount probes, removed at once",
  "tests/rpm_test.ts": "rpm --root trees, removed after each run",
};

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...testFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

Deno.test("tests make temporary directories with tempDir(), which removes them", () => {
  const making = testFiles(`${ROOT}/tests`)
    .filter((f) => /Deno\.makeTemp(Dir|File)(Sync)?\(/.test(Deno.readTextFileSync(f)))
    .map((f) => f.slice(ROOT.length + 1))
    .filter((f) => !(f in OWN_CLEANUP))
    .sort();
  assert.deepEqual(
    making,
    [],
    "use tempDir() from tests/helpers.ts (removed when the module ends)",
  );
});

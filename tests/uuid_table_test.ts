/**
 * UuidTable (src/domain/uuid-table.ts): what drift keeps of every VM by uuid, in a typed array
 * instead of a Map (issue 19). Every key found, none invented, the last item of a key wins, keys
 * that hash alike still found, and past the size it was made for it grows instead of filling up.
 */
import assert from "node:assert/strict";
import { UuidTable } from "../src/domain/uuid-table.ts";

const U = (n: number) => `7d1e2f00-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

Deno.test("UuidTable finds each of 10,000 uuids and nothing else, like a Map", () => {
  const items: { uuid: string; n: number }[] = [];
  const table = new UuidTable(10000, items, (i) => i.uuid);
  const map = new Map<string, { uuid: string; n: number }>();
  for (let n = 0; n < 10000; n++) {
    // every 7th uuid twice: the second item wins
    const uuid = U(n % 7 === 0 && n > 0 ? n - 1 : n);
    items.push({ uuid, n });
    table.set(items.length - 1);
    map.set(uuid, items[items.length - 1]);
  }
  for (let n = 0; n < 10100; n++) {
    assert.equal(table.get(U(n)), map.get(U(n)), U(n));
    assert.equal(table.has(U(n)), map.has(U(n)), U(n));
  }
  assert.equal(table.get("not a uuid"), undefined);
});

Deno.test("UuidTable tells apart keys alike at both ends (the part it hashes)", () => {
  const keys = Array.from(
    { length: 500 },
    (_, i) => `aaaaaaaa-${String(i).padStart(12, "0")}-zzzzzzzz`,
  );
  const items = [...keys];
  const table = new UuidTable(keys.length, items, (k) => k);
  for (let i = 0; i < keys.length; i++) table.set(i);
  for (const k of keys) assert.equal(table.get(k), k);
  assert.equal(table.has("aaaaaaaa-x-zzzzzzzz"), false);
  // short keys too
  const short = ["", "a", "ab"];
  const t2 = new UuidTable(3, short, (k) => k);
  short.forEach((_, i) => t2.set(i));
  for (const k of short) assert.equal(t2.get(k), k);
});

Deno.test("UuidTable made for a few keys grows to hold many, never full", () => {
  // made for 2: every key past two thirds of its slots doubles them (a full table would make a
  // lookup of an absent key loop for ever)
  const items: string[] = [];
  const table = new UuidTable(2, items, (k) => k);
  for (let n = 0; n < 5000; n++) {
    items.push(U(n));
    table.set(n);
    if (n % 997 === 0) assert.equal(table.has(U(n + 1)), false); // absent: the lookup ends
  }
  table.set(3); // a key set again is no new key
  for (let n = 0; n < 5000; n++) assert.equal(table.get(U(n)), U(n));
  assert.equal(table.get(U(5000)), undefined);
});

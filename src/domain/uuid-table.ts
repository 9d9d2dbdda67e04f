// Items found by their uuid, in one typed array: what drift keeps of 10,000 VMs by uuid. A Map of
// 10,000 entries is ~0.5 MB of heap and grows by copies (a 230 KB one left as garbage, freed only
// by a full collection): issue 19, peak RSS of status and doctor. Pure.

/** What readers ask of an index by uuid. */
export interface UuidIndex<T> {
  get(uuid: string): T | undefined;
  has(uuid: string): boolean;
}

/**
 * Open addressing over `items` (which the caller owns and only appends to): each used slot holds
 * 1 + the position of its item, 0 is free. Sized for `expected` keys; past two thirds full it
 * doubles (a typed array copied, no heap garbage). A key set again moves to its new item (the
 * last one wins).
 */
export class UuidTable<T> implements UuidIndex<T> {
  #slots: Int32Array;
  #mask: number;
  readonly #items: readonly T[];
  readonly #key: (item: T) => string;
  #used = 0;

  constructor(expected: number, items: readonly T[], key: (item: T) => string) {
    let size = 16;
    // at most two thirds full: linear probing stays short
    while (size * 2 < expected * 3) size *= 2;
    this.#slots = new Int32Array(size);
    this.#mask = size - 1;
    this.#items = items;
    this.#key = key;
  }

  /** The slot of `uuid`: its item's, else the free one where it goes. */
  #find(uuid: string): number {
    for (let i = hash(uuid) & this.#mask;; i = (i + 1) & this.#mask) {
      const at = this.#slots[i];
      if (at === 0 || this.#key(this.#items[at - 1]) === uuid) return i;
    }
  }

  get(uuid: string): T | undefined {
    const at = this.#slots[this.#find(uuid)];
    return at === 0 ? undefined : this.#items[at - 1];
  }

  /** The position in `items` of the item of `uuid`, or -1. */
  indexOf(uuid: string): number {
    return this.#slots[this.#find(uuid)] - 1;
  }

  has(uuid: string): boolean {
    return this.#slots[this.#find(uuid)] !== 0;
  }

  /** From now on `items[position]` is the item of its key. */
  set(position: number): void {
    const slot = this.#find(this.#key(this.#items[position]));
    if (this.#slots[slot] !== 0) {
      this.#slots[slot] = position + 1;
      return;
    }
    // never more than two thirds full (a full table would make #find loop for ever)
    if ((this.#used + 1) * 3 > this.#slots.length * 2) {
      this.#grow();
      this.set(position);
      return;
    }
    this.#used++;
    this.#slots[slot] = position + 1;
  }

  /** Twice the slots, every key placed again. */
  #grow(): void {
    const old = this.#slots;
    this.#slots = new Int32Array(old.length * 2);
    this.#mask = this.#slots.length - 1;
    for (const at of old) {
      if (at === 0) continue;
      let i = hash(this.#key(this.#items[at - 1])) & this.#mask;
      while (this.#slots[i] !== 0) i = (i + 1) & this.#mask;
      this.#slots[i] = at;
    }
  }
}

/** FNV-1a of the last and first 8 characters (a uuid's random and its sequential ends). */
function hash(s: string): number {
  const n = s.length;
  const k = n < 8 ? n : 8;
  let h = 0x811c9dc5 ^ n;
  for (let i = 1; i <= k; i++) h = Math.imul(h ^ s.charCodeAt(n - i), 0x01000193);
  for (let i = 0; i < k; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) >>> 0;
}

// One string of its own, for a string kept as long as a VM is (issue 19, peak RSS at 10,000 VMs).
// Pure.

/**
 * `s` as one flat string of its own. A value cut from a piece of xe's answer keeps that whole
 * piece alive as long as it is kept (64 KiB, and two bytes a character when one name in it is not
 * Latin-1: at 10,000 VMs, ~7 MiB of answer held for ~1.5 MiB of values); a string built by
 * concatenation is a tree of its pieces (~9 objects for a device string, flattened into a copy of
 * its own at its first comparison). JSON.parse builds a fresh flat string; V8 copies strings
 * shorter than 13 characters anyway.
 */
export function ownString(s: string): string {
  return s.length < 13 ? s : JSON.parse(JSON.stringify(s));
}

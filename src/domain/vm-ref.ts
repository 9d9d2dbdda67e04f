// --vm=<name | uuid | unique uuid prefix> (issue 18 C14): which VM a name or prefix means, among
// the candidates the command works on. Pure; the command supplies the candidates.

export interface VmCandidate {
  uuid: string;
  name: string | null;
}

export type VmMatch =
  | { kind: "one"; uuid: string }
  | { kind: "ambiguous"; by: "name" | "uuid prefix"; candidates: VmCandidate[] }
  | { kind: "none" };

/** A uuid prefix is taken from this many characters on: "db" or "cafe" stay names only. */
export const UUID_PREFIX_MIN = 6;
const PREFIX_RE = /^[0-9a-f-]+$/;

/**
 * The VM `text` names: an exact name first (names are what people type), then a whole uuid,
 * then a uuid prefix of at least UUID_PREFIX_MIN characters. Two or more: ambiguous.
 */
export function matchVm(text: string, candidates: readonly VmCandidate[]): VmMatch {
  const byName = candidates.filter((c) => c.name !== null && c.name === text);
  if (byName.length === 1) return { kind: "one", uuid: byName[0].uuid };
  if (byName.length > 1) return { kind: "ambiguous", by: "name", candidates: byName };
  const lower = text.toLowerCase();
  const whole = candidates.find((c) => c.uuid === lower);
  if (whole !== undefined) return { kind: "one", uuid: whole.uuid };
  if (lower.length < UUID_PREFIX_MIN || !PREFIX_RE.test(lower)) return { kind: "none" };
  const byPrefix = candidates.filter((c) => c.uuid.startsWith(lower));
  if (byPrefix.length === 1) return { kind: "one", uuid: byPrefix[0].uuid };
  if (byPrefix.length > 1) return { kind: "ambiguous", by: "uuid prefix", candidates: byPrefix };
  return { kind: "none" };
}

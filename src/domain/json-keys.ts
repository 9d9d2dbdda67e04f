// Duplicate keys in a JSON text: JSON.parse keeps the last one silently, so an import file
// with `"vm_id": 3, …, "vm_id": 7` would import 7 without a word (issue 18 10a). Pure.

/** One key given twice in the same object: where (`vms[3].vm_id`, or the key alone at the top). */
export interface DuplicateKey {
  path: string;
  key: string;
}

/**
 * Every key that appears more than once in its object, in text order. `text` must be valid JSON
 * (JSON.parse accepted it): this scanner only follows strings, objects and arrays.
 */
export function duplicateKeys(text: string): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  type Frame =
    | { kind: "object"; path: string; keys: Set<string>; key: string | null; expectKey: boolean }
    | { kind: "array"; path: string; index: number };
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (top === undefined) return "";
    if (top.kind === "array") return `${top.path}[${top.index}]`;
    return top.path === "" ? top.key ?? "" : `${top.path}.${top.key ?? ""}`;
  };
  let i = 0;
  const readString = (): string => {
    const start = i; // at the opening quote
    i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  while (i < text.length) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      const s = readString();
      if (top?.kind === "object" && top.expectKey) {
        if (top.keys.has(s)) out.push({ path: top.path === "" ? s : `${top.path}.${s}`, key: s });
        top.keys.add(s);
        top.key = s;
        top.expectKey = false;
      }
      continue;
    }
    if (c === "{" || c === "[") {
      const path = childPath();
      stack.push(
        c === "{"
          ? { kind: "object", path, keys: new Set(), key: null, expectKey: true }
          : { kind: "array", path, index: 0 },
      );
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      if (top?.kind === "object") top.expectKey = true;
      else if (top?.kind === "array") top.index++;
    }
    i++;
  }
  return out;
}

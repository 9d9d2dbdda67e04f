// Text from outside (a USER variable, a VM's name-label from xapi, QEMU args, xe's stderr, a
// damaged database row) shown to a person: control characters would move the cursor, recolour
// or rewrite the terminal, and a newline would forge a line. Every human view passes such text
// through printable(); JSON keeps the true value (format.ts escapes the same characters there).

// C0, DEL and C1 (\x9b is an 8-bit CSI); line and paragraph separators; the bidi embeddings,
// overrides and isolates that reorder what is shown ("Trojan Source", CVE-2021-42574).
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escaped(ch: string): string {
  const code = ch.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with every control character shown as `\xNN` (`\uNNNN` above 0xff): one safe line. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escaped);
}

// What JSON.stringify leaves raw inside strings (it escapes C0 itself; a raw newline in its
// output is the layout's, between values).
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify's text with those characters as `\uNNNN` escapes: the parsed value is unchanged. */
export function jsonSafe(jsonText: string): string {
  return jsonText.replace(
    RAW_IN_JSON,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

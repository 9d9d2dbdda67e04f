// Command lines shown to the administrator are pasted back into a shell: quote what needs it.

// Characters no POSIX shell treats specially anywhere in a word ("~" is special at the start).
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quote(s: string): string {
  if (SHELL_SAFE.test(s)) return s;
  // Double quotes read like the docs (`--vm-name="web 1"`) when nothing inside is special there.
  if (!/["$`\\!]/.test(s)) return `"${s}"`;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** One argument as a pasteable shell word; `--name=value` quotes only the value. */
export function shellWord(arg: string): string {
  const m = /^(--[a-z][a-z0-9-]*=)(.*)$/s.exec(arg);
  return m === null ? quote(arg) : m[1] + (m[2] === "" ? "" : quote(m[2]));
}

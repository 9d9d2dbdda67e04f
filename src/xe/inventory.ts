// Which host is "this host": dom0's /etc/xensource-inventory names it (INSTALLATION_UUID).
// Read from a file, not from xe, so it costs no xe call. VGPU_INVENTORY points tests elsewhere.

export const DEFAULT_INVENTORY = "/etc/xensource-inventory";

/** The local host's uuid, or null when the inventory cannot be read or lacks it. */
export function readLocalHostUuid(path: string): string | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return null;
  }
  const m = /^INSTALLATION_UUID=['"]?([0-9a-fA-F-]{36})['"]?\s*$/m.exec(text);
  return m === null ? null : m[1].toLowerCase();
}

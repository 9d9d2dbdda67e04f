// What xapi keeps on this host that `xe` does not print.
//
// The pool's redo log: the CLI's pool record has `ha-enabled` but no redo-log field (xen-api
// ocaml/xapi-cli-server/records.ml; xe silently drops an unknown name from `params=`), so asking
// `xe pool-list params=…,redo-log-enabled` can only ever read "off". xapi itself keeps the flag,
// for its own restarts, in every host's local database: `pool-enable-redo-log` sets the key
// `redo_log.enabled` to "true" on every host and `pool-disable-redo-log` to "false"
// (xapi_pool.ml enable_redo_log / disable_redo_log, Host.set_localdb_key). That file is an XML
// hash table (hashtbl_xml.ml): `<config><row key="K" value="V"/>…</config>`. Reading it costs no
// xe call. VGPU_XAPI_LOCAL_DB points tests elsewhere.

export const DEFAULT_XAPI_LOCAL_DB = "/var/lib/xcp/local.db";

/** The redo log as this host's xapi recorded it, or why it cannot be told. */
export type RedoLog = { state: "on" } | { state: "off" } | { state: "unknown"; why: string };

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function unescapeXml(s: string): string {
  return s.replace(
    /&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g,
    (_, e: string) =>
      e.startsWith("#x")
        ? String.fromCodePoint(parseInt(e.slice(2), 16))
        : e.startsWith("#")
        ? String.fromCodePoint(parseInt(e.slice(1), 10))
        : ENTITIES[e],
  );
}

/** The rows of an xapi local database (attributes in either order, either quote). */
export function parseLocalDb(text: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of text.matchAll(/<row\b([^>]*?)\/?>/g)) {
    const attrs = new Map<string, string>();
    for (const a of m[1].matchAll(/([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      attrs.set(a[1], unescapeXml(a[2] ?? a[3]));
    }
    const key = attrs.get("key");
    const value = attrs.get("value");
    if (key !== undefined && value !== undefined) rows.set(key, value);
  }
  return rows;
}

/** The pool's redo log as this host's xapi local database records it. */
export function readRedoLog(path: string): RedoLog {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? `${path} does not exist`
      : e instanceof Deno.errors.PermissionDenied
      ? `${path} is not readable (run as root)`
      : `${path} cannot be read (${e instanceof Error ? e.message : String(e)})`;
    return { state: "unknown", why };
  }
  if (!/<config\b/.test(text)) {
    return { state: "unknown", why: `${path} is not xapi's local database` };
  }
  // absent: xapi never enabled it on this host (the flag is written on enable and on disable)
  return { state: parseLocalDb(text).get("redo_log.enabled") === "true" ? "on" : "off" };
}

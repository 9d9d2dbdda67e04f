// The one human time format: local time with its zone offset, to the second
// (`2026-11-30 20:04:30 +0000`). JSON keeps what is stored (UTC).

const two = (n: number) => String(n).padStart(2, "0");

/** A stored time (SQLite `YYYY-MM-DD HH:MM:SS`, UTC, or ISO-8601) as local time with offset. */
export function humanTime(stored: string): string {
  // SQLite's CURRENT_TIMESTAMP form carries no zone but is UTC.
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(stored)
    ? `${stored.replace(" ", "T")}Z`
    : stored;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return stored;
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

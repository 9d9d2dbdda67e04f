// Colour for terminals only (never with NO_COLOR, never when piped): process-io.ts decides io.color.

export interface Paint {
  ok(s: string): string;
  warn(s: string): string;
  bad(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

const COLOR: Paint = {
  ok: wrap(32, 39),
  warn: wrap(33, 39),
  bad: wrap(31, 39),
  bold: wrap(1, 22),
  dim: wrap(2, 22),
};

const PLAIN: Paint = { ok: (s) => s, warn: (s) => s, bad: (s) => s, bold: (s) => s, dim: (s) => s };

export function paint(color: boolean): Paint {
  return color ? COLOR : PLAIN;
}

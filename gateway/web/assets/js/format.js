// format.js — money and dates the way the bureaus write them: ¥5,000.00
// and 2024-11-20. Money stays exact: the API's decimal strings are parsed
// into whole fen (BigInt), never into floating point.

/** parseFen reads "5000.00", "-12.5" or "7" as a BigInt of fen; null if malformed. */
export function parseFen(s) {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(s ?? '').trim());
  if (!m) return null;
  const fen = BigInt(m[2]) * 100n + BigInt((m[3] || '').padEnd(2, '0'));
  return m[1] === '-' ? -fen : fen;
}

/** formatFen writes fen as ¥5,000.00 (negative: -¥5,000.00). */
export function formatFen(fen) {
  const neg = fen < 0n;
  const abs = neg ? -fen : fen;
  const yuan = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (abs % 100n).toString().padStart(2, '0');
  return `${neg ? '-' : ''}¥${yuan}.${cents}`;
}

/** money formats an API amount string; a malformed one is shown as is. */
export function money(s) {
  const fen = parseFen(s);
  return fen === null ? String(s ?? '') : formatFen(fen);
}

/** sumFen adds API amount strings exactly. */
export function sumFen(...amounts) {
  return amounts.reduce((acc, a) => acc + (parseFen(a) ?? 0n), 0n);
}

/**
 * ratio is part/whole as a number between 0 and 1, for drawing only (a
 * bar's width), never for money.
 */
export function ratio(part, whole) {
  if (!whole || whole <= 0n) return 0;
  const r = Number((part * 10000n) / whole) / 10000;
  return Math.max(0, Math.min(1, r));
}

const pad = (n) => String(n).padStart(2, '0');

// The programme runs on Beijing time: the ledger dates a certificate,
// a payment and "today" there, so the console does too, whatever the
// PC's own time zone.
const ZONE = 'Asia/Shanghai';
let zoned = null;
try {
  zoned = new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
} catch {
  zoned = null; // no time zone data: fall back to the PC's own clock
}

function parts(d) {
  if (!zoned) {
    return { y: d.getFullYear(), m: pad(d.getMonth() + 1), d: pad(d.getDate()), hh: pad(d.getHours()), mm: pad(d.getMinutes()) };
  }
  const p = Object.fromEntries(zoned.formatToParts(d).map((x) => [x.type, x.value]));
  return { y: p.year, m: p.month, d: p.day, hh: p.hour, mm: p.minute };
}

/** beijingDate is an instant's date in Beijing, YYYY-MM-DD. */
export function beijingDate(d) {
  const p = parts(d);
  return `${p.y}-${p.m}-${p.d}`;
}

/** today is today's date in Beijing, YYYY-MM-DD. */
export function today() {
  return beijingDate(new Date());
}

/** date shows a date (kept) or an instant (its date in Beijing). */
export function date(s) {
  if (!s) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : beijingDate(d);
}

/** dateTime shows an instant as YYYY-MM-DD HH:mm, Beijing time. */
export function dateTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  const p = parts(d);
  return `${p.y}-${p.m}-${p.d} ${p.hh}:${p.mm}`;
}

/** count writes an integer count with separators. */
export function count(n) {
  return String(n ?? 0).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

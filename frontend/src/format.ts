/** Display helpers; money is always integer minor units with an ISO 4217 code. */

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function money(minor: number | undefined | null, currencyCode?: string | null): string {
  if (minor === undefined || minor === null || Number.isNaN(minor)) return '–';
  const currency = currencyCode ?? 'USD';
  let f = moneyFormats.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    } catch {
      f = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2 });
    }
    moneyFormats.set(currency, f);
  }
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(minor / 10 ** digits);
}

export function dateTime(iso: string | undefined | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function clockTime(iso: string | undefined | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms <= 0) return '0 ms';
  if (ms < 1) return '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

export function count(n: number | undefined): string {
  return n === undefined || n === null ? '–' : n.toLocaleString();
}

/** "3 min ago", "in 5 s": for the hover text beside an absolute time. */
export function relativeTime(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return iso;
  const abs = Math.abs(ms);
  const [n, unit] =
    abs < 60_000 ? [Math.round(ms / 1000), 'second'] : abs < 3_600_000 ? [Math.round(ms / 60_000), 'minute'] : abs < 86_400_000 ? [Math.round(ms / 3_600_000), 'hour'] : [Math.round(ms / 86_400_000), 'day'];
  return new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(n, unit as Intl.RelativeTimeFormatUnit);
}

/** Date and time, local, with the day when it is not today. */
export function whenLocal(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? clockTime(iso) : `${d.toLocaleDateString()} ${clockTime(iso)}`;
}

/** Date and time in UTC, with the day when it is not today (UTC): `2026-12-01 09:15:02.120 UTC`. */
export function whenUtc(iso: string, now = Date.now()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const [day, time = ''] = d.toISOString().split('T');
  const today = new Date(now).toISOString().slice(0, 10) === day;
  return `${today ? '' : `${day} `}${time.replace('Z', '')} UTC`;
}

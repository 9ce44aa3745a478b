/**
 * DOM and formatting helpers of the dashboard. Every text that comes from the log (event
 * data, account ids, error messages) goes through `textContent`, never `innerHTML`: the log
 * holds what clients wrote, and the page must not run it. Styles are set through classes
 * or the CSSOM (`el.style.x = …`), never as an inline `style` attribute, which the
 * Content-Security-Policy (`style-src 'self'`) refuses.
 */

/**
 * Creates an element: `h('td', {class: 'num', dataset: {seq: '3'}}, '3')`. Children are
 * nodes or strings (added as text); null, undefined and false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') el.className = value;
      else if (name === 'dataset') Object.assign(el.dataset, value);
      else if (name === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return el;
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat()) if (child) el.append(child);
}

/** The element with this `data-testid` (they are the page's stable names, also for tests). */
export function byTestId(id) {
  const el = document.querySelector(`[data-testid="${id}"]`);
  if (el === null) throw new Error(`dashboard: no element with data-testid="${id}"`);
  return el;
}

const intFormat = new Intl.NumberFormat('en-US');

/** An integer with thousands separators; a dash for a missing value. */
export function fmtInt(n) {
  return typeof n === 'number' && Number.isFinite(n) ? intFormat.format(n) : '–';
}

/**
 * An amount (an integer string, possibly signed, up to 2^128) with thousands separators.
 * Amounts are strings so that no digit is lost: they never pass through a double.
 */
export function fmtAmount(text) {
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) return String(text ?? '–');
  const negative = text.startsWith('-');
  const digits = negative ? text.slice(1) : text;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '−' : '') + grouped;
}

/** A signed delta: "+1,000" or "−250". */
export function fmtDelta(text) {
  if (typeof text === 'string' && /^\d+$/.test(text) && text !== '0') return '+' + fmtAmount(text);
  return fmtAmount(text);
}

/** A ratio 0…1 as a percentage with one decimal ("97.5 %"). */
export function fmtPct(ratio) {
  return typeof ratio === 'number' && Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)} %` : '–';
}

/** Milliseconds, short: "12.3 ms", "1.24 s". */
export function fmtMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/** A measured number, at most 4 significant decimals ("0.9", "12.3456"), integers as they are. */
export function fmtNum(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return String(x);
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(Math.max(4, Math.ceil(Math.log10(Math.abs(x) + 1)) + 2))));
}

/** A byte count: "512 B", "3.4 KiB", "1.2 MiB". */
export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** `2026-11-22T10:00:00.123Z` → `2026-11-22 10:00:00.123` (the log's ts is always UTC). */
export function fmtTs(ts) {
  return typeof ts === 'string' ? ts.replace('T', ' ').replace(/Z$/, '') : '–';
}

/** "4 s ago", "3 min ago", "2 h ago", "5 d ago" from an RFC 3339 time. */
export function fmtAgo(ts, nowMs = Date.now()) {
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** First 12 hex characters and an ellipsis, for tables; the full hash goes in the title. */
export function shortHash(hex) {
  return typeof hex === 'string' && hex.length > 16 ? `${hex.slice(0, 12)}…` : String(hex ?? '');
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A one-line summary of an event's data for the recent-events table: the fields a human
 * looks for in the built-in types, compact JSON for any other type (an application's own).
 */
export function summarize(event) {
  const d = event.data ?? {};
  switch (event.type) {
    case 'ledger.account_opened':
      return `${d.account}${d.allowNegative ? ' (may go negative)' : ''}`;
    case 'ledger.account_closed':
      return String(d.account);
    case 'ledger.deposited':
      return `${d.account} +${fmtAmount(d.amount)}`;
    case 'ledger.withdrawn':
      return `${d.account} −${fmtAmount(d.amount)}`;
    case 'ledger.transferred':
      return `${d.from} → ${d.to}  ${fmtAmount(d.amount)}${d.memo ? `  “${clip(String(d.memo), 40)}”` : ''}`;
    case 'ledger.batch_transferred':
      return `${Array.isArray(d.transfers) ? d.transfers.length : '?'} transfers (batch ${d.id})`;
    case 'kv.put':
      return `${d.key} = ${clip(JSON.stringify(d.value) ?? '', 60)}`;
    case 'kv.delete':
      return `${d.key} deleted`;
    case 'vault.bundle_stored':
      return `${shortHash(d.sha256)} ${fmtBytes(d.size)} ${d.mediaType ?? ''}`;
    case 'audit.execution_recorded':
      return `${d.txId} ${d.status} in ${fmtMs(d.elapsedMs)} — ${clip(String(d.intent ?? ''), 50)}`;
    case 'audit.attack_blocked':
      return `${d.type} at ${d.layer}, severity ${fmtNum(d.severity)}`;
    case 'audit.telemetry_sampled':
      return `${d.metric} = ${fmtNum(d.value)}`;
    case 'audit.command_rejected':
      return `${d.cmd}: ${d.reason}`;
    case 'stele.checkpoint':
      return `size ${fmtInt(d.size)}, log root ${shortHash(d.logRoot)}`;
    default:
      return clip(JSON.stringify(d) ?? '', 100);
  }
}

/** The module of a type ("ledger" for "ledger.deposited"), used for row colours. */
export function moduleOf(type) {
  const dot = typeof type === 'string' ? type.indexOf('.') : -1;
  return dot > 0 ? type.slice(0, dot) : 'other';
}

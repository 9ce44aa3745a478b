/**
 * The stele dashboard's logic. One page, no framework, no build step: it reads the read API
 * of docs/http-api.md once at load, then stays live through one EventSource on /v1/stream.
 *
 * Invariants:
 * - The header shows one `status` object at a time (size, roots and head hash from the same
 *   moment), never a mix of a root from one status and a size from another.
 * - The recent-events table and the chart see every event once: the stream is opened with
 *   `lastEventId` = the newest seq the page loaded, and any event at or below the newest seq
 *   already seen is dropped (a reconnect may resend with the server's Last-Event-ID rules).
 * - Work per event is O(1); DOM writes are batched per animation frame and `/v1/stats` is
 *   fetched at most once every `statsIntervalMs`, so a busy log cannot freeze the page.
 * - Text from the log reaches the DOM only through `textContent` (dom.js).
 */
import { byTestId, fill, fmtAgo, fmtAmount, fmtBytes, fmtDelta, fmtInt, fmtMs, fmtPct, fmtTs, h, moduleOf, shortHash, summarize } from './dom.js';
import { EventsChart } from './chart.js';
import { verifyConsistency, verifyEventAnswer } from './verify.js';
import { wireProofFile } from './proof-file.js';

/** Rows of the recent-events table (the contract's page size for the first load). */
const recentMax = 50;
/** The stats view is recomputed by the server per request: at most one request per 2 s. */
const statsIntervalMs = 2000;
/** History rows per account page. */
const accountPageLimit = 20;
/** After the stream is closed for good (not a transient drop EventSource retries), retry after this. */
const streamRetryMs = 5000;

const page = {
  /** The last `status` object shown. */
  status: undefined,
  /** The newest seq the page has shown; -1 before the first event. */
  lastSeq: -1,
  /** Events received but not yet drawn into the table (flushed once per frame). */
  pending: [],
  flushFrame: 0,
  statsTimer: 0,
  statsLastMs: 0,
  /** The account shown in the lookup, its next cursor, and whether the user paged. */
  account: { id: undefined, next: null, paged: false, refreshTimer: 0 },
  source: undefined,
};

const chart = new EventsChart(byTestId('chart'), byTestId('chart-legend'));

// ---- The API ----

/** An error answer of the API (`{error: {code, message, …}}`) or a network failure. */
class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
  }
}

async function getJson(url) {
  let res;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' } });
  } catch (err) {
    throw new ApiError(0, { code: 'NETWORK', message: `cannot reach the stele process (${err.message})` });
  }
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, body?.error);
  return body;
}

// ---- Header: status and integrity ----

function renderStatus(status) {
  page.status = status;
  byTestId('log-size').textContent = fmtInt(status.size);
  byTestId('log-root').textContent = status.logRoot ?? '–';
  byTestId('state-root').textContent = status.stateRoot ?? '–';
  byTestId('head-hash').textContent = status.headHash ?? '–';
  byTestId('last-ts').textContent = status.lastTs ? `${fmtTs(status.lastTs)} · ${fmtAgo(status.lastTs)}` : 'no events yet';
  byTestId('role').textContent = status.role ?? '–';
  byTestId('role').className = `role ${status.role === 'observer' ? 'observer' : 'writer'}`;
  const observer = status.role === 'observer';
  for (const el of document.querySelectorAll('.observer-only')) el.hidden = !observer;
  if (observer && status.lag) byTestId('lag').textContent = describeLag(status.lag);
  byTestId('checkpoints').textContent = describeCheckpoints(status.checkpoints);
  renderIntegrity(status.integrity?.status ?? 'unknown', status.integrity?.fault);
}

/** An observer's lag: bytes of the file it has not read yet (and events, or a held partial line, when reported). */
function describeLag(lag) {
  const parts = [`${fmtBytes(lag.bytes)} unread`];
  if (Number.isSafeInteger(lag.events)) parts.unshift(`${fmtInt(lag.events)} events`);
  if (lag.pendingBytes > 0) parts.push(`${fmtBytes(lag.pendingBytes)} partial line`);
  return lag.bytes === 0 && !(lag.pendingBytes > 0) ? 'caught up' : parts.join(' · ');
}

/** `{last: {seq} | null, every}` of the status: where the last in-log root commitment is. */
function describeCheckpoints(c) {
  if (c === null || typeof c !== 'object') return '–';
  const parts = [c.last ? `last at seq ${fmtInt(c.last.seq)}` : 'none yet'];
  if (Number.isSafeInteger(c.every)) parts.push(`every ${fmtInt(c.every)} events`);
  return parts.join(' · ');
}

/** The badge: green only for `ok`; `panic` and `alarm` are red with the fault's message. */
function renderIntegrity(status, fault) {
  const badge = byTestId('integrity');
  const faultEl = byTestId('fault');
  if (status === 'ok') {
    badge.className = 'badge ok';
    badge.textContent = '✔ verified';
    badge.title = 'every event replayed and every checkpoint matched';
    faultEl.hidden = true;
    faultEl.textContent = '';
    return;
  }
  const bad = status === 'panic' || status === 'alarm';
  badge.className = `badge ${bad ? 'bad' : 'unknown'}`;
  badge.textContent = bad ? `✘ ${status.toUpperCase()}` : status;
  const message = typeof fault === 'string' ? fault : fault ? [fault.code, fault.message].filter(Boolean).join(': ') : '';
  badge.title = message;
  faultEl.hidden = !message;
  faultEl.textContent = message
    ? `${status === 'panic' ? 'Panic: writes are refused.' : 'Integrity alarm: the log under this process changed.'} ${message}`
    : '';
}

function setLive(state, text) {
  const el = byTestId('live');
  el.className = `live ${state}`;
  el.querySelector('.live-text').textContent = text;
}

// ---- Audit statistics ----

function bars(list, { total, kind } = {}) {
  if (!Array.isArray(list) || list.length === 0) return [h('p', { class: 'empty' }, 'none')];
  const max = Math.max(1, ...list.map((x) => x.count));
  return list.map(({ name, count }) => {
    const fillEl = h('span', { class: `fill ${kind ?? ''}` });
    fillEl.style.width = `${(100 * count) / max}%`;
    const share = total ? ` (${fmtPct(count / total)})` : '';
    return h('div', { class: 'bar', title: `${name}: ${count}${share}` }, h('span', { class: 'name' }, name), h('span', { class: 'track' }, fillEl), h('span', { class: 'n' }, fmtInt(count)));
  });
}

function renderStats(stats) {
  const ex = stats.executions ?? {};
  byTestId('executions').textContent = fmtInt(ex.total);
  const rate = byTestId('success-rate');
  rate.textContent = ex.total > 0 ? fmtPct(ex.successRate) : '–';
  rate.className = `big ${ex.total > 0 ? (ex.successRate >= 0.95 ? 'good' : ex.successRate >= 0.8 ? 'warn' : 'poor') : ''}`;
  byTestId('elapsed').textContent = ex.elapsedMs?.count ? `${fmtMs(ex.elapsedMs.p50)} / ${fmtMs(ex.elapsedMs.p99)}` : '–';
  const byStatus = ex.byStatus ?? {};
  fill(
    byTestId('status-breakdown'),
    bars(
      ['succeeded', 'failed', 'blocked', 'timeout'].map((name) => ({ name, count: byStatus[name] ?? 0 })),
      { total: ex.total, kind: 'status' },
    ),
  );
  for (const [i, el] of [...byTestId('status-breakdown').querySelectorAll('.fill')].entries()) el.classList.add(['succeeded', 'failed', 'blocked', 'timeout'][i]);

  const at = stats.attacks ?? {};
  byTestId('attacks-total').textContent = fmtInt(at.total);
  fill(byTestId('attacks-by-type'), bars(at.byType, { total: at.total, kind: 'attack' }));
  fill(byTestId('attacks-by-layer'), bars(at.byLayer, { total: at.total, kind: 'layer' }));

  const rej = stats.rejections ?? {};
  byTestId('rejections-total').textContent = fmtInt(rej.total);
  fill(byTestId('rejections-by-reason'), bars(rej.byReason, { total: rej.total, kind: 'reject' }));

  // "plus ledger totals": under whichever key the service puts them.
  const ledger = stats.ledger?.totals ?? stats.ledger ?? stats.ledgerTotals;
  const rows = [];
  if (ledger && typeof ledger === 'object') {
    const items = [
      ['accounts', ledger.openAccounts !== undefined ? `${fmtInt(ledger.openAccounts)} open of ${fmtInt(ledger.accounts)}` : fmtInt(ledger.accounts)],
      ['balance sum', fmtAmount(ledger.balanceSum)],
      ['transfers', ledger.transfers !== undefined ? `${fmtInt(ledger.transfers)} · ${fmtAmount(ledger.transferred)} moved` : undefined],
      ['deposits', ledger.deposits !== undefined ? `${fmtInt(ledger.deposits)} · ${fmtAmount(ledger.deposited)}` : undefined],
      ['withdrawals', ledger.withdrawals !== undefined ? `${fmtInt(ledger.withdrawals)} · ${fmtAmount(ledger.withdrawn)}` : undefined],
    ];
    for (const [k, v] of items) if (v !== undefined && v !== '–') rows.push(h('div', null, h('dt', null, k), h('dd', null, v)));
  }
  fill(byTestId('ledger-totals'), rows.length > 0 ? rows : [h('div', null, h('dd', { class: 'empty' }, 'no ledger activity'))]);
}

async function refreshStats() {
  page.statsLastMs = Date.now();
  try {
    renderStats(await getJson('/v1/stats'));
  } catch (err) {
    setLive('down', `stats: ${err.message}`);
  }
}

/** Leading-edge throttle: fetch now if the last fetch is 2 s old, else once when it will be. */
function requestStats() {
  if (page.statsTimer !== 0) return;
  const waitMs = Math.max(0, page.statsLastMs + statsIntervalMs - Date.now());
  page.statsTimer = setTimeout(() => {
    page.statsTimer = 0;
    void refreshStats();
  }, waitMs);
}

// ---- Recent events ----

function eventRow(event, fresh) {
  const row = h(
    'tr',
    {
      class: `m-${moduleOf(event.type)}${fresh ? ' fresh' : ''}`,
      tabindex: '0',
      dataset: { seq: String(event.seq) },
      title: `event ${event.seq}: click to verify its inclusion proof`,
    },
    h('td', { class: 'num' }, String(event.seq)),
    h('td', { class: 'ts' }, fmtTs(event.ts)),
    h('td', { class: 'type' }, event.type),
    h('td', { class: 'data' }, summarize(event)),
  );
  return row;
}

function openEventFromRow(e) {
  const row = e.target.closest('tr[data-seq]');
  if (row === null) return;
  if (e.type === 'keydown' && e.key !== 'Enter' && e.key !== ' ') return;
  e.preventDefault();
  const seq = Number(row.dataset.seq);
  byTestId('event-input').value = String(seq);
  void lookupEvent(seq);
  byTestId('event-result').closest('section').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

function onStreamEvent(event) {
  if (!Number.isSafeInteger(event.seq) || event.seq <= page.lastSeq) return;
  page.lastSeq = event.seq;
  chart.add(event);
  page.pending.push(event);
  if (page.pending.length > recentMax) page.pending.splice(0, page.pending.length - recentMax);
  if (page.flushFrame === 0) page.flushFrame = requestAnimationFrame(flushEvents);
  requestStats();
  if (page.account.id !== undefined && touchesAccount(event, page.account.id)) scheduleAccountRefresh();
}

/** Draws the events received since the last frame: newest first, the table capped at 50 rows. */
function flushEvents() {
  page.flushFrame = 0;
  const body = byTestId('recent-events');
  const rows = page.pending.map((event) => eventRow(event, true)).reverse();
  page.pending = [];
  body.querySelector('.placeholder')?.remove();
  body.prepend(...rows);
  while (body.rows.length > recentMax) body.lastElementChild.remove();
}

// ---- Account lookup ----

function touchesAccount(event, id) {
  const d = event.data ?? {};
  if (!event.type?.startsWith('ledger.')) return false;
  if (d.account === id || d.from === id || d.to === id) return true;
  return Array.isArray(d.transfers) && d.transfers.some((t) => t?.from === id || t?.to === id);
}

function scheduleAccountRefresh() {
  if (page.account.refreshTimer !== 0) return;
  page.account.refreshTimer = setTimeout(() => {
    page.account.refreshTimer = 0;
    if (page.account.id !== undefined) void lookupAccount(page.account.id, { refresh: true });
  }, 300);
}

function historyRow(entry) {
  const delta = typeof entry.delta === 'string' ? entry.delta : String(entry.delta ?? '');
  return h(
    'tr',
    { dataset: { seq: String(entry.seq) }, tabindex: '0', title: `event ${entry.seq}: click to verify it` },
    h('td', { class: 'num' }, String(entry.seq)),
    h('td', { class: 'ts' }, fmtTs(entry.ts)),
    h('td', { class: 'type' }, entry.type),
    h('td', { class: `num ${delta.startsWith('-') ? 'neg' : delta === '0' || delta === '' ? '' : 'pos'}` }, fmtDelta(delta)),
    h('td', { class: 'num' }, fmtAmount(entry.balance)),
  );
}

/**
 * Looks an account up. `more`: append the next page (the `before` cursor). `refresh`: the
 * stream touched the shown account; reload the first page unless the user paged, in which
 * case only the balance line is refreshed so the pages they loaded stay.
 */
async function lookupAccount(id, { more = false, refresh = false } = {}) {
  const out = byTestId('account-result');
  const acc = page.account;
  if (!more && !refresh) {
    rememberInFragment('account', id);
    acc.id = id;
    acc.paged = false;
    fill(out, h('p', { class: 'muted' }, 'looking up…'));
  }
  const onlyBalance = refresh && acc.paged;
  const params = new URLSearchParams({ limit: String(onlyBalance ? 1 : accountPageLimit) });
  if (more && acc.next !== null) params.set('before', String(acc.next));
  let answer;
  try {
    answer = await getJson(`/v1/accounts/${encodeURIComponent(id)}?${params}`);
  } catch (err) {
    if (acc.id !== id) return;
    if (err.status === 404) {
      fill(out, h('p', { class: 'notice', 'data-testid': 'account-error' }, 'No account named ', h('code', null, id), ' — account ids are exact, case-sensitive names.'));
    } else {
      fill(out, h('p', { class: 'notice bad', 'data-testid': 'account-error' }, `Lookup failed: ${err.message}`));
    }
    acc.id = err.status === 404 ? undefined : acc.id;
    return;
  }
  if (acc.id !== id) return; // a newer lookup replaced this one

  const summary = h(
    'dl',
    { class: 'facts account-summary' },
    h('div', null, h('dt', null, 'account'), h('dd', { class: 'mono' }, answer.id)),
    h('div', null, h('dt', null, 'balance'), h('dd', { class: 'big', 'data-testid': 'account-balance' }, fmtAmount(answer.balance))),
    h(
      'div',
      null,
      h('dt', null, 'status'),
      h('dd', { 'data-testid': 'account-status', class: answer.open ? 'good' : 'poor' }, answer.open ? 'open' : 'closed', answer.allowNegative ? ' · may go negative' : ''),
    ),
  );
  if (onlyBalance) {
    out.querySelector('.account-summary')?.replaceWith(summary);
    return;
  }
  const history = Array.isArray(answer.history) ? answer.history : [];
  if (more) {
    out.querySelector('tbody')?.append(...history.map(historyRow));
    acc.paged = true;
  } else {
    const table = h(
      'div',
      { class: 'scroll short' },
      h(
        'table',
        null,
        h('thead', null, h('tr', null, h('th', { class: 'num' }, 'seq'), h('th', null, 'time (UTC)'), h('th', null, 'type'), h('th', { class: 'num' }, 'delta'), h('th', { class: 'num' }, 'balance after'))),
        h('tbody', { 'data-testid': 'account-history', on: { click: openEventFromRow, keydown: openEventFromRow } }, history.map(historyRow)),
      ),
    );
    fill(out, summary, history.length > 0 ? table : h('p', { class: 'empty' }, 'no history'));
  }
  acc.next = answer.next ?? null;
  out.querySelector('.more')?.remove();
  if (acc.next !== null) {
    out.append(h('button', { type: 'button', class: 'more', 'data-testid': 'account-more', on: { click: () => void lookupAccount(id, { more: true }) } }, 'more history'));
  }
}

// ---- Event lookup and in-browser proof verification ----

let eventLookupId = 0;

async function lookupEvent(seq) {
  const out = byTestId('event-result');
  const lookupId = ++eventLookupId;
  rememberInFragment('event', String(seq));
  fill(out, h('p', { class: 'muted' }, `fetching event ${seq} and its proof…`));
  let answer;
  try {
    answer = await getJson(`/v1/events/${seq}`);
  } catch (err) {
    if (lookupId !== eventLookupId) return;
    const size = page.status?.size;
    fill(
      out,
      h(
        'p',
        { class: 'notice', 'data-testid': 'event-error' },
        err.status === 404 || err.code === 'STELE_E_SIZE_OUT_OF_RANGE' ? `No event at seq ${seq}${size !== undefined ? `: the log holds seq 0…${size - 1}` : ''}.` : `Lookup failed: ${err.message}`,
      ),
    );
    return;
  }
  if (lookupId !== eventLookupId) return;

  const result = verifyEventAnswer(seq, answer);
  const failed = result.checks.find((c) => !c.ok);
  const headline = h(
    'p',
    { class: `proof ${result.ok ? 'ok' : 'bad'}`, 'data-testid': 'proof-result' },
    result.ok ? '✔ inclusion proof verified in your browser' : `✘ verification FAILED: ${failed.label} — ${failed.detail}`,
  );
  const checks = h(
    'ul',
    { class: 'checks', 'data-testid': 'proof-checks' },
    result.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' }, h('span', { class: 'mark' }, c.ok ? '✔' : '✘'), ` ${c.label}`, h('div', { class: 'detail mono' }, c.detail))),
  );
  const rootLine = h('p', { class: 'root-compare', 'data-testid': 'proof-root' }, '');
  const event = answer.event ?? {};
  const proof = answer.proof ?? {};
  const details = h(
    'dl',
    { class: 'hashes' },
    h('div', null, h('dt', null, 'type'), h('dd', null, `${event.type}@${event.v}`)),
    h('div', null, h('dt', null, 'time'), h('dd', null, `${fmtTs(event.ts)} UTC`)),
    h('div', null, h('dt', null, 'event hash'), h('dd', { class: 'hash' }, answer.hash)),
    h('div', null, h('dt', null, 'prev'), h('dd', { class: 'hash' }, event.prev)),
    h('div', null, h('dt', null, `log root (size ${fmtInt(proof.size)})`), h('dd', { class: 'hash' }, proof.logRoot)),
  );
  const data = h('pre', { class: 'json', 'data-testid': 'event-data' }, JSON.stringify({ data: event.data, ...(event.meta ? { meta: event.meta } : {}) }, null, 2));
  const path = h(
    'details',
    null,
    h('summary', null, `inclusion path: ${Array.isArray(proof.path) ? proof.path.length : 0} hashes`),
    h('ol', { class: 'path mono', start: '1' }, (Array.isArray(proof.path) ? proof.path : []).map((p) => h('li', null, String(p)))),
    h('p', { class: 'muted' }, 'canonical line (its SHA-256 is the event hash):'),
    h('pre', { class: 'json' }, answer.line),
  );
  fill(out, headline, rootLine, checks, details, data, path);
  if (result.ok) await compareWithCurrentRoot(rootLine, proof, lookupId);
  else rootLine.remove();
}

/**
 * Says how the proof's log root relates to the root in the header: the same (the proof is
 * for the current log), or an older size, in which case the page asks for a consistency
 * proof and checks that the current log extends the one the event was proven in.
 */
async function compareWithCurrentRoot(el, proof, lookupId) {
  const current = page.status;
  if (current === undefined) return;
  if (proof.size === current.size) {
    const same = proof.logRoot === current.logRoot;
    el.className = `root-compare ${same ? 'ok' : 'bad'}`;
    el.textContent = same
      ? `✔ the proof's log root is the current log root (size ${fmtInt(current.size)})`
      : `✘ the proof's log root differs from the current log root at the same size ${fmtInt(current.size)}: ${shortHash(proof.logRoot)} ≠ ${shortHash(current.logRoot)}`;
    return;
  }
  if (proof.size > current.size) {
    el.className = 'root-compare muted';
    el.textContent = `the proof is for size ${fmtInt(proof.size)}, newer than the header's ${fmtInt(current.size)}; the header catches up with the stream`;
    return;
  }
  el.className = 'root-compare muted';
  el.textContent = `the proof is for size ${fmtInt(proof.size)}; the log has grown to ${fmtInt(current.size)} — checking consistency…`;
  try {
    const answer = await getJson(`/v1/consistency?from=${proof.size}&to=${current.size}`);
    if (lookupId !== eventLookupId) return;
    const ok = verifyConsistency(proof.size, proof.logRoot, answer) && answer.size2 === current.size && answer.root2 === current.logRoot;
    el.className = `root-compare ${ok ? 'ok' : 'bad'}`;
    el.textContent = ok
      ? `✔ proof for size ${fmtInt(proof.size)}; consistency with the current log root (size ${fmtInt(current.size)}) verified in your browser`
      : `✘ the consistency proof from size ${fmtInt(proof.size)} to the current size ${fmtInt(current.size)} does not verify`;
  } catch (err) {
    if (lookupId !== eventLookupId) return;
    el.className = 'root-compare muted';
    el.textContent = `the proof is for size ${fmtInt(proof.size)}; the log has grown to ${fmtInt(current.size)} (consistency not checked: ${err.message})`;
  }
}

// ---- The stream ----

function openStream() {
  const url = page.lastSeq >= 0 ? `/v1/stream?lastEventId=${page.lastSeq}` : '/v1/stream';
  const source = new EventSource(url);
  page.source = source;
  source.addEventListener('open', () => setLive('up', 'live'));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      // EventSource gives up on an HTTP error answer; the page retries from the last seq it has.
      setLive('down', 'stream closed — retrying');
      source.close();
      setTimeout(() => {
        if (page.source === source) openStream();
      }, streamRetryMs);
    } else {
      setLive('down', 'reconnecting…');
    }
  });
  source.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)));
  source.addEventListener('event', (e) => onStreamEvent(JSON.parse(e.data)));
  source.addEventListener('alarm', (e) => {
    const alarm = JSON.parse(e.data);
    renderIntegrity('alarm', alarm);
  });
}

// ---- Start ----

function wireForms() {
  byTestId('account-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = byTestId('account-input').value.trim();
    if (id !== '') void lookupAccount(id);
  });
  byTestId('event-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = byTestId('event-input').value.trim();
    if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) void lookupEvent(Number(text));
    else fill(byTestId('event-result'), h('p', { class: 'notice', 'data-testid': 'event-error' }, 'A seq is a whole number ≥ 0 (the event’s position in the log).'));
  });
  const recent = byTestId('recent-events');
  recent.addEventListener('click', openEventFromRow);
  recent.addEventListener('keydown', openEventFromRow);
  wireProofFile();
}

/** Loads everything once, then opens the stream; retried (without reloading the page) until the process answers. */
async function load() {
  fill(byTestId('recent-events'), h('tr', { class: 'placeholder' }, h('td', { colspan: '4', class: 'empty' }, 'loading…')));
  let status, stats, series, recent;
  try {
    [status, stats, series, recent] = await Promise.all([
      getJson('/v1/status'),
      getJson('/v1/stats'),
      getJson('/v1/series?minutes=60'),
      getJson(`/v1/events?order=desc&limit=${recentMax}`),
    ]);
  } catch (err) {
    setLive('down', `cannot load: ${err.message}`);
    setTimeout(() => void load(), streamRetryMs);
    return;
  }
  renderStatus(status);
  renderStats(stats);
  page.statsLastMs = Date.now();
  chart.load(series);
  const events = Array.isArray(recent?.events) ? recent.events : [];
  fill(
    byTestId('recent-events'),
    events.length > 0 ? events.map((event) => eventRow(event, false)) : [h('tr', { class: 'placeholder' }, h('td', { colspan: '4', class: 'empty' }, 'no events yet'))],
  );
  page.lastSeq = events.reduce((max, e) => Math.max(max, e.seq), -1);
  openStream();
  openFromFragment();

  // The chart's window slides with the clock and "… ago" ages even when nothing happens.
  setInterval(() => {
    chart.schedule();
    if (page.status?.lastTs) byTestId('last-ts').textContent = `${fmtTs(page.status.lastTs)} · ${fmtAgo(page.status.lastTs)}`;
  }, 5000);
}

/**
 * Deep links: `#event=<seq>` and `#account=<id>` open that lookup, so an auditor can send a
 * link to exactly what they checked. The fragment never reaches the server.
 */
function openFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const seq = params.get('event');
  const account = params.get('account');
  if (seq !== null && /^\d+$/.test(seq)) {
    byTestId('event-input').value = seq;
    void lookupEvent(Number(seq));
  }
  if (account !== null && account !== '') {
    byTestId('account-input').value = account;
    void lookupAccount(account);
  }
}

/** Records the open lookups in the fragment (no navigation, no reload). */
function rememberInFragment(key, value) {
  const params = new URLSearchParams(location.hash.slice(1));
  params.set(key, value);
  history.replaceState(null, '', `#${params}`);
}

wireForms();
void load();

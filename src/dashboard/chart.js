/**
 * The events-per-minute chart: a stacked bar per minute for the last `minutes` minutes,
 * one colour per event type, drawn on a <canvas> by this file (no chart library).
 *
 * Data: `load(series)` takes `GET /v1/series` (`{minutes: [{minute, counts: {type: n}}]}`);
 * `add(event)` counts one event from the stream under the minute of its `ts` (the writer's
 * clock, so the page's own clock only decides where the window ends). Minutes older than
 * the window are dropped, so memory stays bounded however long the page stays open.
 *
 * Drawing is batched to one frame per animation frame: a burst of thousands of events per
 * second costs one draw, not thousands.
 */

const minuteMs = 60_000;

/** Colours of the built-in types: one hue family per module, so a glance reads the mix. */
const typeColors = {
  'ledger.account_opened': '#9cc7f0',
  'ledger.account_closed': '#6b8fb3',
  'ledger.deposited': '#2f7ed8',
  'ledger.withdrawn': '#1b4f8a',
  'ledger.transferred': '#5fa8e8',
  'ledger.batch_transferred': '#3d5fa0',
  'audit.execution_recorded': '#2a9d5c',
  'audit.attack_blocked': '#d64545',
  'audit.telemetry_sampled': '#8fcf9f',
  'audit.command_rejected': '#e8a33d',
  'kv.put': '#8e6cc9',
  'kv.delete': '#c3a8ea',
  'vault.bundle_stored': '#c9742b',
  'stele.checkpoint': '#b5bac0',
  'stele.recovered': '#5f6368',
};
/** Colours of other types (an application's own), picked by a hash of the name so they never change. */
const fallbackColors = ['#17becf', '#bcbd22', '#e377c2', '#7f7f7f', '#8c564b', '#ff7f0e', '#1f77b4', '#9467bd'];

export function colorOf(type) {
  const known = typeColors[type];
  if (known !== undefined) return known;
  let h = 0;
  for (let i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) >>> 0;
  return fallbackColors[h % fallbackColors.length];
}

function minuteOf(ts) {
  const t = Date.parse(ts);
  return Number.isFinite(t) ? Math.floor(t / minuteMs) * minuteMs : undefined;
}

/** The smallest "nice" step (1, 2 or 5 × 10^k, at least 1) at or above n, for the y axis. */
function niceStep(n) {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function hhmm(ms) {
  const d = new Date(ms);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

export class EventsChart {
  /** @param {HTMLCanvasElement} canvas @param {HTMLElement} legend */
  constructor(canvas, legend, minutes = 60) {
    this.canvas = canvas;
    this.legend = legend;
    this.minutes = minutes;
    /** minute (ms since the epoch) → Map(type → count) */
    this.counts = new Map();
    this.latestMinute = 0;
    this.frame = 0;
    this.legendKey = '';
    new ResizeObserver(() => this.schedule()).observe(canvas);
  }

  /** Replaces the counts with a `GET /v1/series` answer. */
  load(series) {
    this.counts.clear();
    for (const { minute, counts } of series?.minutes ?? []) {
      const m = minuteOf(minute);
      if (m === undefined) continue;
      this.counts.set(m, new Map(Object.entries(counts ?? {})));
      this.latestMinute = Math.max(this.latestMinute, m);
    }
    this.schedule();
  }

  /** Counts one event of the stream. */
  add(event) {
    const m = minuteOf(event.ts);
    if (m === undefined) return;
    let row = this.counts.get(m);
    if (row === undefined) this.counts.set(m, (row = new Map()));
    row.set(event.type, (row.get(event.type) ?? 0) + 1);
    this.latestMinute = Math.max(this.latestMinute, m);
    this.schedule();
  }

  /** Redraws at the next frame (several calls in one frame draw once). */
  schedule() {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** The window's last minute: the newest event's or now, whichever is later. */
  endMinute() {
    return Math.max(Math.floor(Date.now() / minuteMs) * minuteMs, this.latestMinute);
  }

  draw() {
    const end = this.endMinute();
    const start = end - (this.minutes - 1) * minuteMs;
    for (const m of this.counts.keys()) if (m < start) this.counts.delete(m);

    const totals = new Map();
    let peak = 0;
    let total = 0;
    for (const row of this.counts.values()) {
      let sum = 0;
      for (const [type, n] of row) {
        sum += n;
        totals.set(type, (totals.get(type) ?? 0) + n);
      }
      total += sum;
      peak = Math.max(peak, sum);
    }
    const types = [...totals.keys()].sort();
    this.canvas.dataset.total = String(total);
    this.#drawLegend(types, totals);

    const dpr = window.devicePixelRatio || 1;
    const cssWidth = this.canvas.clientWidth || 600;
    const cssHeight = this.canvas.clientHeight || 180;
    if (this.canvas.width !== Math.round(cssWidth * dpr)) this.canvas.width = Math.round(cssWidth * dpr);
    if (this.canvas.height !== Math.round(cssHeight * dpr)) this.canvas.height = Math.round(cssHeight * dpr);
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);

    const style = getComputedStyle(this.canvas);
    const ink = style.color || '#333';
    const left = 44;
    const right = 8;
    const top = 8;
    const bottom = 20;
    const plotW = cssWidth - left - right;
    const plotH = cssHeight - top - bottom;
    // About four grid lines: a nice step, and the axis ends at the first step above the peak.
    const step = niceStep(peak / 4);
    const ticks = Math.max(1, Math.ceil(peak / step));
    const yMax = step * ticks;

    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = ink;
    ctx.strokeStyle = ink;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let i = 0; i <= ticks; i++) {
      const value = step * i;
      const y = top + plotH - (plotH * i) / ticks;
      ctx.globalAlpha = i === 0 ? 0.5 : 0.12;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + plotW, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.globalAlpha = 0.7;
      ctx.fillText(String(value), left - 6, y);
    }
    ctx.globalAlpha = 1;

    const slot = plotW / this.minutes;
    const barW = Math.max(1, slot - Math.min(3, slot * 0.2));
    for (let i = 0; i < this.minutes; i++) {
      const m = start + i * minuteMs;
      const row = this.counts.get(m);
      const x = left + i * slot;
      if (row !== undefined) {
        let y = top + plotH;
        for (const type of types) {
          const n = row.get(type);
          if (!n) continue;
          const barH = (plotH * n) / yMax;
          ctx.fillStyle = colorOf(type);
          ctx.fillRect(x, y - barH, barW, barH);
          y -= barH;
        }
      }
      const last = i === this.minutes - 1;
      // A label every 10 minutes, and the last minute's; none so close to it that they overlap.
      if (last || (i % 10 === 0 && (this.minutes - 1 - i) * slot > 72)) {
        ctx.fillStyle = ink;
        ctx.globalAlpha = 0.7;
        ctx.textAlign = last ? 'right' : 'left';
        ctx.textBaseline = 'alphabetic';
        ctx.fillText(last ? `${hhmm(m)} UTC` : hhmm(m), last ? x + slot : x, cssHeight - 5);
        ctx.globalAlpha = 1;
      }
    }
    if (total === 0) {
      ctx.fillStyle = ink;
      ctx.globalAlpha = 0.6;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no events in the last hour', left + plotW / 2, top + plotH / 2);
      ctx.globalAlpha = 1;
    }
  }

  #drawLegend(types, totals) {
    const key = types.map((t) => `${t}:${totals.get(t)}`).join(',');
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(
      ...types.map((type) => {
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.backgroundColor = colorOf(type);
        const li = document.createElement('li');
        li.append(swatch, `${type} `);
        const n = document.createElement('b');
        n.textContent = new Intl.NumberFormat('en-US').format(totals.get(type));
        li.append(n);
        return li;
      }),
    );
  }
}

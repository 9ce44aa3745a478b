/**
 * Events per minute by type over the most recent minutes of the log: the time series the
 * dashboard charts (`GET /v1/series`).
 *
 * Invariants:
 * - Events arrive in log order, so their minutes never decrease (ts is non-decreasing;
 *   asserted). A minute is the UTC minute of the event's `ts`, `[m, m + 60 s)`.
 * - Only minutes within the last `limits.seriesMinutesMax` minutes before the latest
 *   event's minute are kept: when an event opens a new minute, every stored minute that
 *   falls out of that window is dropped. Minutes without events are never stored; a query
 *   returns them as empty counts. A query that reaches a minute whose counts were dropped is
 *   refused (STELE_E_USAGE) rather than answered with zeros that would be false.
 * - Distinct type names are capped at `limits.auditDistinctNamesMax`, in order of first
 *   appearance, exactly as the audit statistics cap names (`cappedName`): events of further
 *   types count under `other`. Event types contain a dot (`module.name`), so no real type
 *   collides with `other`.
 *
 * Memory: per stored minute one Map entry (~50 bytes) and one array of counts indexed by
 * type number, as long as the highest type number seen in that minute (≤ 8 bytes each).
 * With 30 types and every minute busy: 10,080 minutes × ~300 bytes ≈ 3 MB; the worst case
 * (1,001 type slots every minute) ≈ 10,080 × 8 KB ≈ 81 MB, bounded by the two limits.
 *
 * Pure: no I/O, no clock (the caller passes "now" as `endMinuteMs` when it wants it).
 */
import assert from 'node:assert/strict';
import { steleError } from '../errors.js';
import { limits } from '../limits.js';
import { cappedName } from '../modules/audit/stats.js';
import type { IndexedEvent } from './log-index.js';
import { tsToMs } from './log-index.js';

const minuteMs = 60_000;
const dayMs = 24 * 60 * minuteMs;
/** The minutes a writer's ts can name (tsPattern: years 0000 … 9999); outside them an ISO string is not `YYYY-…`. */
const tsFirstMinuteMs = Date.parse('0000-01-01T00:00:00.000Z');
const tsLastMinuteMs = Date.parse('9999-12-31T23:59:00.000Z');
/** Length of `YYYY-MM-DDTHH:MM`: the part of a writer's `ts` that names its minute. */
const minutePrefixLength = 16;

/** One minute of the series: its start as RFC 3339 and the non-zero counts by type. */
export interface SeriesMinute {
  minute: string;
  counts: Record<string, number>;
}

export class EventSeries {
  /** Type name (or `other`) → its number, the index into every minute's counts. */
  readonly #typeNumbers = new Map<string, number>();
  readonly #typeNames: string[] = [];
  /** Minute start (ms) → counts by type number. Insertion order is ascending minute order. */
  readonly #minutes = new Map<number, number[]>();
  /** The latest event's minute, or undefined before the first event. */
  #lastMinuteMs: number | undefined;
  /** The `YYYY-MM-DDTHH:MM` of the latest event, and that minute's counts. */
  #lastPrefix = '';
  #current: number[] = [];
  /** The newest minute whose counts were dropped, or −Infinity when none was. */
  #droppedThroughMs = -Infinity;

  /** Minutes held in memory (≤ limits.seriesMinutesMax). */
  get storedMinutes(): number {
    return this.#minutes.size;
  }

  /** Start (ms) of the latest event's minute, or undefined when no event was added. */
  get lastMinuteMs(): number | undefined {
    return this.#lastMinuteMs;
  }

  /** Counts the next event of the log. */
  add(e: IndexedEvent): void {
    // Fast case: the same minute as the previous event (nearly every event at any real
    // rate): one string comparison instead of a date parse.
    if (this.#lastPrefix === '' || !e.ts.startsWith(this.#lastPrefix)) this.#openMinute(e.ts);
    const n = this.#typeNumber(e.type);
    const counts = this.#current;
    while (counts.length <= n) counts.push(0);
    counts[n] = (counts[n] as number) + 1;
  }

  #openMinute(ts: string): void {
    const minute = Math.floor(tsToMs(ts) / minuteMs) * minuteMs;
    this.#lastPrefix = ts.slice(0, minutePrefixLength);
    if (this.#lastMinuteMs !== undefined) {
      if (minute < this.#lastMinuteMs) assert.fail(`ts ${ts} is not before the previous event's minute (events come in log order)`);
      if (minute === this.#lastMinuteMs) return;
    }
    this.#lastMinuteMs = minute;
    this.#current = [];
    this.#minutes.set(minute, this.#current);
    // Drop the minutes that fell out of the window, oldest first (Map order is ascending).
    const oldestKeptMs = minute - (limits.seriesMinutesMax - 1) * minuteMs;
    for (const m of this.#minutes.keys()) {
      if (m >= oldestKeptMs) break;
      this.#minutes.delete(m);
      this.#droppedThroughMs = m;
    }
  }

  #typeNumber(type: string): number {
    const known = this.#typeNumbers.get(type);
    if (known !== undefined) return known;
    const name = cappedName(this.#typeNumbers, type);
    let n = this.#typeNumbers.get(name);
    if (n === undefined) {
      n = this.#typeNames.length;
      this.#typeNumbers.set(name, n);
      this.#typeNames.push(name);
    }
    return n;
  }

  /**
   * The `count` minutes ending with the minute of `endMinuteMs` (any ms inside it; default:
   * the latest event's minute), oldest first, each with its non-zero counts by type.
   * Without events and without `endMinuteMs` there is no last minute: the answer is [].
   * Throws STELE_E_USAGE for a count outside 1 … limits.seriesMinutesMax, a non-integer
   * `endMinuteMs` (or one outside the years 0000 … 9999), or a range reaching minutes whose
   * counts were dropped.
   */
  minutes(count: number, endMinuteMs?: number): SeriesMinute[] {
    if (!Number.isSafeInteger(count) || count < 1 || count > limits.seriesMinutesMax) {
      throw steleError('STELE_E_USAGE', `the series has 1 … ${limits.seriesMinutesMax} minutes, not ${count}`, {
        expected: `an integer 1 … ${limits.seriesMinutesMax}`,
        found: String(count),
        fix: `ask for at most ${limits.seriesMinutesMax} minutes (limits.seriesMinutesMax)`,
      });
    }
    if (endMinuteMs !== undefined && (!Number.isSafeInteger(endMinuteMs) || endMinuteMs < tsFirstMinuteMs || endMinuteMs > tsLastMinuteMs + minuteMs - 1)) {
      throw steleError('STELE_E_USAGE', 'the end of the series is not an integer number of milliseconds in the years 0000 … 9999', {
        expected: 'milliseconds since the epoch, years 0000 … 9999',
        found: String(endMinuteMs),
        fix: 'pass the end as an integer ms timestamp, or leave it out to end at the latest event',
      });
    }
    const end = endMinuteMs === undefined ? this.#lastMinuteMs : Math.floor(endMinuteMs / minuteMs) * minuteMs;
    if (end === undefined) return [];
    const start = end - (count - 1) * minuteMs;
    if (start < tsFirstMinuteMs) {
      throw steleError('STELE_E_USAGE', `${count} minutes ending ${new Date(end).toISOString()} start before the year 0000`, {
        expected: 'a range within the years 0000 … 9999',
        found: `${count} minutes`,
        fix: 'ask for fewer minutes or a later end',
      });
    }
    if (start <= this.#droppedThroughMs) {
      throw steleError('STELE_E_USAGE', `the series keeps the last ${limits.seriesMinutesMax} minutes of the log; minutes up to ${new Date(this.#droppedThroughMs).toISOString()} were dropped`, {
        expected: `a range starting after ${new Date(this.#droppedThroughMs).toISOString()}`,
        found: `${count} minutes from ${new Date(start).toISOString()}`,
        fix: 'ask for fewer minutes or a later end; older counts can be recomputed from the log (GET /v1/events with fromTs/toTs)',
      });
    }
    const out: SeriesMinute[] = [];
    const names = new MinuteNames();
    for (let m = start; m <= end; m += minuteMs) {
      const counts = this.#minutes.get(m);
      if (counts === undefined) {
        // Fast case of a long range: most minutes are empty.
        out.push({ minute: names.format(m), counts: {} });
        continue;
      }
      const entries: [string, number][] = [];
      for (let n = 0; n < counts.length; n++) {
        const c = counts[n] as number;
        if (c > 0) entries.push([this.#typeNames[n] as string, c]);
      }
      // fromEntries defines own properties, so no name can reach a prototype.
      out.push({ minute: names.format(m), counts: Object.fromEntries(entries) });
    }
    return out;
  }
}

/**
 * Formats minute starts as `Date#toISOString` does (`2026-11-22T10:00:00.000Z`), with one
 * date conversion per day instead of one per minute: a 7-day query formats 10,080 minutes.
 */
class MinuteNames {
  #day = Number.NaN;
  #prefix = '';

  format(m: number): string {
    const day = Math.floor(m / dayMs) * dayMs;
    if (day !== this.#day) {
      this.#day = day;
      this.#prefix = new Date(day).toISOString().slice(0, 11);
    }
    const inDay = (m - day) / minuteMs;
    const hh = Math.floor(inDay / 60);
    const mm = inDay % 60;
    return `${this.#prefix}${hh < 10 ? '0' : ''}${hh}:${mm < 10 ? '0' : ''}${mm}:00.000Z`;
  }
}

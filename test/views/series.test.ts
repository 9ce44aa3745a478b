/**
 * EventSeries against a naive recount of every event by minute and type, on generated logs
 * whose gaps range from none to more than the whole window (limits.seriesMinutesMax), so
 * old minutes are dropped: every query equals the recount for the minutes still kept, a
 * query reaching a dropped minute is refused, and no more than the window is ever stored.
 * Then the cap on distinct types (`other`, as the audit statistics count), the usage
 * errors, and an empty series.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.js';
import type { IndexedEvent } from '../../src/views/log-index.js';
import { EventSeries } from '../../src/views/series.js';
import { errorCodeOf } from '../helpers.js';

const minute = 60_000;
const window = limits.seriesMinutesMax;
const base = Date.parse('2026-11-22T10:00:00.000Z');
const types = ['kv.put', 'ledger.deposited', 'audit.telemetry_sampled', 'app.thing'];

function event(seq: number, ms: number, type: string): IndexedEvent {
  return { seq, offset: seq * 10, bytes: 9, ts: new Date(ms).toISOString(), type, v: 1, data: {} };
}


const stepMs = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: minute - 1 }) },
  { weight: 3, arbitrary: fc.integer({ min: minute, max: 20 * minute }) },
  // Past a good part of the window, or all of it.
  { weight: 3, arbitrary: fc.integer({ min: (window / 3) * minute, max: (window + 50) * minute }) },
);
const countArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 1, arbitrary: fc.constant(window) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: window }) },
);
/** An end: the default (undefined), or an offset in minutes from the last event's minute, plus ms inside that minute. */
const endArb = fc.option(fc.tuple(fc.integer({ min: -(window + 100), max: 100 }), fc.integer({ min: 0, max: minute - 1 })), { nil: undefined });

/** Minute strings formatted independently of the series (Date#toISOString), memoised: tests ask for the same ones often. */
const isoCache = new Map<number, string>();
function iso(m: number): string {
  let s = isoCache.get(m);
  if (s === undefined) isoCache.set(m, (s = new Date(m).toISOString()));
  return s;
}

describe('EventSeries', () => {
  it('property: queries equal a naive recount of the kept minutes; dropped minutes are refused', () => {
    let droppedRuns = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(stepMs, fc.integer({ min: 0, max: types.length - 1 })), { minLength: 1, maxLength: 150 }),
        fc.array(fc.tuple(countArb, endArb), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: window }),
        (spec, queries, backCount) => {
          const series = new EventSeries();
          const recount = new Map<number, Record<string, number>>();
          let ms = base;
          spec.forEach(([step, t], seq) => {
            ms += step;
            const type = types[t]!;
            series.add(event(seq, ms, type));
            const m = Math.floor(ms / minute) * minute;
            const counts = recount.get(m) ?? {};
            counts[type] = (counts[type] ?? 0) + 1;
            recount.set(m, counts);
          });
          const lastMinute = Math.floor(ms / minute) * minute;
          const oldestKept = lastMinute - (window - 1) * minute;
          const minutes = [...recount.keys()];
          const dropped = minutes.filter((m) => m < oldestKept);
          const newestDropped = dropped.length === 0 ? -Infinity : Math.max(...dropped);
          expect(series.lastMinuteMs).toBe(lastMinute);
          expect(series.storedMinutes).toBe(minutes.length - dropped.length);
          expect(series.storedMinutes).toBeLessThanOrEqual(window);

          const check = (count: number, endMs: number | undefined): void => {
            const end = endMs === undefined ? lastMinute : Math.floor(endMs / minute) * minute;
            const start = end - (count - 1) * minute;
            if (start <= newestDropped) {
              expect(errorCodeOf(() => series.minutes(count, endMs))).toBe('STELE_E_USAGE');
              return;
            }
            const got = series.minutes(count, endMs);
            // Every minute in order (string checks), then the non-empty ones in full: a deep
            // equality over 10,080 objects per query would dominate the test's time.
            expect(got).toHaveLength(count);
            got.forEach((x, i) => {
              if (x.minute !== iso(start + i * minute)) expect(x.minute).toBe(iso(start + i * minute));
            });
            const expected = [];
            for (const [m, counts] of recount) if (m >= start && m <= end) expected.push({ minute: iso(m), counts });
            expect(got.filter((x) => Object.keys(x.counts).length > 0)).toEqual(expected);
          };
          for (const [count, endSpec] of queries) check(count, endSpec === undefined ? undefined : lastMinute + endSpec[0] * minute + endSpec[1]);
          if (dropped.length > 0) {
            droppedRuns++;
            // The boundary: a range starting at the newest dropped minute is refused, one
            // starting a minute later is answered.
            check(backCount, newestDropped + (backCount - 1) * minute);
            check(backCount, newestDropped + backCount * minute);
            expect(errorCodeOf(() => series.minutes(backCount, newestDropped + (backCount - 1) * minute))).toBe('STELE_E_USAGE');
          }
        },
      ),
      { seed: 42, numRuns: 150 },
    );
    // Guards against a vacuous property: runs that dropped minutes happened.
    expect(droppedRuns).toBeGreaterThan(20);
  });

  it('drops the oldest minute when a minute beyond the window arrives', () => {
    const series = new EventSeries();
    series.add(event(0, base, 'kv.put'));
    series.add(event(1, base + (window - 1) * minute, 'kv.put'));
    expect(series.storedMinutes).toBe(2);
    // The whole window, from the first minute: still all there.
    const full = series.minutes(window);
    expect(full[0]).toEqual({ minute: '2026-11-22T10:00:00.000Z', counts: { 'kv.put': 1 } });
    expect(full.at(-1)!.counts).toEqual({ 'kv.put': 1 });
    expect(full.filter((m) => Object.keys(m.counts).length > 0)).toHaveLength(2);
    series.add(event(2, base + window * minute + 59_999, 'ledger.deposited'));
    expect(series.storedMinutes).toBe(2);
    expect(series.minutes(window)[0]).toEqual({ minute: '2026-11-22T10:01:00.000Z', counts: {} });
    expect(series.minutes(window).at(-1)).toEqual({ minute: new Date(base + window * minute).toISOString(), counts: { 'ledger.deposited': 1 } });
    // Reaching back to the dropped minute is refused; one minute later is fine (and empty).
    expect(errorCodeOf(() => series.minutes(window, base + (window - 1) * minute))).toBe('STELE_E_USAGE');
    expect(series.minutes(window - 1, base + (window - 1) * minute)[0]).toEqual({ minute: '2026-11-22T10:01:00.000Z', counts: {} });
  });

  it('caps distinct types at auditDistinctNamesMax; the rest count as other', () => {
    const series = new EventSeries();
    const names = Array.from({ length: limits.auditDistinctNamesMax + 5 }, (_, i) => `app.t${String(i).padStart(4, '0')}`);
    let seq = 0;
    for (const name of names) series.add(event(seq++, base, name));
    // Known names keep counting under their own name after the cap is reached, others under other.
    series.add(event(seq++, base + 1, names[0]!));
    series.add(event(seq, base + 2, names.at(-1)!));
    const [only] = series.minutes(1);
    const expected: Record<string, number> = {};
    for (const name of names.slice(0, limits.auditDistinctNamesMax)) expected[name] = 1;
    expected[names[0]!] = 2;
    expected['other'] = 6;
    expect(only!.counts).toEqual(expected);
  });

  it('refuses a count or end it cannot answer with STELE_E_USAGE', () => {
    const series = new EventSeries();
    series.add(event(0, base, 'kv.put'));
    for (const count of [0, -1, window + 1, 1.5, Number.NaN]) expect(errorCodeOf(() => series.minutes(count))).toBe('STELE_E_USAGE');
    for (const end of [1.5, Number.NaN, Infinity, 2 ** 53, Date.parse('0000-01-01T00:00:00.000Z') - 1]) expect(errorCodeOf(() => series.minutes(1, end))).toBe('STELE_E_USAGE');
    // A range starting before the year 0000 (the first minute a ts can name).
    expect(errorCodeOf(() => series.minutes(2, Date.parse('0000-01-01T00:00:00.000Z')))).toBe('STELE_E_USAGE');
    expect(series.minutes(1, Date.parse('9999-12-31T23:59:59.999Z'))).toEqual([{ minute: '9999-12-31T23:59:00.000Z', counts: {} }]);
    expect(errorCodeOf(() => series.minutes(window))).toBe('ok');
  });

  it('an empty series: no last minute, unless the caller gives an end', () => {
    const series = new EventSeries();
    expect(series.minutes(5)).toEqual([]);
    expect(series.lastMinuteMs).toBeUndefined();
    expect(series.minutes(2, base + 59_999)).toEqual([
      { minute: '2026-11-22T09:59:00.000Z', counts: {} },
      { minute: '2026-11-22T10:00:00.000Z', counts: {} },
    ]);
  });

  it('asserts that minutes never go back', () => {
    const series = new EventSeries();
    series.add(event(0, base + minute, 'kv.put'));
    expect(() => series.add(event(1, base, 'kv.put'))).toThrow(/not before/);
  });
});

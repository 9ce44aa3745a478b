/**
 * LogIndex against a naive model (an array of {offset, bytes, tsMs, type} and linear
 * scans), on generated logs whose lines are real bytes (with multi-byte UTF-8, so bytes
 * and characters differ): every locate and span reads exactly the right lines out of the
 * file's bytes, every time search agrees with a scan, growth past the initial capacity
 * loses nothing. Then the failure paths: a missing seq is STELE_E_SIZE_OUT_OF_RANGE, a
 * NaN time is STELE_E_USAGE, and events out of order are assertion failures.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSteleError } from '../../src/errors.js';
import type { IndexedEvent } from '../../src/views/log-index.js';
import { LogIndex } from '../../src/views/log-index.js';
import { errorCodeOf } from '../helpers.js';

const base = Date.parse('2026-11-22T10:00:00.000Z');
const types = ['kv.put', 'ledger.deposited', 'audit.telemetry_sampled', 'app.thing'];

interface Model {
  events: IndexedEvent[];
  lines: string[];
  file: Buffer;
  tsMs: number[];
}

/** A log of lines of the given texts, with ts advancing by the given steps. */
function makeLog(spec: readonly { text: string; stepMs: number; type: number }[]): Model {
  const events: IndexedEvent[] = [];
  const lines: string[] = [];
  const tsMs: number[] = [];
  let offset = 0;
  let ms = base;
  spec.forEach((s, seq) => {
    ms += s.stepMs;
    const line = JSON.stringify({ seq, text: s.text });
    const bytes = Buffer.byteLength(line);
    const type = types[s.type]!;
    events.push({ seq, offset, bytes, ts: new Date(ms).toISOString(), type, v: 1, data: { text: s.text } });
    lines.push(line);
    tsMs.push(ms);
    offset += bytes + 1;
  });
  return { events, lines, file: Buffer.from(lines.map((l) => `${l}\n`).join('')), tsMs };
}


const logSpec = fc.array(
  fc.record({
    text: fc.string({ unit: 'grapheme', maxLength: 40 }),
    // Mostly equal or close timestamps (one commit stamps many events), sometimes far apart.
    stepMs: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 10 ** 9 }) }),
    type: fc.integer({ min: 0, max: types.length - 1 }),
  }),
  { maxLength: 200 },
);

describe('LogIndex', () => {
  it('property: locate, span, ts and the time searches agree with the naive model', () => {
    fc.assert(
      fc.property(logSpec, fc.integer({ min: 1, max: 8 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10 }), (spec, capacity, pairs) => {
        const log = makeLog(spec);
        const index = new LogIndex({ initialCapacity: capacity });
        for (const e of log.events) index.add(e);
        const size = log.events.length;
        expect(index.size).toBe(size);
        expect(index.endOffset).toBe(log.file.length);
        log.events.forEach((e, seq) => {
          const { offset, bytes } = index.locate(seq);
          expect(log.file.subarray(offset, offset + bytes).toString('utf8')).toBe(log.lines[seq]);
          expect(index.tsMs(seq)).toBe(log.tsMs[seq]);
        });
        for (const [a, b] of pairs) {
          const from = a % (size + 1);
          const to = from + (b % (size - from + 1));
          const { offset, bytes } = index.span(from, to);
          expect(log.file.subarray(offset, offset + bytes).toString('utf8')).toBe(log.lines.slice(from, to).map((l) => `${l}\n`).join(''));
        }
        // Every ts, its neighbours, and bounds beyond both ends.
        const probes = [...new Set(log.tsMs.flatMap((t) => [t - 1, t, t + 1]))].concat([base - 10 ** 6, base + 10 ** 12, -Infinity, Infinity]);
        for (const t of probes) {
          const first = log.tsMs.findIndex((x) => x >= t);
          expect(index.firstSeqAtOrAfter(t)).toBe(first < 0 ? size : first);
          expect(index.lastSeqAtOrBefore(t)).toBe(log.tsMs.findLastIndex((x) => x <= t));
        }
        const counts: Record<string, number> = {};
        for (const e of log.events) counts[e.type] = (counts[e.type] ?? 0) + 1;
        expect(index.typeCounts()).toEqual(counts);
        expect(Object.keys(index.typeCounts())).toEqual(Object.keys(counts).sort());
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('a missing seq or run is STELE_E_SIZE_OUT_OF_RANGE, naming the seq', () => {
    const log = makeLog([
      { text: 'a', stepMs: 0, type: 0 },
      { text: 'bé', stepMs: 1, type: 1 },
      { text: 'c', stepMs: 1, type: 0 },
    ]);
    const empty = new LogIndex();
    expect(errorCodeOf(() => empty.locate(0))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(empty.span(0, 0)).toEqual({ offset: 0, bytes: 0 });
    expect(empty.firstSeqAtOrAfter(base)).toBe(0);
    expect(empty.lastSeqAtOrBefore(base)).toBe(-1);
    expect(empty.typeCounts()).toEqual({});
    const index = new LogIndex();
    for (const e of log.events) index.add(e);
    for (const seq of [-1, 3, 1.5, Number.NaN, 2 ** 60]) {
      expect(errorCodeOf(() => index.locate(seq))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
      expect(errorCodeOf(() => index.tsMs(seq))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    }
    let caught: unknown;
    try {
      index.locate(3);
    } catch (err) {
      caught = err;
    }
    expect(isSteleError(caught) && caught.where.seq === 3 && caught.fix !== undefined).toBe(true);
    expect(errorCodeOf(() => index.span(2, 1))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(errorCodeOf(() => index.span(0, 4))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(errorCodeOf(() => index.span(-1, 2))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(index.span(3, 3)).toEqual({ offset: log.file.length, bytes: 0 });
    expect(index.locate(1)).toEqual({ offset: log.lines[0]!.length + 1, bytes: Buffer.byteLength(log.lines[1]!) });
    expect(errorCodeOf(() => index.firstSeqAtOrAfter(Number.NaN))).toBe('STELE_E_USAGE');
    expect(errorCodeOf(() => index.lastSeqAtOrBefore(Number.NaN))).toBe('STELE_E_USAGE');
  });

  it('asserts log order: contiguous seqs, contiguous lines, non-decreasing ts', () => {
    const log = makeLog([
      { text: 'a', stepMs: 5, type: 0 },
      { text: 'b', stepMs: 5, type: 0 },
    ]);
    const fresh = () => {
      const index = new LogIndex();
      index.add(log.events[0]!);
      return index;
    };
    const second = log.events[1]!;
    expect(() => fresh().add({ ...second, seq: 2 })).toThrow(/log order/);
    expect(() => fresh().add({ ...second, offset: second.offset + 1 })).toThrow(/starts where the previous one ended/);
    expect(() => fresh().add({ ...second, ts: new Date(base).toISOString() })).toThrow(/not before/);
    expect(() => fresh().add({ ...second, bytes: 0 })).toThrow(/positive length/);
    // A refused event leaves the index as it was.
    const index = fresh();
    expect(() => index.add({ ...second, ts: new Date(base).toISOString() })).toThrow();
    expect(index.size).toBe(1);
    index.add(second);
    expect(index.size).toBe(2);
  });
});

/**
 * The deterministic log-linear histogram: the documented error bound of its percentiles
 * against the exact percentiles of the sample, order independence, and its exact codec.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize, parseJson } from '../../../src/canonical/json.js';
import { bucketMidpoint, Histogram, HistogramFormatError, octavesKept, relativeErrorMax } from '../../../src/modules/audit/histogram.js';

const seed = Number(process.env.STELE_SEED ?? 6838);

function histogramOf(values: readonly number[]): Histogram {
  const h = new Histogram();
  for (const v of values) h.add(v);
  return h;
}

/** The exact nearest-rank percentile: the sample of rank ceil(n·p/100) in ascending order. */
function exactPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((sorted.length * p) / 100));
  return sorted[rank - 1]!;
}

/** The smallest normal double, 2^-1022: below it (subnormals) the zero bucket takes over. */
const minNormal = 2.2250738585072014e-308;

/** The bound of histogram.ts: max(|x|/128, 2^-31 · max|sample|, 2^-1022), as one sum (a looser, simpler form). */
function errorBound(exact: number, sorted: readonly number[]): number {
  const maxAbs = Math.max(Math.abs(sorted[0]!), Math.abs(sorted[sorted.length - 1]!));
  return Math.abs(exact) * relativeErrorMax + maxAbs * 2 ** -(octavesKept - 1) + minNormal;
}

const anyFinite = fc.double({ noNaN: true, noDefaultInfinity: true });
/** Values spanning far less than 2^31 in magnitude: the pure relative bound applies. */
const moderate = fc.oneof(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: -1e-3, noNaN: true }));
const percentile = fc.integer({ min: 1, max: 100 });

describe('Histogram', () => {
  it('bucket midpoints are built from bits: 1 → 1 + 1/128, -3 → -(2 + 2·65/128)', () => {
    expect(bucketMidpoint(0, 1023, 0)).toBe(1 + 1 / 128);
    expect(bucketMidpoint(1, 1024, 32)).toBe(-(2 * (1 + 65 / 128)));
    expect(relativeErrorMax).toBe(0.0078125);
  });

  it('percentile estimates are within the documented bound of the exact sample percentile (any finite doubles)', () => {
    fc.assert(
      fc.property(fc.array(anyFinite, { minLength: 1, maxLength: 300 }), percentile, (values, p) => {
        const h = histogramOf(values);
        const sorted = values.map((v) => (v === 0 ? 0 : v)).sort((a, b) => a - b);
        const exact = exactPercentile(sorted, p);
        const estimate = h.percentile(p)!;
        expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(errorBound(exact, sorted));
        expect(estimate).toBeGreaterThanOrEqual(sorted[0]!);
        expect(estimate).toBeLessThanOrEqual(sorted[sorted.length - 1]!);
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('within 2^31 of dynamic range the error is relative only: ≤ 0.78125 % of the exact percentile', () => {
    fc.assert(
      fc.property(fc.array(moderate, { minLength: 1, maxLength: 300 }), percentile, (values, p) => {
        const sorted = [...values].sort((a, b) => a - b);
        const exact = exactPercentile(sorted, p);
        expect(Math.abs(histogramOf(values).percentile(p)! - exact)).toBeLessThanOrEqual(Math.abs(exact) * relativeErrorMax);
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('p100 and a single sample are exact; an empty histogram has no percentiles', () => {
    expect(histogramOf([3, 1e9, -7]).percentile(100)).toBe(1e9);
    expect(histogramOf([Math.PI]).summary()).toEqual({ count: 1, min: Math.PI, max: Math.PI, mean: Math.PI, p50: Math.PI, p90: Math.PI, p99: Math.PI });
    expect(new Histogram().percentile(50)).toBeUndefined();
    expect(new Histogram().summary()).toEqual({ count: 0, min: null, max: null, mean: null, p50: null, p90: null, p99: null });
  });

  it('is independent of insertion order (all but the float sum), and bounded to 2·32·64 buckets', () => {
    fc.assert(
      fc.property(
        fc.array(anyFinite, { minLength: 1, maxLength: 200 }).chain((values) => fc.tuple(fc.constant(values), fc.shuffledSubarray(values, { minLength: values.length, maxLength: values.length }))),
        ([values, shuffled]) => {
          const a = histogramOf(values);
          const b = histogramOf(shuffled);
          expect({ ...a.encode(), sum: 0 }).toEqual({ ...b.encode(), sum: 0 });
          expect({ ...a.summary(), mean: 0 }).toEqual({ ...b.summary(), mean: 0 });
          let buckets = 0;
          for (const row of a.rows.values()) buckets += row.filter((n) => n > 0).length;
          expect(buckets).toBeLessThanOrEqual(2 * octavesKept * 64);
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  it('folds magnitudes more than 2^31 below the largest into the zero bucket, reported as 0', () => {
    const h = histogramOf([1e-12, 2e-12, 3e-12, 1]);
    expect(h.zero).toBe(3);
    expect(h.percentile(50)).toBe(1e-12); // 0, clamped to the exact minimum
    const mixed = histogramOf([-1e-12, 1e-12, 5e-13, 1, -1]);
    expect(mixed.percentile(60)).toBe(0); // the zero bucket
  });

  it('-0 is 0: min, max and the sum hold no -0 (JSON has none)', () => {
    const h = histogramOf([-0]);
    expect(Object.is(h.min, 0) && Object.is(h.max, 0) && Object.is(h.sum, 0)).toBe(true);
  });

  it('an overflowing sum gives mean null and survives the codec', () => {
    const h = histogramOf([Number.MAX_VALUE, Number.MAX_VALUE]);
    expect(h.summary().mean).toBeNull();
    const json = parseJson(canonicalize(h.encode()));
    expect(json).toMatchObject({ sum: 'Infinity' });
    expect(Histogram.decode(json).summary()).toEqual(h.summary());
  });

  it('codec: decode(encode(h)) encodes identically and evolves identically', () => {
    fc.assert(
      fc.property(fc.array(anyFinite, { maxLength: 200 }), fc.array(anyFinite, { maxLength: 50 }), (before, after) => {
        const h = histogramOf(before);
        const copy = Histogram.decode(parseJson(canonicalize(h.encode())));
        expect(canonicalize(copy.encode())).toBe(canonicalize(h.encode()));
        for (const v of after) {
          h.add(v);
          copy.add(v);
        }
        expect(canonicalize(copy.encode())).toBe(canonicalize(h.encode()));
        expect(copy.summary()).toEqual(h.summary());
      }),
      { seed, numRuns: 500 },
    );
  });

  it('decode refuses what encode never writes', () => {
    const good = histogramOf([1, 2, 3]).encode();
    const bad: unknown[] = [
      null,
      [],
      { ...good, extra: 1 },
      { ...good, count: 4 },
      { ...good, count: -1 },
      { ...good, emax: 2047 },
      { ...good, emax: 1000 },
      { ...good, min: 5 },
      { ...good, sum: 'Inf' },
      { ...good, buckets: [...(good['buckets'] as unknown[])].reverse() },
      { ...good, buckets: [[1023 * 64, 0], ...(good['buckets'] as unknown[])] },
      { ...good, buckets: [[5 * 64, 3]] },
      { count: 0, sum: 0, min: 0, max: 0, emax: 0, zero: 0, buckets: [] },
    ];
    for (const json of bad) expect(() => Histogram.decode(json as never), JSON.stringify(json)).toThrow(HistogramFormatError);
    expect(Histogram.decode({ count: 0, sum: 0, min: null, max: null, emax: 0, zero: 0, buckets: [] }).count).toBe(0);
  });
});

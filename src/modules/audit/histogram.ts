/**
 * A deterministic log-linear histogram of finite doubles: the percentiles of the audit
 * statistics (execution times, attack severities, telemetry values).
 *
 * Why not Math.log: replay must give the same statistics on every machine (DESIGN.md §1.3),
 * and `Math.log`/`Math.pow` are not required to be correctly rounded, so two platforms may
 * put a value on opposite sides of a bucket edge. Here the bucket is read straight from the
 * IEEE-754 bits of the value: its sign, its 11-bit biased exponent `e` and the top
 * `subBucketBits` (6) bits `k` of its mantissa. That is exact integer work on every machine.
 *
 * Buckets and the error bound:
 * - A bucket `(sign, e, k)` with `e ≥ 1` holds the values of magnitude in
 *   [2^E·(1 + k/64), 2^E·(1 + (k+1)/64)), E = e − 1023, and reports its midpoint
 *   2^E·(1 + (2k+1)/128), which is exactly representable (built from bits too). For a value
 *   x in the bucket, |midpoint − x| ≤ 2^E/128 ≤ |x|/128: a relative error of at most
 *   **2^-7 = 0.78125 %**.
 * - Only the `octavesKept` (32) binary orders of magnitude below and including the largest
 *   exponent seen so far (`emax`) are kept at that resolution. Smaller magnitudes (and 0 and
 *   subnormals) fall in the **zero bucket**, reported as 0; their absolute error is below
 *   max(2^-31 · max|x|, 2^-1022): 4.7e-10 of the largest magnitude seen, or the smallest
 *   normal double when nothing larger was seen. This bounds the buckets of one histogram to
 *   2 · 32 · 64 = 4,096 whatever values arrive.
 * - A percentile is the nearest-rank one: for p in 1…100 and n samples, the sample of rank
 *   r = ceil(n·p/100) (1-based, integer arithmetic, so no floating rounding of n·p) in
 *   ascending order. The estimate is the representative of the bucket holding that sample,
 *   clamped to the exact [min, max]; so it is within max(|x|/128, 2^-31·max|sample|,
 *   2^-1022) of the exact sample x, and exact for p100, and for a single sample.
 *
 * Order independence: the buckets, counts, min, max and emax depend only on the multiset of
 * values added, never on their order (folding into the zero bucket depends only on the final
 * emax). Only `sum` (and so the mean) depends on the order, through float rounding; the
 * log fixes that order, so replay is still deterministic.
 *
 * Hot path: `add` allocates nothing except a 64-count row the first time an octave is hit.
 */
import assert from 'node:assert/strict';
import type { JsonObject, JsonValue } from '../../canonical/json.js';

/** Mantissa bits that pick the sub-bucket within an octave: 2^6 = 64 buckets per octave. */
export const subBucketBits = 6;
const subBuckets = 1 << subBucketBits;
/** Binary orders of magnitude kept at full resolution, counting down from the largest seen. */
export const octavesKept = 32;
/** The relative error bound of a percentile estimate outside the zero bucket: 2^-(subBucketBits+1). */
export const relativeErrorMax = 1 / (2 * subBuckets);
/** Highest biased exponent of a finite double (2047 is Infinity/NaN). */
const exponentMax = 2046;

// One shared scratch double and its two 32-bit halves: reading the bits of a value this
// way allocates nothing. The high word (sign, exponent, top 20 mantissa bits) is the one at
// index 1 on little-endian machines and 0 on big-endian ones.
const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const hiWord = littleEndian ? 1 : 0;
const loWord = littleEndian ? 0 : 1;

/** The percentiles a summary reports. */
export const summaryPercentiles = [50, 90, 99] as const;

/** What a dashboard shows of one histogram; every field but `count` is null when it is empty. */
export interface Summary extends JsonObject {
  count: number;
  min: number | null;
  max: number | null;
  /** sum / count; null when empty, or when the sum overflowed the double range. */
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** Thrown by `Histogram.decode` with a description of what is malformed. */
export class HistogramFormatError extends Error {}

export class Histogram {
  count = 0;
  /** Sum in insertion (log) order; can reach ±Infinity or NaN (then the mean is null). */
  sum = 0;
  min = Infinity;
  max = -Infinity;
  /** Largest biased exponent seen (0 when none or only zeros). */
  emax = 0;
  /** Samples in the zero bucket. */
  zero = 0;
  /** Signed exponent (−e for negative values, e for positive) → counts of its 64 sub-buckets. */
  readonly rows = new Map<number, Float64Array>();

  /** Adds one finite value. The caller guarantees finiteness (schemas reject anything else). */
  add(value: number): void {
    // -0 becomes 0: JSON has no -0, so a value that went through the log is 0 on replay,
    // and the live state must not differ from the replayed one in min/max.
    const x = value === 0 ? 0 : value;
    this.count++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    scratch[0] = x;
    const hi = scratchWords[hiWord] as number;
    const e = (hi >>> 20) & 0x7ff;
    if (e > this.emax) {
      this.emax = e;
      this.#fold();
    }
    if (e === 0 || e < this.emax - (octavesKept - 1)) {
      this.zero++;
      return;
    }
    const key = hi >>> 31 === 1 ? -e : e;
    let row = this.rows.get(key);
    if (row === undefined) {
      row = new Float64Array(subBuckets);
      this.rows.set(key, row);
    }
    const k = (hi >>> (20 - subBucketBits)) & (subBuckets - 1);
    row[k] = (row[k] as number) + 1;
  }

  /** Moves the rows that fell out of the kept octaves (after emax grew) into the zero bucket. */
  #fold(): void {
    const low = this.emax - (octavesKept - 1);
    for (const [key, row] of this.rows) {
      if ((key < 0 ? -key : key) >= low) continue;
      for (let k = 0; k < subBuckets; k++) this.zero += row[k] as number;
      this.rows.delete(key);
    }
  }

  /**
   * The nearest-rank percentile `p` (an integer 1…100), estimated as the module header
   * says; undefined when empty.
   */
  percentile(p: number): number | undefined {
    assert.ok(Number.isInteger(p) && p >= 1 && p <= 100, `a percentile is an integer 1…100, not ${p}`);
    if (this.count === 0) return undefined;
    // Integer arithmetic: exact while count·p < 2^53, i.e. for any count below 9e13.
    const rank = Math.max(1, Math.ceil((this.count * p) / 100));
    return this.#valueAtRank(rank);
  }

  #valueAtRank(rank: number): number {
    const keys = [...this.rows.keys()].sort((a, b) => a - b);
    let seen = 0;
    // Negative rows first, most negative first: larger exponent and larger k mean smaller values.
    for (const key of keys) {
      if (key > 0) break;
      const row = this.rows.get(key) as Float64Array;
      for (let k = subBuckets - 1; k >= 0; k--) {
        seen += row[k] as number;
        if (seen >= rank) return this.#clamp(bucketMidpoint(1, -key, k));
      }
    }
    seen += this.zero;
    if (seen >= rank) return this.#clamp(0);
    for (const key of keys) {
      if (key < 0) continue;
      const row = this.rows.get(key) as Float64Array;
      for (let k = 0; k < subBuckets; k++) {
        seen += row[k] as number;
        if (seen >= rank) return this.#clamp(bucketMidpoint(0, key, k));
      }
    }
    // Unreachable while count equals the sum of the buckets (checked by decode, kept by add).
    return this.max;
  }

  #clamp(x: number): number {
    return x < this.min ? this.min : x > this.max ? this.max : x;
  }

  summary(): Summary {
    if (this.count === 0) return { count: 0, min: null, max: null, mean: null, p50: null, p90: null, p99: null };
    const mean = this.sum / this.count;
    return {
      count: this.count,
      min: this.min,
      max: this.max,
      mean: Number.isFinite(mean) ? mean : null,
      p50: this.percentile(50) as number,
      p90: this.percentile(90) as number,
      p99: this.percentile(99) as number,
    };
  }

  /**
   * The histogram as JSON: `{count, sum, min, max, emax, zero, buckets}`, `buckets` the
   * non-empty buckets as `[id, count]` sorted by id, id = ±(e·64 + k) (negative for negative
   * values). `sum` is a number, or the string `Infinity`, `-Infinity` or `NaN` after an
   * overflow. A function of the content only: equal histograms encode identically.
   */
  encode(): JsonObject {
    const buckets: [number, number][] = [];
    for (const [key, row] of this.rows) {
      const e = key < 0 ? -key : key;
      for (let k = 0; k < subBuckets; k++) {
        const n = row[k] as number;
        if (n > 0) buckets.push([key < 0 ? -(e * subBuckets + k) : e * subBuckets + k, n]);
      }
    }
    buckets.sort((a, b) => a[0] - b[0]);
    return {
      count: this.count,
      sum: Number.isFinite(this.sum) ? this.sum : String(this.sum),
      min: this.count === 0 ? null : this.min,
      max: this.count === 0 ? null : this.max,
      emax: this.emax,
      zero: this.zero,
      buckets,
    };
  }

  /** The inverse of `encode`; rejects anything `encode` would never write (HistogramFormatError). */
  static decode(json: JsonValue | undefined): Histogram {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HistogramFormatError('expected an object');
    const keys = Object.keys(json).sort().join(',');
    if (keys !== 'buckets,count,emax,max,min,sum,zero') throw new HistogramFormatError(`expected the keys buckets,count,emax,max,min,sum,zero, found ${keys}`);
    const { count, sum, min, max, emax, zero, buckets } = json;
    const h = new Histogram();
    h.count = countOf(count, 'count');
    h.zero = countOf(zero, 'zero');
    if (typeof emax !== 'number' || !Number.isInteger(emax) || emax < 0 || emax > exponentMax) throw new HistogramFormatError('emax must be an integer 0…2046');
    h.emax = emax;
    if (typeof sum === 'number') h.sum = sum === 0 ? 0 : sum;
    else if (sum === 'Infinity' || sum === '-Infinity' || sum === 'NaN') h.sum = Number(sum);
    else throw new HistogramFormatError('sum must be a number, "Infinity", "-Infinity" or "NaN"');
    if (h.count === 0) {
      if (min !== null || max !== null || h.sum !== 0 || h.emax !== 0) throw new HistogramFormatError('an empty histogram has min and max null, sum 0 and emax 0');
    } else {
      if (typeof min !== 'number' || typeof max !== 'number' || min > max) throw new HistogramFormatError('min and max must be numbers with min ≤ max');
      // JSON text may spell -0 (canonical JSON never does); the state never holds -0.
      h.min = min === 0 ? 0 : min;
      h.max = max === 0 ? 0 : max;
      // The largest exponent seen is that of the largest magnitude, which is min or max.
      const e = Math.max(biasedExponent(min), biasedExponent(max));
      if (e !== emax) throw new HistogramFormatError(`emax ${emax} is not the exponent of min or max (${e})`);
    }
    if (!Array.isArray(buckets)) throw new HistogramFormatError('buckets must be an array');
    const low = Math.max(1, emax - (octavesKept - 1));
    let total = h.zero;
    let previous = -Infinity;
    for (const bucket of buckets) {
      if (!Array.isArray(bucket) || bucket.length !== 2) throw new HistogramFormatError('a bucket must be [id, count]');
      const [id, n] = bucket;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= previous) throw new HistogramFormatError('bucket ids must be integers in ascending order');
      previous = id;
      const magnitude = id < 0 ? -id : id;
      const e = Math.floor(magnitude / subBuckets);
      if (e < low || e > emax) throw new HistogramFormatError(`bucket ${id} is outside the kept exponents ${low}…${emax}`);
      const c = countOf(n, 'a bucket count');
      if (c === 0) throw new HistogramFormatError('empty buckets are never written');
      const key = id < 0 ? -e : e;
      let row = h.rows.get(key);
      if (row === undefined) {
        row = new Float64Array(subBuckets);
        h.rows.set(key, row);
      }
      row[magnitude % subBuckets] = c;
      total += c;
    }
    if (total !== h.count) throw new HistogramFormatError(`count ${h.count} is not the sum of the buckets (${total})`);
    return h;
  }
}

function countOf(value: JsonValue | undefined, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new HistogramFormatError(`${what} must be a non-negative integer`);
  return value;
}

/** The biased exponent field of a double (0 for zero and subnormals). */
function biasedExponent(x: number): number {
  scratch[0] = x;
  return ((scratchWords[hiWord] as number) >>> 20) & 0x7ff;
}

/**
 * The midpoint of bucket `(sign, e, k)`: sign bit, exponent `e`, mantissa `(2k+1)` in its top
 * 7 bits and zeros below, assembled from bits so it is exact and the same everywhere.
 */
export function bucketMidpoint(sign: 0 | 1, e: number, k: number): number {
  scratchWords[hiWord] = ((sign << 31) | (e << 20) | ((2 * k + 1) << (20 - subBucketBits - 1))) >>> 0;
  scratchWords[loWord] = 0;
  return scratch[0] as number;
}

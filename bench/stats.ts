/**
 * Order statistics for benchmark samples. Percentiles use the nearest-rank method: p-th
 * percentile = the smallest sample with at least p % of the samples at or below it, so a
 * reported p99 is a latency some caller actually saw.
 */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** A growable list of latency samples in a typed array, so a million samples cost 8 MB, not 100 boxed numbers' worth each. */
export class Samples {
  #data = new Float64Array(1 << 16);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#length++] = value;
  }

  get length(): number {
    return this.#length;
  }

  /** The samples in the order they came (a copy). */
  toArray(): Float64Array {
    return this.#data.slice(0, this.#length);
  }

  /** The samples, sorted ascending (a copy). */
  sorted(): Float64Array {
    return this.#data.slice(0, this.#length).sort();
  }
}

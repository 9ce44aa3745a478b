/**
 * An in-memory index over the whole log: where each event's line is (byte offset) and when
 * it was written (ts in ms), plus how many events of each type there are. The reads of the
 * service and the observer use it to find lines by seq or by time without scanning the file.
 *
 * Invariants:
 * - Events are added in log order: seq 0, 1, 2, … (`add` asserts seq === size), their lines
 *   contiguous from byte 0 (each starts where the previous one's `\n` ended), and their ts
 *   non-decreasing. The caller feeds only verified events, so a violation is a programmer
 *   error (an assertion), not an operating error.
 * - A line's length is not stored: it is the distance to the next line's offset (or to
 *   `endOffset` for the last) minus its `\n`.
 * - `[0, endOffset)` is exactly the bytes of the `size` indexed lines.
 *
 * Memory: two Float64Arrays (offset, ts in ms), 16 bytes per event, growing by doubling
 * (so up to 32 bytes per event just after a growth, and the old and new arrays for a
 * moment while copying): a 10M-event log takes 160 MiB, 320 MiB at worst. Float64 holds
 * every offset and ms timestamp exactly (both below 2^53). Per type: one Map entry.
 *
 * Pure: no I/O, no clock.
 */
import assert from 'node:assert/strict';
import type { JsonObject } from '../canonical/json.js';
import { steleError } from '../errors.js';

/** One verified event as the lead feeds it to the views: its envelope and where its line is. */
export interface IndexedEvent {
  seq: number;
  /** Byte offset of the line in the log file. */
  offset: number;
  /** Length of the line in bytes, without its `\n`. */
  bytes: number;
  /** RFC 3339 UTC with milliseconds, e.g. `2026-11-22T10:00:00.000Z`. */
  ts: string;
  type: string;
  v: number;
  data: JsonObject;
  meta?: JsonObject;
}

/** A run of bytes of the log file. */
export interface ByteRange {
  offset: number;
  bytes: number;
}

/** Capacity of a new index, in events: small, so an empty log costs nothing to speak of. */
const initialCapacityDefault = 1024;

/** Milliseconds since the epoch of an RFC 3339 `ts` the writer wrote. */
export function tsToMs(ts: string): number {
  const ms = Date.parse(ts);
  if (!Number.isFinite(ms)) assert.fail(`ts ${ts} is an RFC 3339 timestamp (the event was verified)`);
  return ms;
}

/** A time bound of a query: NaN would silently compare false everywhere; ±Infinity are fine bounds. */
function checkTime(tsMs: number): void {
  if (Number.isNaN(tsMs)) {
    throw steleError('STELE_E_USAGE', 'a time bound is not a number', {
      expected: 'milliseconds since the epoch',
      found: 'NaN',
      fix: 'pass an RFC 3339 time such as 2026-11-22T10:00:00.000Z',
    });
  }
}

export class LogIndex {
  #offsets: Float64Array;
  #tsMs: Float64Array;
  #size = 0;
  #endOffset = 0;
  readonly #typeCounts = new Map<string, number>();
  /** The last ts string and its ms: consecutive events often share a ts (one group commit stamps a batch). */
  #lastTs = '';
  #lastTsMs = -Infinity;
  /** `YYYY-MM-DDTHH:MM:` of the last parsed ts and the ms its minute starts at. */
  #minutePrefix = '';
  #minuteStartMs = 0;

  constructor(options: { initialCapacity?: number } = {}) {
    const capacity = options.initialCapacity ?? initialCapacityDefault;
    assert.ok(Number.isSafeInteger(capacity) && capacity >= 1, 'initialCapacity is a positive integer');
    this.#offsets = new Float64Array(capacity);
    this.#tsMs = new Float64Array(capacity);
  }

  /** Events indexed: the seq the next event must have. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the log the indexed lines cover, `\n`s included: where the next line starts. */
  get endOffset(): number {
    return this.#endOffset;
  }

  /** Indexes the next event of the log. */
  add(e: IndexedEvent): void {
    // Messages are built only on failure: this runs once per event of a replay.
    if (e.seq !== this.#size) assert.fail(`events are indexed in log order, from seq 0: expected seq ${this.#size}, got ${e.seq}`);
    if (e.offset !== this.#endOffset) assert.fail(`the line of seq ${e.seq} starts where the previous one ended (byte ${this.#endOffset}), not at ${e.offset}`);
    if (!(Number.isSafeInteger(e.bytes) && e.bytes > 0)) assert.fail(`the line of seq ${e.seq} has a positive length, not ${e.bytes}`);
    // Fast case: the same ts string as the previous event, no parse.
    let ms = this.#lastTsMs;
    if (e.ts !== this.#lastTs) {
      ms = this.#parseTs(e.ts);
      if (!(ms >= this.#lastTsMs)) assert.fail(`ts of seq ${e.seq} (${e.ts}) is not before the previous event's (${this.#lastTs})`);
      this.#lastTs = e.ts;
      this.#lastTsMs = ms;
    }
    if (this.#size === this.#offsets.length) this.#grow();
    this.#offsets[this.#size] = e.offset;
    this.#tsMs[this.#size] = ms;
    this.#size++;
    this.#endOffset = e.offset + e.bytes + 1;
    this.#typeCounts.set(e.type, (this.#typeCounts.get(e.type) ?? 0) + 1);
  }

  /**
   * `tsToMs`, with a fast case for a ts in the same minute as the previous one (nearly
   * every event at any real rate): seconds and milliseconds from their six digits instead
   * of a date parse, which costs more than the rest of `add` together.
   */
  #parseTs(ts: string): number {
    // The writer's form is exactly `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 characters, tsPattern).
    if (ts.length === 24 && ts.charCodeAt(19) === 46 /* . */ && ts.charCodeAt(23) === 90 /* Z */ && this.#minutePrefix !== '' && ts.startsWith(this.#minutePrefix)) {
      const ss = (ts.charCodeAt(17) - 48) * 10 + (ts.charCodeAt(18) - 48);
      const mmm = (ts.charCodeAt(20) - 48) * 100 + (ts.charCodeAt(21) - 48) * 10 + (ts.charCodeAt(22) - 48);
      return this.#minuteStartMs + ss * 1000 + mmm;
    }
    const ms = tsToMs(ts);
    this.#minutePrefix = ts.length === 24 ? ts.slice(0, 17) : '';
    this.#minuteStartMs = Math.floor(ms / 60_000) * 60_000;
    return ms;
  }

  #grow(): void {
    const capacity = this.#offsets.length * 2;
    const offsets = new Float64Array(capacity);
    offsets.set(this.#offsets);
    this.#offsets = offsets;
    const tsMs = new Float64Array(capacity);
    tsMs.set(this.#tsMs);
    this.#tsMs = tsMs;
  }

  #checkSeq(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= this.#size) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `no event at seq ${seq}: the log has ${this.#size} events (seq 0 … ${this.#size - 1})`, {
        where: Number.isSafeInteger(seq) ? { seq } : {},
        expected: this.#size === 0 ? 'no seq (the log is empty)' : `an integer seq 0 … ${this.#size - 1}`,
        found: String(seq),
        fix: 'ask for a seq below the log size (GET /v1/status shows it)',
      });
    }
  }

  /** Offset of the line of `seq`, or `endOffset` for `seq === size`. */
  #offsetAt(seq: number): number {
    return seq === this.#size ? this.#endOffset : (this.#offsets[seq] as number);
  }

  /** Where the line of `seq` is, its length without the `\n`. Throws STELE_E_SIZE_OUT_OF_RANGE for a seq not indexed. */
  locate(seq: number): ByteRange {
    this.#checkSeq(seq);
    const offset = this.#offsets[seq] as number;
    return { offset, bytes: this.#offsetAt(seq + 1) - offset - 1 };
  }

  /** The ts of `seq` in ms since the epoch. Throws STELE_E_SIZE_OUT_OF_RANGE for a seq not indexed. */
  tsMs(seq: number): number {
    this.#checkSeq(seq);
    return this.#tsMs[seq] as number;
  }

  /**
   * The bytes of the lines `fromSeq … toSeqExclusive − 1`, each with its `\n`, for one read
   * of a run of lines. `fromSeq === toSeqExclusive` is the empty run at that line's offset.
   * Throws STELE_E_SIZE_OUT_OF_RANGE unless 0 ≤ fromSeq ≤ toSeqExclusive ≤ size.
   */
  span(fromSeq: number, toSeqExclusive: number): ByteRange {
    if (!Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(toSeqExclusive) || fromSeq < 0 || fromSeq > toSeqExclusive || toSeqExclusive > this.#size) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `no run of events ${fromSeq} … ${toSeqExclusive} (exclusive) in a log of ${this.#size} events`, {
        expected: `0 ≤ from ≤ to ≤ ${this.#size}`,
        found: `from ${fromSeq}, to ${toSeqExclusive}`,
        fix: 'ask for a range within the log size (GET /v1/status shows it)',
      });
    }
    const offset = this.#offsetAt(fromSeq);
    return { offset, bytes: this.#offsetAt(toSeqExclusive) - offset };
  }

  /** The first seq whose ts is ≥ `tsMs`, or `size` when there is none. O(log size). */
  firstSeqAtOrAfter(tsMs: number): number {
    checkTime(tsMs);
    // Lower bound: the first index with ts ≥ tsMs, in [lo, hi].
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if ((this.#tsMs[mid] as number) < tsMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The last seq whose ts is ≤ `tsMs`, or −1 when there is none. O(log size). */
  lastSeqAtOrBefore(tsMs: number): number {
    checkTime(tsMs);
    // Upper bound: the first index with ts > tsMs, minus one.
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if ((this.#tsMs[mid] as number) <= tsMs) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Events per type, keys sorted (UTF-16 order), as a plain object for JSON. */
  typeCounts(): Record<string, number> {
    return Object.fromEntries([...this.#typeCounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

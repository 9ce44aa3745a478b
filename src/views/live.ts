/**
 * The derived views over the whole log that the read API serves beside the state: the
 * position index (events by seq and time), events per minute by type, and every ledger
 * account's history. One `add` per verified event, in log order, from genesis (the startup
 * scan) and then live (the writer's durable batches, or the observer's tail).
 *
 * Pure: no I/O. The event lines themselves stay in the log file; the index says where.
 */
import type { EventEnvelope } from '../events/envelope.js';
import type { JsonObject } from '../canonical/json.js';
import { AccountHistory } from './account-history.js';
import type { IndexedEvent } from './log-index.js';
import { LogIndex } from './log-index.js';
import { EventSeries } from './series.js';

export class LogViews {
  readonly index = new LogIndex();
  readonly series = new EventSeries();
  readonly accounts = new AccountHistory();

  /** Events indexed (the next seq expected). */
  get size(): number {
    return this.index.size;
  }

  /** Byte offset where the next line starts. */
  get endOffset(): number {
    return this.index.endOffset;
  }

  add(e: IndexedEvent): void {
    this.index.add(e);
    this.series.add(e);
    this.accounts.add(e);
  }

  /** Adds a verified envelope found at `offset`, `bytes` long (without `\n`). */
  addEnvelope(event: EventEnvelope | { seq: number; ts: string; type: string; v: number; data: JsonObject; meta?: JsonObject }, offset: number, bytes: number): void {
    const e: IndexedEvent = { seq: event.seq, offset, bytes, ts: event.ts, type: event.type, v: event.v, data: event.data as JsonObject };
    if (event.meta !== undefined) e.meta = event.meta as JsonObject;
    this.add(e);
  }
}

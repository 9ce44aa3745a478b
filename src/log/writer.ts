/**
 * The log writer: validates, stamps and group-commits events onto a LogStore.
 *
 * Group commit: `append` only validates and canonicalises (on the caller's turn) and queues.
 * One flush at a time takes every queued request (up to `batchEventsMax` events /
 * `batchBytesMax` bytes, never splitting a request), stamps `seq`, `ts` and `prev`, writes
 * them with one store append (one write + one fdatasync) and only then resolves each
 * caller with its ack `{seq, hash, size, logRoot}`, where `size`/`logRoot` are those of the
 * durable log after the batch (one tree root per batch, not per event: the root costs
 * O(log n) hashes and the event is provably included in it either way). Requests arriving
 * while a batch is being made durable wait for the next batch.
 *
 * Invariants:
 * - A rejected append (invalid input, over a limit, conflict) writes nothing, and a failed
 *   batch acknowledges none of its callers; the head is only advanced after durability.
 * - A store that reports a lasting `failure` after a failed append (an fdatasync error, the
 *   log file deleted) stops the writer with it: every queued and later append is refused
 *   with that error, and `stoppedReason` (the service's status) names it.
 * - `ts` never decreases: ts = max(clock, previous ts), read once per batch.
 * - The writer never reads the clock except through the injected `clock`.
 */
import { canonicalize } from '../canonical/json.js';
import type { JsonObject } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import { formatEventLine } from '../events/envelope.js';
import type { EventRegistry, EventTypeDef } from '../events/registry.js';
import { zeroHash64 } from '../hash/hex.js';
import { sha256, sha256Utf8 } from '../hash/sha256.js';
import type { HashReader } from '../merkle/log-tree.js';
import { LogTreeFrontier, proveConsistency, proveInclusion, treeHash } from '../merkle/log-tree.js';
import { limits } from '../limits.js';
import type { LogStore } from '../store/log-store.js';
import type { ChainHead } from './chain.js';

/** What a caller appends: a registered type, its version (latest when omitted), payload, meta. */
export interface AppendInput {
  type: string;
  v?: number;
  data: unknown;
  meta?: unknown;
}

/** The acknowledgement of one durable event. */
export interface Ack {
  seq: number;
  /** SHA-256 of the event line, hex. */
  hash: string;
  /** Size of the durable log when this ack was given (≥ seq + 1). */
  size: number;
  /** RFC 6962 root of the log of that size, hex. */
  logRoot: string;
}

export interface LogStatus {
  size: number;
  logRoot: string;
  headHash: string;
  lastTs: string;
}

/** Where the writer keeps the stored hashes of the log tree (derived; file or memory). */
export interface TreeStore extends HashReader {
  readonly count: number;
  append(hashes: Uint8Array[]): void;
}

export interface AppendOptions {
  /** Optimistic concurrency: the append is refused with STELE_E_CONFLICT unless the log has this size when its batch is stamped. */
  expectedSize?: number;
}

/**
 * Who appends an event: a caller directly (only `direct` types), a module's decider (any
 * registered type but `stele.*`), or stele itself (system types).
 */
export type EventSource = 'direct' | 'command' | 'system';

interface PreparedEvent {
  type: string;
  v: number;
  dataJson: string;
  metaJson: string | undefined;
}

/**
 * What a command request decides at stamping time: the events to append (maybe none), and
 * an error to reject the caller with once those events are durable (a guard's rejection,
 * whose decision record is among the events), or the result to resolve with.
 */
export interface StampDecision {
  inputs: AppendInput[];
  error?: Error;
}

interface Request {
  /** Events prepared on the caller's turn (plain appends). */
  events: PreparedEvent[];
  /**
   * A command: decided when its batch is stamped, against the state including every event
   * stamped before it (so two commands in one batch see each other), with the seq its
   * first event gets.
   */
  decide?: (seq: number) => StampDecision;
  /** The decision's error, set at stamping; the request is rejected with it after the write. */
  error?: Error;
  expectedSize: number | undefined;
  resolve: (acks: Ack[]) => void;
  reject: (err: unknown) => void;
}

/** An event as stamped by the writer, with its payload parsed back from its canonical text. */
export interface StampedEvent {
  seq: number;
  ts: string;
  type: string;
  v: number;
  data: JsonObject;
  meta?: JsonObject;
  hash: string;
}

/**
 * Hooks of a state machine riding on the writer (src/runtime/engine.ts). The writer stays
 * free of state: it only tells the hooks what it stamps, in order, before writing.
 */
export interface WriterHooks {
  /** Each event as it is stamped, in log order, before its batch is written. May throw (a bug): the request is refused and the writer stopped. */
  stamped(event: StampedEvent): void;
  /** After each request is stamped: a system event to append right after it (a due checkpoint), if any. `logRoot` is the root over the events stamped so far. */
  afterRequest?(size: number, logRoot: () => string): AppendInput | undefined;
  /** A batch whose events were given to `stamped` was not written (its callers are refused). */
  batchFailed?(err: unknown): void;
  /**
   * A batch is durable (written and fsynced), before its callers are resolved: its events
   * with their exact lines (no `\n`), in log order, and the durable status. Live views and
   * streams follow the log from here. Must not throw (a throw is a bug and crashes).
   */
  durable?(events: readonly DurableEvent[], status: LogStatus): void;
}

/** A durable event as the writer stamped it, with its line. */
export interface DurableEvent {
  event: StampedEvent;
  line: string;
}

export interface WriterDeps {
  hooks?: WriterHooks;
  store: LogStore;
  registry: EventRegistry;
  head: ChainHead;
  frontier: LogTreeFrontier;
  tree: TreeStore;
  /** Milliseconds since the epoch; injected so tests can step the clock back. */
  clock?: () => number;
}

const maxSeqForSizing = Number.MAX_SAFE_INTEGER;
const tsForSizing = '2026-11-22T10:00:00.000Z';

export class LogWriter {
  readonly registry: EventRegistry;
  readonly #store: LogStore;
  readonly #tree: TreeStore;
  readonly #clock: () => number;
  #hooks: WriterHooks | undefined;
  #head: ChainHead;
  #frontier: LogTreeFrontier;
  #logRoot: string;
  #lastTsMs: number;
  #queue: Request[] = [];
  #scheduled = false;
  #writing = false;
  #closed = false;
  /** Set by `stop`: every later append is refused with this error. */
  #stopped: Error | undefined;
  #drained: (() => void)[] = [];

  constructor(deps: WriterDeps) {
    this.#store = deps.store;
    this.registry = deps.registry;
    this.#head = deps.head;
    this.#frontier = deps.frontier;
    this.#tree = deps.tree;
    this.#clock = deps.clock ?? Date.now;
    this.#hooks = deps.hooks;
    this.#logRoot = Buffer.from(this.#frontier.root()).toString('hex');
    this.#lastTsMs = deps.head.lastTs === '' ? 0 : Date.parse(deps.head.lastTs);
  }

  /** Size, root and head of the durable log. */
  status(): LogStatus {
    return { size: this.#head.size, logRoot: this.#logRoot, headHash: this.#head.headHash, lastTs: this.#head.lastTs };
  }

  /** Why the writer refuses appends (lost lock, a bug in a hook), if it does. */
  get stoppedReason(): Error | undefined {
    return this.#stopped;
  }

  get store(): LogStore {
    return this.#store;
  }

  /**
   * Validates and canonicalises one input without writing anything. Throws a typed error:
   * unknown or reserved type, schema violation, non-canonicalisable JSON, line over the limit.
   */
  prepare(input: AppendInput, source: EventSource = 'direct'): PreparedEvent {
    if (typeof input !== 'object' || input === null) {
      throw steleError('STELE_E_SCHEMA', 'an append is an object {type, v?, data, meta?}', { fix: 'send {"type":"kv.put","data":{…}}' });
    }
    const type = input.type;
    if (typeof type !== 'string') throw steleError('STELE_E_SCHEMA', 'type must be a string', { where: { path: 'type' }, fix: 'send {"type":"kv.put","data":{…}}' });
    const v = input.v ?? this.registry.latestVersion(type) ?? 1;
    if (!Number.isSafeInteger(v) || v < 1) throw steleError('STELE_E_SCHEMA', 'v must be an integer ≥ 1', { where: { path: 'v' } });
    const def: EventTypeDef = source === 'system' ? this.#knownDef(type, v) : source === 'command' ? this.#commandDef(type, v) : this.registry.assertAppendable(type, v);
    const data = this.registry.validate(def.type, def.v, input.data);
    const dataJson = canonicalize(data);
    let metaJson: string | undefined;
    if (input.meta !== undefined) {
      if (typeof input.meta !== 'object' || input.meta === null || Array.isArray(input.meta)) {
        throw steleError('STELE_E_SCHEMA', 'meta must be a JSON object', { where: { path: 'meta' }, fix: 'send meta as {"actor": …} or leave it out' });
      }
      metaJson = canonicalize(input.meta);
    }
    const worst = formatEventLine(maxSeqForSizing, tsForSizing, type, v, dataJson, metaJson, zeroHash64);
    const bytes = Buffer.byteLength(worst);
    if (bytes > limits.lineBytesMax) {
      throw steleError('STELE_E_LINE_TOO_LARGE', `the event line would be ${bytes} bytes, over the limit of ${limits.lineBytesMax}`, {
        expected: `<= ${limits.lineBytesMax} bytes`,
        found: `${bytes} bytes`,
        fix: 'store large content as a bundle and reference its hash, or split the payload',
      });
    }
    return { type, v, dataJson, metaJson };
  }

  /** Events a decider emits: any registered type but the reserved system ones. */
  #commandDef(type: string, v: number): EventTypeDef {
    const def = this.#knownDef(type, v);
    if (def.reserved === true) throw steleError('STELE_E_RESERVED_TYPE', `${type} is a reserved system event type; a module cannot emit it`);
    return def;
  }

  #knownDef(type: string, v: number): EventTypeDef {
    const def = this.registry.get(type, v);
    if (def === undefined) throw steleError('STELE_E_UNKNOWN_TYPE', `unknown event type ${type}@${v}`);
    return def;
  }

  /** Appends one event; resolves with its ack once it is durable. */
  async append(input: AppendInput, options: AppendOptions = {}): Promise<Ack> {
    const [ack] = await this.appendBatch([input], options);
    return ack!;
  }

  /**
   * Appends several events atomically with respect to validation: if any input is invalid,
   * the returned promise rejects with its error (`where.inputLine` = 1-based index) and
   * nothing is written. The events are written contiguously, in order, in one batch.
   */
  appendBatch(inputs: readonly AppendInput[], options: AppendOptions = {}): Promise<Ack[]> {
    return this.#enqueue(inputs, options, 'direct');
  }

  /** Installs the state machine's hooks; only while nothing is queued (at open). */
  setHooks(hooks: WriterHooks): void {
    this.#hooks = hooks;
  }

  /**
   * Appends the events of a command decided at stamping time (see `Request.decide`).
   * Resolves with the acks of its events (none for a no-op) once they are durable; rejects
   * with the decision's error after its events (a rejection record) are durable.
   */
  command(decide: (seq: number) => StampDecision, options: AppendOptions = {}): Promise<Ack[]> {
    if (this.#closed) return Promise.reject(steleError('STELE_E_CLOSED', 'the writer is closed', { fix: 'open the data directory again' }));
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    return new Promise<Ack[]>((resolve, reject) => {
      this.#queue.push({ events: [], decide, expectedSize: options.expectedSize, resolve, reject });
      this.#schedule();
    });
  }

  /** Appends a reserved system event (stele.recovered, stele.checkpoint); stele-internal. */
  appendSystem(input: AppendInput): Promise<Ack> {
    return this.#enqueue([input], {}, 'system').then((acks) => acks[0]!);
  }

  #enqueue(inputs: readonly AppendInput[], options: AppendOptions, source: EventSource): Promise<Ack[]> {
    if (this.#closed) return Promise.reject(steleError('STELE_E_CLOSED', 'the writer is closed', { fix: 'open the data directory again' }));
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    if (inputs.length === 0) return Promise.resolve([]);
    if (inputs.length > limits.stdinEventsMax) {
      return Promise.reject(
        steleError('STELE_E_BATCH_TOO_LARGE', `a batch of ${inputs.length} events is over the limit of ${limits.stdinEventsMax}`, {
          fix: `split the input into batches of at most ${limits.stdinEventsMax} events`,
        }),
      );
    }
    const events: PreparedEvent[] = new Array<PreparedEvent>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      try {
        events[i] = this.prepare(inputs[i]!, source);
      } catch (err) {
        return Promise.reject(toError(isSteleError(err) && inputs.length > 1 ? err.at({ inputLine: i + 1 }) : err));
      }
    }
    return new Promise<Ack[]>((resolve, reject) => {
      this.#queue.push({ events, expectedSize: options.expectedSize, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: every append made in this turn of the event loop
    // (including callers resumed by the previous batch's acks and requests parsed from
    // sockets in the same poll phase) joins the batch.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    let count = 0;
    let events = 0;
    let bytesEstimate = 0;
    for (const next of this.#queue) {
      const nextBytes = estimateBytes(next);
      const nextEvents = next.decide === undefined ? next.events.length : commandEventsEstimate;
      if (count > 0 && (events + nextEvents > limits.batchEventsMax || bytesEstimate + nextBytes > limits.batchBytesMax)) break;
      count++;
      events += nextEvents;
      bytesEstimate += nextBytes;
    }
    const taken = this.#queue.splice(0, count);
    const before = this.#head;
    let head = before;
    const parts: string[] = [];
    const storedHashes: Uint8Array[] = [];
    const accepted: { request: Request; acks: Ack[] }[] = [];
    // One clock read per batch; never before the previous event's ts.
    const nowMs = Math.max(this.#clock(), this.#lastTsMs);
    const ts = nowMs === this.#lastTsMs && head.lastTs !== '' ? head.lastTs : new Date(nowMs).toISOString();
    const hooks = this.#hooks;
    const durable: DurableEvent[] | undefined = hooks?.durable === undefined ? undefined : [];
    const stamp = (e: PreparedEvent): Ack => {
      const seq = head.size;
      const line = formatEventLine(seq, ts, e.type, e.v, e.dataJson, e.metaJson, head.headHash);
      const hashBytes = sha256Utf8(line);
      const hash = Buffer.from(hashBytes.buffer, hashBytes.byteOffset, 32).toString('hex');
      parts.push(line);
      for (const h of this.#frontier.append(hashBytes)) storedHashes.push(h);
      head = { size: seq + 1, headHash: hash, lastTs: ts };
      if (hooks !== undefined) {
        // The payload the state machine sees is parsed back from the canonical text, so it
        // is exactly what a replay of this line will see (numbers, key order, no aliasing).
        const stamped: StampedEvent = { seq, ts, type: e.type, v: e.v, data: JSON.parse(e.dataJson) as JsonObject, hash };
        if (e.metaJson !== undefined) stamped.meta = JSON.parse(e.metaJson) as JsonObject;
        hooks.stamped(stamped);
        durable?.push({ event: stamped, line });
      }
      return { seq, hash, size: 0, logRoot: '' };
    };
    let stampedAny = false;
    try {
      for (const request of taken) {
        if (request.expectedSize !== undefined && request.expectedSize !== head.size) {
          request.reject(
            steleError('STELE_E_CONFLICT', `expected the log to have ${request.expectedSize} events, it has ${head.size}`, {
              expected: String(request.expectedSize),
              found: String(head.size),
              fix: 'read the current size and retry',
            }),
          );
          continue;
        }
        let events = request.events;
        if (request.decide !== undefined) {
          try {
            const decision = request.decide(head.size);
            events = decision.inputs.map((input) => this.prepare(input, 'command'));
            if (decision.error !== undefined) request.error = decision.error;
          } catch (err) {
            request.reject(err);
            continue;
          }
        }
        const acks: Ack[] = [];
        for (const e of events) {
          stampedAny = true;
          acks.push(stamp(e));
        }
        accepted.push({ request, acks });
        const due = hooks?.afterRequest?.(head.size, () => Buffer.from(this.#frontier.root()).toString('hex'));
        if (due !== undefined) stamp(this.prepare(due, 'system'));
      }
    } catch (err) {
      // A hook threw (a bug in a module or the engine): the machine may hold part of this
      // batch, so nothing of it is written and the writer stops.
      this.#frontier = LogTreeFrontier.fromReader(sha256, before.size, this.#tree);
      const error = toError(err);
      for (const request of taken) request.reject(error);
      if (stampedAny) hooks?.batchFailed?.(err);
      this.stop(error);
      this.#finishFlush();
      return;
    }
    if (parts.length === 0) {
      for (const a of accepted) this.#settle(a.request, a.acks);
      this.#finishFlush();
      return;
    }
    parts.push('');
    const buffer = Buffer.from(parts.join('\n'), 'utf8');
    try {
      await this.#store.append(before.size, buffer, head.size - before.size);
    } catch (err) {
      // The tree store holds every stored hash up to the durable size: rebuild the frontier
      // from it (O(log n) reads) instead of copying the frontier before every batch.
      this.#frontier = LogTreeFrontier.fromReader(sha256, before.size, this.#tree);
      for (const a of accepted) a.request.reject(err);
      if (hooks !== undefined) hooks.batchFailed?.(err);
      const failure = this.#store.failure;
      if (failure !== undefined) this.stop(failure);
      this.#finishFlush();
      return;
    }
    this.#tree.append(storedHashes);
    this.#head = head;
    this.#lastTsMs = nowMs;
    this.#logRoot = Buffer.from(this.#frontier.root()).toString('hex');
    if (durable !== undefined) hooks?.durable?.(durable, this.status());
    for (const a of accepted) {
      for (const ack of a.acks) {
        ack.size = head.size;
        ack.logRoot = this.#logRoot;
      }
      this.#settle(a.request, a.acks);
    }
    this.#finishFlush();
  }

  #settle(request: Request, acks: Ack[]): void {
    if (request.error !== undefined) request.reject(request.error);
    else request.resolve(acks);
  }

  #finishFlush(): void {
    this.#writing = false;
    if (this.#queue.length > 0) this.#schedule();
    else {
      const waiters = this.#drained;
      this.#drained = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Refuses every append from now on with `reason` (e.g. the writer lock was lost: another
   * writer may be appending). Batches already being written finish; queued ones are refused.
   */
  stop(reason: Error): void {
    this.#stopped = reason;
    const queued = this.#queue.splice(0);
    for (const request of queued) request.reject(reason);
  }

  /** Resolves once every queued append has been written (or failed). */
  drain(): Promise<void> {
    if (!this.#writing && !this.#scheduled && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** RFC 9162 §2.1.3 inclusion proof of `seq` in the log of `size` (≤ current size). */
  proveInclusion(seq: number, size = this.#head.size): Uint8Array[] {
    this.#checkSize(size);
    return proveInclusion(sha256, seq, size, this.#tree);
  }

  /** RFC 9162 §2.1.4 consistency proof between sizes `size1` ≤ `size2` (≤ current size). */
  proveConsistency(size1: number, size2 = this.#head.size): Uint8Array[] {
    this.#checkSize(size2);
    return proveConsistency(sha256, size1, size2, this.#tree);
  }

  /** RFC 6962 root of the log at any `size` ≤ current size. */
  rootAt(size: number): string {
    this.#checkSize(size);
    return Buffer.from(treeHash(sha256, size, this.#tree)).toString('hex');
  }

  #checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#head.size) {
      throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `size ${size} is outside 0…${this.#head.size}`, {
        fix: `ask for a size between 0 and the current size ${this.#head.size}`,
      });
    }
  }

  /** Stops accepting appends, finishes queued ones, closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drain();
    this.#closed = true;
    await this.#store.close();
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A command's events are known only when it is decided at stamping, so batches are cut on
 * an estimate: commands emit one event (rarely two: a rejection record), of a few hundred
 * bytes. A batch may therefore exceed batchBytesMax by the difference, never by more than
 * its commands × lineBytesMax.
 */
const commandEventsEstimate = 1;
const commandBytesEstimate = 1024;

/** Upper bound of a request's line bytes, for cutting batches before stamping. */
function estimateBytes(request: Request): number {
  let n = request.decide === undefined ? 0 : commandBytesEstimate;
  // The envelope around data/meta is < 200 bytes (prev 64, ts 24, seq ≤ 16, keys, type).
  for (const e of request.events) n += e.dataJson.length * 3 + (e.metaJson === undefined ? 0 : e.metaJson.length * 3) + 200 + e.type.length;
  return n;
}


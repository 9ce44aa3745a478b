/**
 * The Server-Sent Events hub behind `GET /v1/stream` (docs/http-api.md), served by the writer
 * and by the read-only observer: fan-out of new log events, coalesced status changes and
 * integrity alarms to every connected client, resume from `Last-Event-ID`, heartbeats, and
 * backpressure.
 *
 * better-sse owns the connection: the response head and its headers (`Content-Type:
 * text/event-stream`, `Cache-Control: no-cache…`, `X-Accel-Buffering: no`), the `retry:` line
 * that is the first write (so proxies flush the head), Nagle off, and disconnect detection.
 * Its `EventBuffer` formats every frame (`event:`/`id:`/`data:` fields). The hub writes the
 * formatted text to the response itself rather than through `Session.push`/`Session.batch`,
 * because those discard `res.write`'s result and write unconditionally, and the hub needs to
 * check the client's queue before every write and to wait for `drain` while it streams a
 * backlog. better-sse's keep-alive is off for the same reason (it writes on a per-session
 * timer behind the hub's back, and would leak its interval if a client left before the
 * session connected); one hub-wide timer writes the documented `: heartbeat` comment through
 * the same checked path.
 *
 * Invariants:
 * - A client receives each event at most once and in seq order: `sentSeq` is the highest seq
 *   written to it (or its Last-Event-ID), and anything at or below it is skipped.
 * - A resuming client sees no gap: events published while its backlog is read from the log
 *   are held for it (bounded by clientBufferBytesMax) and sent after, minus the ones the log
 *   already gave it. If the live events still do not continue where it is (a caller broke the
 *   contract below), its stream is ended so that it resumes from the log, never skipped.
 * - Nothing is buffered without bound: a client whose unsent bytes exceed
 *   clientBufferBytesMax is disconnected (it resumes with Last-Event-ID), so the hub holds at
 *   most that plus one write per client. A batch is formatted once and the same string is
 *   written to every client, one write per client per batch.
 * - Refusals (bad Last-Event-ID or Host, too many clients, shut down) are thrown before
 *   anything is written, so the route can still answer with a JSON error (`admit` lets a
 *   Fastify route do so before it hijacks the reply).
 *
 * Contract of the caller: every event passed to `publishEvents` is already readable through
 * `backlog` (publish after the events are durable and indexed), and `publishEvents` is called
 * in log order.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventBuffer, Session } from 'better-sse';
import { isSteleError, steleError } from '../errors.js';
import { limits } from '../limits.js';
import type { Logger } from '../logger.js';

/** Interval of the `: heartbeat` comment: keeps idle connections open through proxies and
 * load balancers whose idle timeouts are commonly 30–60 s, and lets a client notice a dead
 * server well before that. */
export const streamHeartbeatMs = 15_000;
/** At most one `status` event per this interval (last value wins): a busy writer changes its
 * status on every batch, and a dashboard gains nothing from more than four updates a second. */
export const streamStatusIntervalMs = 250;
/** Reconnection delay asked of clients (the `retry:` line): a client dropped for being slow or
 * cut after a bounded resume comes back quickly, without hammering a restarting server. */
export const streamRetryMs = 2_000;
/** Events read from the log per backlog call while resuming: the same page as `GET
 * /v1/events`, so one read never holds more than a page of events in memory. */
const backlogPageEventsMax = limits.pageItemsMax;

/** One event of the log, its JSON already serialized exactly as stored. */
export interface StreamEvent {
  seq: number;
  /** The event JSON `{seq, ts, type, v, data, meta?, prev, hash}`, one line, no `\n`. */
  json: string;
}

export interface StreamHubOptions {
  /** Reads events with seq > afterSeq from the log, in order, at most `max`; returns [] when none. */
  backlog: (afterSeq: number, max: number) => StreamEvent[] | Promise<StreamEvent[]>;
  /** The current log size (the seq the next event will have). */
  size: () => number;
  /** Interval of the heartbeat comment; default streamHeartbeatMs. */
  heartbeatMs?: number;
  /** Concurrent clients; default limits.sseClientsMax. */
  clientsMax?: number;
  /** Unsent bytes a client may have queued before it is dropped; default limits.sseClientBufferBytesMax. */
  clientBufferBytesMax?: number;
  /** Events sent from the log to one resuming connection; default limits.sseResumeEventsMax. */
  resumeEventsMax?: number;
  logger?: Logger;
}

/** One publish, formatted once and shared by every client that receives it. */
interface Frame {
  /** The SSE text of the whole publish. */
  text: string;
  /** For a batch of events: the first and last seq, and where each event's frame starts in
   * `text` (so a client that already has a prefix gets the rest by one slice). */
  firstSeq: number;
  lastSeq: number;
  offsets: number[] | undefined;
  /** UTF-8 length of `text`, computed only when a frame is held for a resuming client. */
  bytes: number | undefined;
}

/** connecting: the head is not out yet, nothing may be written; catching-up: the backlog
 * (if any) and what was held are being sent; live: publishes are written at once. */
type Phase = 'connecting' | 'catching-up' | 'live';

interface Client {
  id: number;
  res: ServerResponse;
  phase: Phase;
  /** Highest seq written to this client, or its Last-Event-ID; undefined until a client
   * attached without one has received an event. */
  sentSeq: number | undefined;
  /** Frames published while the client connects or reads its backlog, in order. */
  held: Frame[];
  heldBytes: number;
  /** Set once the hub has let go of the client (closed, dropped or ended); never written again. */
  gone: boolean;
  /** Resolves when the response has closed (better-sse's `disconnected`). */
  closed: Promise<void>;
}

function framingError(text: string): string {
  // Canonical event JSON and JSON.stringify output never contain a raw line break; one
  // would split the `data:` field and corrupt the stream, so it is a bug, not input.
  assert.ok(!/[\r\n]/.test(text), 'an SSE field value must be a single line');
  return text;
}

function preSerialized(data: unknown): string {
  // Event JSON arrives serialized; the hub must not stringify it again (hot path).
  assert.equal(typeof data, 'string', 'the hub pushes only pre-serialized JSON');
  return data as string;
}

/**
 * Parses a Last-Event-ID (header or `?lastEventId=`): a canonical non-negative integer seq
 * no greater than `size` (`size - 1` means caught up). Returns undefined when absent; throws
 * STELE_E_USAGE for anything else, including an empty value and leading zeros, which the hub
 * never sends as an id.
 */
export function parseLastEventId(value: string | undefined, size: number): number | undefined {
  if (value === undefined) return undefined;
  const seq = /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq > size) {
    throw steleError('STELE_E_USAGE', `Last-Event-ID ${JSON.stringify(value)} is not a seq of this log`, {
      expected: `an integer seq from 0 to ${size}`,
      found: value,
      fix: 'Send the id of the last event received (its seq), or no Last-Event-ID to follow only new events.',
      detail: { header: 'Last-Event-ID', query: 'lastEventId', size },
    });
  }
  return seq;
}

/** The raw Last-Event-ID of a request: the header, else the `lastEventId` query parameter
 * (EventSource polyfills and hand-written URLs use it), else undefined. */
export function requestLastEventId(req: IncomingMessage): string | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string') return header;
  const url = new URL(req.url ?? '/', 'http://stream.invalid');
  return url.searchParams.get('lastEventId') ?? undefined;
}

/**
 * better-sse builds a WHATWG URL from the request's path and Host header and throws a
 * TypeError (before anything is written) when they do not form one, e.g. `Host: a b`, which
 * Node's parser lets through. The same check here turns that into a usage error (400)
 * instead of a failure of the route.
 */
function checkRequestUrl(req: IncomingMessage): void {
  const host = req.headers.host ?? 'localhost';
  try {
    new URL(req.url ?? '/', `http://${host}`);
  } catch (err) {
    throw steleError('STELE_E_USAGE', `the Host header ${JSON.stringify(host)} and path do not form a valid URL`, {
      found: host,
      fix: 'Send a valid Host header (a host name or address, with an optional port).',
      detail: { header: 'Host' },
      cause: err,
    });
  }
}

/** Resolves on the response's next `drain` or `close`, whichever comes first. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export class StreamHub {
  readonly #backlog: StreamHubOptions['backlog'];
  readonly #size: () => number;
  readonly #heartbeatMs: number;
  readonly #clientsMax: number;
  readonly #bufferBytesMax: number;
  readonly #resumeEventsMax: number;
  readonly #logger: Logger | undefined;

  readonly #clients = new Set<Client>();
  #nextClientId = 1;
  #dropped = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** One reused buffer for formatting; used synchronously only, so never shared mid-frame. */
  readonly #buffer = new EventBuffer({ serializer: preSerialized, sanitizer: framingError });
  readonly #heartbeatFrame: Frame;
  #heartbeatTimer: NodeJS.Timeout | undefined;

  #statusLatest: object | undefined;
  /** The frame of the latest status, formatted once when first needed (by a send or by a
   * client attaching, which gets it first); reset by every publishStatus. */
  #statusFrame: Frame | undefined;
  #statusSentAt = Number.NEGATIVE_INFINITY;
  #statusTimer: NodeJS.Timeout | undefined;

  constructor(options: StreamHubOptions) {
    this.#backlog = options.backlog;
    this.#size = options.size;
    this.#heartbeatMs = options.heartbeatMs ?? streamHeartbeatMs;
    this.#clientsMax = options.clientsMax ?? limits.sseClientsMax;
    this.#bufferBytesMax = options.clientBufferBytesMax ?? limits.sseClientBufferBytesMax;
    this.#resumeEventsMax = options.resumeEventsMax ?? limits.sseResumeEventsMax;
    this.#logger = options.logger;
    assert.ok(Number.isSafeInteger(this.#heartbeatMs) && this.#heartbeatMs > 0, 'heartbeatMs must be a positive integer');
    assert.ok(Number.isSafeInteger(this.#clientsMax) && this.#clientsMax > 0, 'clientsMax must be a positive integer');
    assert.ok(Number.isSafeInteger(this.#bufferBytesMax) && this.#bufferBytesMax > 0, 'clientBufferBytesMax must be a positive integer');
    assert.ok(Number.isSafeInteger(this.#resumeEventsMax) && this.#resumeEventsMax > 0, 'resumeEventsMax must be a positive integer');
    this.#heartbeatFrame = this.#textFrame(this.#buffer.clear().comment(' heartbeat').dispatch().read());
  }

  /** Clients attached now (connecting, catching up or live). */
  get clients(): number {
    return this.#clients.size;
  }

  /** Clients disconnected so far because their unsent bytes exceeded clientBufferBytesMax. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Throws the SteleError `attach` would refuse this client with (STELE_E_CLOSED,
   * STELE_E_USAGE for a bad Last-Event-ID or Host, STELE_E_BUSY at clientsMax), touching nothing.
   * Lets a Fastify route answer with its normal JSON error before `reply.hijack()`; calling
   * `attach` synchronously after it (no await between) cannot then be refused.
   */
  admit(req: IncomingMessage, lastEventId: string | undefined): void {
    this.#admit(req, lastEventId);
  }

  #admit(req: IncomingMessage, lastEventId: string | undefined): number | undefined {
    if (this.#closed) {
      throw steleError('STELE_E_CLOSED', 'the event stream is shutting down', {
        fix: 'Reconnect once the service is back; resume with Last-Event-ID to miss nothing.',
      });
    }
    checkRequestUrl(req);
    const after = parseLastEventId(lastEventId, this.#size());
    if (this.#clients.size >= this.#clientsMax) {
      throw steleError('STELE_E_BUSY', `${this.#clientsMax} stream clients are connected, the most this process serves`, {
        fix: 'Retry later (resume with Last-Event-ID to miss nothing), or serve readers from an observer process.',
        detail: { clientsMax: this.#clientsMax },
      });
    }
    return after;
  }

  /**
   * Attaches a client: raw Node req/res (from Fastify: `reply.hijack()`, then `request.raw`,
   * `reply.raw`). `lastEventId` is the raw header or query value (see requestLastEventId).
   *
   * Rejects only before anything is written (see `admit`). With a Last-Event-ID N the client
   * first gets every event after N from the log, in pages, then live events. A resume is
   * bounded: after resumeEventsMax events from the log, if there is more, the stream ends and
   * the client (EventSource does this by itself) reconnects with its new Last-Event-ID. Without
   * one, it gets only events published after this call. Resolves once the client is live or
   * gone; a failure to read the log after the head was sent is logged and ends the stream.
   */
  async attach(req: IncomingMessage, res: ServerResponse, lastEventId: string | undefined): Promise<void> {
    const after = this.#admit(req, lastEventId);
    // better-sse sends the head and the retry line on the next turn (setImmediate).
    const session = new Session(req, res, { keepAlive: null, retry: streamRetryMs, trustClientEventId: false });
    let onClosed: () => void = () => {};
    const client: Client = {
      id: this.#nextClientId++,
      res,
      phase: 'connecting',
      sentSeq: after,
      held: [],
      heldBytes: 0,
      gone: false,
      closed: new Promise((resolve) => (onClosed = resolve)),
    };
    // Registered before the first await: everything published from now on reaches the
    // client, held until it is ready for it.
    this.#clients.add(client);
    if (this.#clients.size === 1) this.#startHeartbeat();
    const status = this.#currentStatusFrame();
    if (status !== undefined) this.#hold(client, status);

    session.once('disconnected', () => {
      this.#forget(client);
      onClosed();
    });
    // better-sse always connects (sends the head and the retry line) on the next turn, even
    // for a client that already left; `disconnected` then follows.
    await new Promise<void>((resolve) => session.once('connected', resolve));
    this.#logger?.debug({ client: client.id, lastEventId: after }, 'stream client attached');
    if (client.gone) return;
    client.phase = 'catching-up';
    if (this.#closed) {
      this.#end(client, 'shutdown');
      return;
    }
    if (after !== undefined) {
      try {
        if (!(await this.#resume(client, after))) return;
      } catch (err) {
        if (!isSteleError(err)) {
          this.#kill(client);
          throw err;
        }
        this.#logger?.error({ client: client.id, err }, 'stream backlog read failed; ending the stream so the client resumes');
        if (!client.gone) this.#end(client, 'backlog read failed');
        return;
      }
      if (client.gone) return;
    }
    this.#goLive(client);
  }

  /**
   * Sends a backlog from the log. Returns false when the client is gone or its stream was
   * ended (resume limit), true when it should go live with what was held for it.
   */
  async #resume(client: Client, after: number): Promise<boolean> {
    let sentFromLog = 0;
    let cursor = after;
    for (;;) {
      if (client.gone) return false;
      // Events already held in memory need not be read from the log again.
      const heldFirst = this.#heldFirstSeq(client);
      if (heldFirst !== undefined && cursor >= heldFirst - 1) return true;
      if (sentFromLog >= this.#resumeEventsMax) {
        const more = cursor < this.#size() - 1 || this.#heldLastSeq(client) > cursor;
        if (!more) return true;
        this.#logger?.info({ client: client.id, sentSeq: cursor, events: sentFromLog }, 'stream resume limit reached; the client reconnects to continue');
        this.#end(client, 'resume limit');
        return false;
      }
      const want = Math.min(backlogPageEventsMax, this.#resumeEventsMax - sentFromLog);
      const page = await this.#backlog(cursor, want);
      if (client.gone) return false;
      if (page.length === 0) return true;
      assert.ok(page.length <= want, 'backlog returned more events than asked');
      const frame = this.#eventsFrame(page);
      assert.equal(frame.firstSeq, cursor + 1, 'backlog must return the events right after afterSeq');
      if (!this.#write(client, frame.text)) return false;
      cursor = frame.lastSeq;
      client.sentSeq = cursor;
      sentFromLog += page.length;
      // Flow control instead of dropping: a healthy client fed from the log must not be
      // disconnected for reading slower than the disk. A client that stops reading stalls
      // here while what is held for it grows until #hold drops it (which closes `res`).
      // `writableNeedDrain`: a write returned false, so 'drain' (or 'close') will follow.
      if (client.res.writableNeedDrain) await drainedOrClosed(client.res);
    }
  }

  /** Flushes what was held for the client (one write) and makes it live; synchronous, so no
   * publish can slip between the two. */
  #goLive(client: Client): void {
    const parts: string[] = [];
    for (const frame of client.held) {
      const text = this.#textFor(client, frame);
      if (text === undefined) return; // gap: ended
      if (text !== '') parts.push(text);
    }
    client.held = [];
    client.heldBytes = 0;
    client.phase = 'live';
    if (parts.length > 0) this.#write(client, parts.join(''));
  }

  /**
   * New durable events, in log order (contiguous seqs): formatted once, written to every live
   * client in one write, held for clients still connecting or catching up.
   */
  publishEvents(events: StreamEvent[]): void {
    // Fast case: nobody listens, nothing to format.
    if (this.#closed || events.length === 0 || this.#clients.size === 0) return;
    this.#publish(this.#eventsFrame(events));
  }

  /** A status change; coalesced to at most one `status` event per streamStatusIntervalMs,
   * the last value winning. Stringified once per sent status, not per publish or client. */
  publishStatus(status: object): void {
    if (this.#closed) return;
    this.#statusLatest = status;
    this.#statusFrame = undefined;
    if (this.#statusTimer !== undefined) return;
    const waitMs = this.#statusSentAt + streamStatusIntervalMs - performance.now();
    if (waitMs <= 0) {
      this.#sendStatus();
      return;
    }
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      this.#sendStatus();
    }, waitMs);
    this.#statusTimer.unref();
  }

  /** An integrity alarm `{code, message, where}`, sent at once to every client. */
  publishAlarm(alarm: object): void {
    if (this.#closed || this.#clients.size === 0) return;
    // No `id:` field: an empty id would reset the client's Last-Event-ID (WHATWG SSE §9.2.6).
    this.#publish(this.#textFrame(this.#buffer.clear().event('alarm').data(JSON.stringify(alarm)).dispatch().read()));
  }

  /** Ends every stream (graceful shutdown: clients see the end and reconnect elsewhere or
   * later), clears the timers, and resolves once every response has closed. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    clearTimeout(this.#statusTimer);
    this.#statusTimer = undefined;
    const closed: Promise<void>[] = [];
    for (const client of [...this.#clients]) {
      closed.push(client.closed);
      // A connecting client is ended by attach once its head is out (writing before that
      // would race better-sse's head); the others now.
      if (client.phase !== 'connecting') this.#end(client, 'shutdown');
    }
    this.#closing = Promise.all(closed).then(() => {
      this.#stopHeartbeat();
    });
    return this.#closing;
  }

  #sendStatus(): void {
    this.#statusSentAt = performance.now();
    if (this.#closed || this.#clients.size === 0) return;
    const frame = this.#currentStatusFrame();
    if (frame !== undefined) this.#publish(frame);
  }

  #currentStatusFrame(): Frame | undefined {
    if (this.#statusFrame === undefined && this.#statusLatest !== undefined) {
      this.#statusFrame = this.#textFrame(this.#buffer.clear().event('status').data(JSON.stringify(this.#statusLatest)).dispatch().read());
    }
    return this.#statusFrame;
  }

  #publish(frame: Frame): void {
    // Deleting from a Set while iterating it (a dropped client) is safe in JavaScript.
    for (const client of this.#clients) {
      if (client.phase === 'live') {
        const text = this.#textFor(client, frame);
        if (text !== undefined && text !== '') this.#write(client, text);
      } else {
        this.#hold(client, frame);
      }
    }
  }

  /**
   * The part of a frame this client still needs: all of it, a suffix (it already has the
   * first events), '' (it has them all), or undefined after ending its stream on a gap.
   */
  #textFor(client: Client, frame: Frame): string | undefined {
    if (frame.offsets === undefined) return frame.text;
    const sent = client.sentSeq;
    if (sent === undefined || frame.firstSeq === sent + 1) {
      client.sentSeq = frame.lastSeq;
      return frame.text;
    }
    if (frame.lastSeq <= sent) return '';
    if (frame.firstSeq > sent + 1) {
      this.#logger?.warn({ client: client.id, sentSeq: sent, nextSeq: frame.firstSeq }, 'stream gap; ending the stream so the client resumes from the log');
      this.#end(client, 'gap');
      return undefined;
    }
    const offset = frame.offsets[sent + 1 - frame.firstSeq];
    assert.ok(offset !== undefined);
    client.sentSeq = frame.lastSeq;
    return frame.text.slice(offset);
  }

  /** Holds a frame for a client that is not live yet; drops it over clientBufferBytesMax. */
  #hold(client: Client, frame: Frame): void {
    frame.bytes ??= Buffer.byteLength(frame.text);
    client.held.push(frame);
    client.heldBytes += frame.bytes;
    const queued = client.heldBytes + client.res.writableLength;
    if (queued > this.#bufferBytesMax) this.#drop(client, queued);
  }

  #heldFirstSeq(client: Client): number | undefined {
    for (const frame of client.held) if (frame.offsets !== undefined) return frame.firstSeq;
    return undefined;
  }

  #heldLastSeq(client: Client): number {
    for (let i = client.held.length - 1; i >= 0; i--) {
      const frame = client.held[i];
      if (frame?.offsets !== undefined) return frame.lastSeq;
    }
    return -1;
  }

  /** Writes to a client unless its unsent bytes already exceed the bound, in which case it
   * is dropped. Returns whether the text was written. */
  #write(client: Client, text: string): boolean {
    if (client.gone) return false;
    const queued = client.res.writableLength;
    if (queued > this.#bufferBytesMax) {
      this.#drop(client, queued);
      return false;
    }
    client.res.write(text);
    return true;
  }

  #drop(client: Client, bytes: number): void {
    if (client.gone) return;
    this.#dropped++;
    this.#logger?.warn({ client: client.id, bytes, bytesMax: this.#bufferBytesMax, sentSeq: client.sentSeq }, 'stream client too slow; dropped (it can resume with Last-Event-ID)');
    this.#kill(client);
  }

  /** Destroys the connection at once (the socket goes; nothing queued is sent). */
  #kill(client: Client): void {
    this.#forget(client);
    client.res.destroy();
  }

  /** Ends the stream cleanly (the client sees the end and reconnects). On shutdown, a client
   * whose bytes could not all be handed to the OS is destroyed instead, so that closing
   * never waits on a client that does not read. */
  #end(client: Client, reason: string): void {
    if (client.gone) return;
    assert.notEqual(client.phase, 'connecting', 'the head must be out before the stream is ended');
    this.#logger?.debug({ client: client.id, reason, sentSeq: client.sentSeq }, 'stream ended');
    // Forget first: once ended, nothing may be written (a write after end is an error event).
    this.#forget(client);
    client.res.end();
    if (reason === 'shutdown' && client.res.writableLength > 0) client.res.destroy();
  }

  #forget(client: Client): void {
    if (client.gone) return;
    client.gone = true;
    client.held = [];
    client.heldBytes = 0;
    this.#clients.delete(client);
    if (this.#clients.size === 0) this.#stopHeartbeat();
  }

  #startHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined) return;
    this.#heartbeatTimer = setInterval(() => {
      for (const client of this.#clients) {
        // A comment between whole frames is harmless, so catching-up clients get it too.
        if (client.phase !== 'connecting') this.#write(client, this.#heartbeatFrame.text);
      }
    }, this.#heartbeatMs);
    // The server keeps the process alive, not the heartbeat.
    this.#heartbeatTimer.unref();
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  /** Formats a batch of contiguous events into one frame (one `event:`/`id:`/`data:` block each). */
  #eventsFrame(events: StreamEvent[]): Frame {
    const first = events[0];
    assert.ok(first !== undefined);
    const buffer = this.#buffer.clear();
    const offsets = new Array<number>(events.length);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as StreamEvent;
      assert.equal(event.seq, first.seq + i, 'published events must have contiguous seqs');
      offsets[i] = buffer.read().length;
      buffer.push(event.json, 'event', String(event.seq));
    }
    return { text: buffer.read(), firstSeq: first.seq, lastSeq: first.seq + events.length - 1, offsets, bytes: undefined };
  }

  /** A frame that is not a log event (status, alarm, heartbeat): no seq, sent as is. */
  #textFrame(text: string): Frame {
    return { text, firstSeq: -1, lastSeq: -1, offsets: undefined, bytes: undefined };
  }
}

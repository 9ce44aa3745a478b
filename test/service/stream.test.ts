/**
 * The SSE hub over real sockets: a plain `http.createServer` (and one Fastify 5 route) on an
 * ephemeral port, read by a hand-written SSE client that parses `id:`/`event:`/`data:` lines
 * the way EventSource does. Covers the wire format, heartbeats, resume with no gap and no
 * repeat while events are being published, bounded resumes, refusals before anything is
 * written, backpressure (a client that stops reading is dropped while a normal one gets
 * everything), status coalescing, cleanup and shutdown.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSteleError, steleError } from '../../src/errors.js';
import { limits } from '../../src/limits.js';
import { parseLastEventId, requestLastEventId, StreamHub, streamRetryMs, streamStatusIntervalMs } from '../../src/service/stream.js';
import type { StreamEvent, StreamHubOptions } from '../../src/service/stream.js';

// ---------------------------------------------------------------------------------------
// Test doubles: an in-memory log, a logger that keeps its lines, a bounded poll.

/** An in-memory log whose events look like stele's (one JSON line each). */
class MemoryLog {
  readonly events: StreamEvent[] = [];
  backlogCalls: { afterSeq: number; max: number }[] = [];

  constructor(size = 0, payloadBytes = 0) {
    this.append(size, payloadBytes);
  }

  get size(): number {
    return this.events.length;
  }

  append(count: number, payloadBytes = 0): StreamEvent[] {
    const added: StreamEvent[] = [];
    for (let i = 0; i < count; i++) {
      const seq = this.events.length;
      const json = JSON.stringify({
        seq,
        ts: new Date(Date.UTC(2026, 10, 22, 10, 0, 0, seq)).toISOString(),
        type: 'kv.put',
        v: 1,
        data: { key: `k${seq}`, value: 'x'.repeat(payloadBytes), note: 'ünïcode' },
        prev: seq.toString(16).padStart(64, '0'),
        hash: (seq + 1).toString(16).padStart(64, '0'),
      });
      const event = { seq, json };
      this.events.push(event);
      added.push(event);
    }
    return added;
  }

  read(afterSeq: number, max: number): StreamEvent[] {
    this.backlogCalls.push({ afterSeq, max });
    return this.events.slice(afterSeq + 1, afterSeq + 1 + max);
  }
}

function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** Waits for a condition with a bounded poll; fails with `what` instead of hanging. */
async function until(cond: () => boolean, what: string, pollsMax = 2000): Promise<void> {
  for (let i = 0; i < pollsMax; i++) {
    if (cond()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

function range(from: number, toInclusive: number): number[] {
  return Array.from({ length: toInclusive - from + 1 }, (_, i) => from + i);
}

// ---------------------------------------------------------------------------------------
// A hand-written SSE client (WHATWG HTML §9.2.6 parsing, enough for these tests).

interface SseMessage {
  event: string;
  /** The id field of this message, if it had one. */
  id: string | undefined;
  data: string;
}

class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** Every byte of the body, in order (for the first-write check). */
  raw = '';
  ended = false;
  closed = false;
  #pending = '';
  #event = '';
  #id: string | undefined;
  #data: string[] = [];

  constructor(
    readonly request: http.ClientRequest,
    readonly response: http.IncomingMessage,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.#feed(chunk));
    response.on('end', () => (this.ended = true));
    response.on('close', () => (this.closed = true));
    response.on('error', () => (this.closed = true));
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The seqs of the `event` messages received, in order. */
  get seqs(): number[] {
    return this.messages.filter((m) => m.event === 'event').map((m) => Number(m.id));
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? -1;
  }

  ofType(event: string): SseMessage[] {
    return this.messages.filter((m) => m.event === event);
  }

  #feed(chunk: string): void {
    this.raw += chunk;
    this.#pending += chunk;
    let nl: number;
    while ((nl = this.#pending.indexOf('\n')) !== -1) {
      let line = this.#pending.slice(0, nl);
      this.#pending = this.#pending.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.messages.push({ event: this.#event || 'message', id: this.#id, data: this.#data.join('\n') });
      this.#event = '';
      this.#id = undefined;
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.#event = value;
    else if (field === 'id') this.#id = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'retry') this.retry = Number(value);
  }

  close(): void {
    this.request.destroy();
  }
}

/** Opens a stream; resolves once the response head arrived. No agent: one socket each. */
function connect(port: number, options: { lastEventId?: string; path?: string } = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const request = http.get({ host: '127.0.0.1', port, path: options.path ?? '/v1/stream', headers, agent: false }, (response) => {
      resolve(new SseClient(request, response));
    });
    request.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// A server around a hub, mapping refusals the way the service route does.

interface Served {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  attached: Promise<void>;
}

interface Harness {
  hub: StreamHub;
  log: MemoryLog;
  port: number;
  served: Served[];
  /** Called synchronously right after `attach` is started (to publish while it connects). */
  onAttach?: () => void;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  vi.restoreAllMocks();
});

function statusOf(code: string): number {
  return code === 'STELE_E_USAGE' ? 400 : 503;
}

async function startHarness(options: Partial<StreamHubOptions> = {}, log = new MemoryLog()): Promise<Harness> {
  const hub = new StreamHub({ backlog: (after, max) => log.read(after, max), size: () => log.size, ...options });
  const served: Served[] = [];
  const harness: Harness = { hub, log, port: 0, served };
  const server = http.createServer((req, res) => {
    const attached = hub.attach(req, res, requestLastEventId(req)).catch((err: unknown) => {
      if (!isSteleError(err)) throw err;
      // Refusals come before anything is written, so a normal JSON error can still go out.
      expect(res.headersSent).toBe(false);
      res.writeHead(statusOf(err.code), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: err.toJSON() }));
    });
    served.push({ req, res, attached });
    harness.onAttach?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  harness.port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return harness;
}

/** A request that the hub refuses: the status and the error code of the JSON body. */
async function refused(port: number, lastEventId?: string, path = '/v1/stream'): Promise<{ status: number; code: string; contentType: string | undefined }> {
  const client = await connect(port, { lastEventId, path });
  await until(() => client.ended, 'the error response');
  const body = JSON.parse(client.raw) as { error: { code: string } };
  return { status: client.status, code: body.error.code, contentType: client.response.headers['content-type'] };
}

// ---------------------------------------------------------------------------------------

describe('StreamHub: wire format', () => {
  it('sends events with id and data byte for byte, status and alarm without ids, a retry line first', async () => {
    const h = await startHarness({}, new MemoryLog(3));
    const client = await connect(h.port);
    expect(client.status).toBe(200);
    expect(client.response.headers['content-type']).toBe('text/event-stream');
    expect(client.response.headers['cache-control']).toContain('no-cache');
    expect(client.response.headers['x-accel-buffering']).toBe('no');
    await until(() => client.retry !== undefined, 'the retry line');
    // The very first bytes are a field no EventSource dispatches, so proxies flush the head.
    expect(client.raw.startsWith('retry:')).toBe(true);
    expect(client.retry).toBe(streamRetryMs);
    await until(() => h.hub.clients === 1, 'the client to be attached');

    const added = h.log.append(3);
    h.hub.publishEvents(added);
    h.hub.publishStatus({ size: 6, integrity: { status: 'ok' } });
    h.hub.publishAlarm({ code: 'STELE_E_INTEGRITY_ALARM', message: 'log shrank', where: { file: 'events.ndjson' } });
    await until(() => client.messages.length === 5, 'three events, a status and an alarm');

    expect(client.messages.slice(0, 3)).toEqual(added.map((e) => ({ event: 'event', id: String(e.seq), data: e.json })));
    expect(client.messages[3]).toEqual({ event: 'status', id: undefined, data: JSON.stringify({ size: 6, integrity: { status: 'ok' } }) });
    expect(client.messages[4]).toEqual({
      event: 'alarm',
      id: undefined,
      data: JSON.stringify({ code: 'STELE_E_INTEGRITY_ALARM', message: 'log shrank', where: { file: 'events.ndjson' } }),
    });
    // Without Last-Event-ID: only what was published after attaching, never read from the log.
    expect(client.seqs).toEqual([3, 4, 5]);
    expect(h.log.backlogCalls).toEqual([]);
  });

  it('sends a heartbeat comment every heartbeatMs', async () => {
    const h = await startHarness({ heartbeatMs: 20 });
    const client = await connect(h.port);
    await until(() => client.comments.filter((c) => c === 'heartbeat').length >= 2, 'two heartbeats');
    expect(client.messages).toEqual([]);
  });

  it('writes a batch of 1,000 events to each client in one write', async () => {
    const h = await startHarness();
    const a = await connect(h.port);
    const b = await connect(h.port);
    await until(() => h.hub.clients === 2 && a.retry !== undefined && b.retry !== undefined, 'two clients');
    // Let the attach finish (the client goes live) before counting writes.
    await Promise.all(h.served.map((s) => s.attached));
    const writes = h.served.map((s) => vi.spyOn(s.res, 'write'));
    h.hub.publishEvents(h.log.append(1000));
    await until(() => a.seqs.length === 1000 && b.seqs.length === 1000, 'every event at both clients');
    expect(writes.map((w) => w.mock.calls.length)).toEqual([1, 1]);
    expect(a.seqs).toEqual(range(0, 999));
    expect(b.seqs).toEqual(range(0, 999));
  });
});

describe('StreamHub: resume with Last-Event-ID', () => {
  it('sends every event after N from the log, then live ones, with no gap and no repeat while events keep coming', async () => {
    const log = new MemoryLog(5000);
    let calls = 0;
    const publish = (n: number): void => h.hub.publishEvents(log.append(n));
    // Interleave appends with the resume in every order the service can produce: published
    // while the client connects, before a page is read (so the page and the held events
    // overlap), and after it is read (held only).
    const h = await startHarness(
      {
        backlog: (afterSeq, max) => {
          calls++;
          if (calls % 2 === 1) publish(7);
          const page = log.read(afterSeq, max);
          if (calls % 2 === 0) publish(11);
          return page;
        },
      },
      log,
    );
    h.onAttach = () => publish(3);

    const n = 1234;
    const client = await connect(h.port, { lastEventId: String(n) });
    await Promise.all(h.served.map((s) => s.attached));
    publish(5);
    await until(() => client.lastSeq === log.size - 1, 'the client to catch up');
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(client.seqs).toEqual(range(n + 1, log.size - 1));
    // Pages are bounded, and the log is read from where the client is, never from the start.
    expect(log.backlogCalls[0]).toEqual({ afterSeq: n, max: limits.pageItemsMax });
    expect(log.backlogCalls.every((c) => c.max <= limits.pageItemsMax)).toBe(true);
  });

  it('gets no gap and no repeat with an asynchronous log reader and publishes racing it', async () => {
    const log = new MemoryLog(3000);
    // A reader that yields to the event loop, during which a "writer" appends and publishes.
    const h = await startHarness(
      {
        backlog: async (after, max) => {
          await sleep(1);
          return log.read(after, max);
        },
      },
      log,
    );
    const connecting = connect(h.port, { lastEventId: '99' });
    while (log.size < 6000) {
      h.hub.publishEvents(log.append(13));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const client = await connecting;
    await until(() => client.lastSeq === log.size - 1, 'the client to catch up');
    expect(log.backlogCalls.length).toBeGreaterThan(1);
    expect(client.seqs).toEqual(range(100, log.size - 1));
  });

  it('sends the rest of a held batch when a log page ends inside it, and does not read held events from the log again', async () => {
    const log = new MemoryLog(1000);
    let calls = 0;
    const h = await startHarness(
      {
        backlog: (afterSeq, max) => {
          // Before the first page: 20 events arrive (seqs 1000…1019) and are held. The page of
          // 1000 events after seq 9 ends at 1009, in the middle of that batch.
          if (calls++ === 0) h.hub.publishEvents(log.append(20));
          return log.read(afterSeq, max);
        },
      },
      log,
    );
    const client = await connect(h.port, { lastEventId: '9' });
    await until(() => client.lastSeq === 1019, 'the client to catch up');
    expect(client.seqs).toEqual(range(10, 1019));
    expect(log.backlogCalls).toEqual([{ afterSeq: 9, max: limits.pageItemsMax }]);
  });

  it('treats Last-Event-ID = size - 1 as caught up, and reads ?lastEventId= too', async () => {
    const h = await startHarness({}, new MemoryLog(50));
    const viaHeader = await connect(h.port, { lastEventId: '49' });
    const viaQuery = await connect(h.port, { path: '/v1/stream?lastEventId=47' });
    await Promise.all(h.served.map((s) => s.attached));
    h.hub.publishEvents(h.log.append(2));
    await until(() => viaHeader.lastSeq === 51 && viaQuery.lastSeq === 51, 'both clients to get the live events');
    expect(viaHeader.seqs).toEqual([50, 51]);
    expect(viaQuery.seqs).toEqual([48, 49, 50, 51]);
  });

  it('ends a resume after resumeEventsMax events; the client continues by reconnecting with its new Last-Event-ID', async () => {
    const h = await startHarness({ resumeEventsMax: 100 }, new MemoryLog(350));
    const received: number[] = [];
    let lastEventId = '9';
    const endedAfter: number[] = [];
    let client: SseClient;
    for (let connections = 0; ; connections++) {
      expect(connections).toBeLessThan(10);
      client = await connect(h.port, { lastEventId });
      // attach resolves once the client is live or its stream has ended.
      await Promise.all(h.served.map((s) => s.attached));
      const c = client;
      if (h.hub.clients === 1) {
        await until(() => c.lastSeq === 349, 'the head of the log');
        received.push(...c.seqs);
        break;
      }
      await until(() => c.ended, 'the end of the stream');
      received.push(...c.seqs);
      endedAfter.push(c.lastSeq);
      lastEventId = String(c.lastSeq);
    }
    expect(endedAfter).toEqual([109, 209, 309]);
    expect(received).toEqual(range(10, 349));
    // The last connection needed fewer than resumeEventsMax events: it stayed open, live.
    h.hub.publishEvents(h.log.append(1));
    await until(() => client.lastSeq === 350, 'the live event');
    expect(client.ended).toBe(false);
  });

  it('keeps the stream open when exactly resumeEventsMax events were missing', async () => {
    const h = await startHarness({ resumeEventsMax: 100 }, new MemoryLog(350));
    const client = await connect(h.port, { lastEventId: '249' });
    await Promise.all(h.served.map((s) => s.attached));
    await until(() => client.lastSeq === 349, 'the backlog');
    h.hub.publishEvents(h.log.append(1));
    await until(() => client.lastSeq === 350, 'the live event');
    expect(client.ended).toBe(false);
    expect(client.seqs).toEqual(range(250, 350));
  });

  it('refuses a malformed or out-of-range Last-Event-ID with 400 before writing anything', async () => {
    const h = await startHarness({}, new MemoryLog(10));
    for (const bad of ['abc', '-1', '1.5', '', '01', '1e3', '11', '99999999999999999999']) {
      const r = await refused(h.port, bad);
      expect({ bad, ...r }).toEqual({ bad, status: 400, code: 'STELE_E_USAGE', contentType: 'application/json' });
    }
    expect(h.hub.clients).toBe(0);
    expect(h.log.backlogCalls).toEqual([]);
  });

  it('refuses a Host header that does not form a URL with 400, before writing anything', async () => {
    const h = await startHarness();
    const socket = net.connect(h.port, '127.0.0.1');
    socket.setEncoding('utf8');
    let reply = '';
    socket.on('data', (d: string) => (reply += d));
    socket.write('GET /v1/stream HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n');
    await until(() => reply.includes('}}'), 'the error response');
    socket.destroy();
    expect(reply.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(reply).toContain('"code":"STELE_E_USAGE"');
    expect(h.hub.clients).toBe(0);
  });

  it('ends the stream when live events skip a seq, so the client resumes from the log instead of missing it', async () => {
    const { logger, lines } = memoryLogger();
    const h = await startHarness({ logger }, new MemoryLog(10));
    const client = await connect(h.port, { lastEventId: '9' });
    await Promise.all(h.served.map((s) => s.attached));
    const added = h.log.append(3);
    h.hub.publishEvents(added.slice(0, 1));
    h.hub.publishEvents(added.slice(2)); // seq 11 never published: a broken caller
    await until(() => client.ended, 'the stream to end');
    expect(client.seqs).toEqual([10]);
    expect(lines.some((l) => l.level === 40 && l.msg === 'stream gap; ending the stream so the client resumes from the log')).toBe(true);
    const again = await connect(h.port, { lastEventId: '10' });
    await until(() => again.lastSeq === 12, 'the resumed client');
    expect(again.seqs).toEqual([11, 12]);
  });
});

describe('parseLastEventId', () => {
  it('accepts canonical seqs from 0 to size and nothing else', () => {
    expect(parseLastEventId(undefined, 5)).toBeUndefined();
    expect(parseLastEventId('0', 5)).toBe(0);
    expect(parseLastEventId('4', 5)).toBe(4);
    expect(parseLastEventId('5', 5)).toBe(5);
    for (const bad of ['6', '-0', '+1', '0x1', '1 ', ' 1', '', '007', '2.0']) {
      let thrown: unknown;
      try {
        parseLastEventId(bad, 5);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, bad).toMatchObject({ code: 'STELE_E_USAGE', found: bad });
    }
  });
});

describe('StreamHub: limits and backpressure', () => {
  it('refuses a client over clientsMax with 503 STELE_E_BUSY, and frees the slot when one leaves', async () => {
    const h = await startHarness({ clientsMax: 2 });
    const a = await connect(h.port);
    await connect(h.port);
    await until(() => h.hub.clients === 2, 'two clients');
    expect(await refused(h.port)).toEqual({ status: 503, code: 'STELE_E_BUSY', contentType: 'application/json' });
    a.close();
    await until(() => h.hub.clients === 1, 'the slot to be freed');
    const c = await connect(h.port);
    expect(c.status).toBe(200);
    await until(() => h.hub.clients === 2, 'the new client');
  });

  it('drops a client that stops reading, with bounded memory, while a normal client gets everything', async () => {
    const bufferBytesMax = 256 * 1024;
    const { logger, lines } = memoryLogger();
    const h = await startHarness({ clientBufferBytesMax: bufferBytesMax, logger });
    const normal = await connect(h.port);
    const slow = await connect(h.port);
    await Promise.all(h.served.map((s) => s.attached));
    // Both live and reading; then the slow one stops reading (its socket fills up).
    h.hub.publishEvents(h.log.append(1));
    await until(() => normal.lastSeq === 0 && slow.lastSeq === 0, 'both clients live');
    slow.response.pause();
    const slowRes = h.served[1]!.res;

    const batchEvents = 8;
    const payloadBytes = 32 * 1024;
    let batchBytesMax = 0;
    let queuedMax = 0;
    for (let i = 0; i < 400 && h.hub.dropped === 0; i++) {
      const batch = h.log.append(batchEvents, payloadBytes);
      batchBytesMax = Math.max(batchBytesMax, batch.reduce((n, e) => n + Buffer.byteLength(e.json) + 64, 0));
      h.hub.publishEvents(batch);
      queuedMax = Math.max(queuedMax, slowRes.writableLength);
      // Yield until the normal client has it, so only the slow one falls behind.
      await until(() => normal.lastSeq === h.log.size - 1, 'the normal client to keep up');
    }
    expect(h.hub.dropped).toBe(1);
    // Never more than the bound plus the one write that crossed it.
    expect(queuedMax).toBeLessThanOrEqual(bufferBytesMax + batchBytesMax);
    // Reading again, the slow client gets what the kernel still held, then the disconnect.
    slow.response.resume();
    await until(() => slow.closed, 'the slow client to be disconnected');
    expect(h.hub.clients).toBe(1);
    const warn = lines.find((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.startsWith('stream client too slow'));
    expect(warn).toMatchObject({ client: 2, bytesMax: bufferBytesMax });
    expect(warn?.bytes).toBeGreaterThan(bufferBytesMax);

    // The normal client got everything, in order, and keeps getting events.
    h.hub.publishEvents(h.log.append(2));
    await until(() => normal.lastSeq === h.log.size - 1, 'the normal client');
    expect(normal.seqs).toEqual(range(0, h.log.size - 1));
    // The dropped client resumes from where it really got to.
    const resumed = await connect(h.port, { lastEventId: String(slow.lastSeq) });
    await until(() => resumed.lastSeq === h.log.size - 1, 'the resumed client');
    expect([...slow.seqs, ...resumed.seqs]).toEqual(range(0, h.log.size - 1));
  });

  it('paces a large resume to the client instead of dropping a client that reads', async () => {
    // 24 MB of backlog through a 256 KiB bound: only waiting for 'drain' gets it through.
    const h = await startHarness({ clientBufferBytesMax: 256 * 1024 }, new MemoryLog(3000, 8 * 1024));
    const client = await connect(h.port, { lastEventId: '0' });
    await until(() => client.lastSeq === 2999, 'the whole backlog');
    expect(client.seqs).toEqual(range(1, 2999));
    expect(h.hub.dropped).toBe(0);
    expect(client.ended).toBe(false);
  });

  it('ends the stream and logs when the log cannot be read during a resume', async () => {
    const { logger, lines } = memoryLogger();
    const h = await startHarness({
      logger,
      backlog: () => {
        throw steleError('STELE_E_IO', 'read failed', { fix: 'check the disk' });
      },
    }, new MemoryLog(10));
    const client = await connect(h.port, { lastEventId: '3' });
    await until(() => client.ended, 'the stream to end');
    expect(client.status).toBe(200);
    expect(client.seqs).toEqual([]);
    expect(h.hub.clients).toBe(0);
    expect(lines.some((l) => l.level === 50 && (l.err as { code?: string } | undefined)?.code === 'STELE_E_IO')).toBe(true);
  });

  it('drops a resuming client whose held live events exceed the bound while its backlog stalls', async () => {
    const bufferBytesMax = 64 * 1024;
    const log = new MemoryLog(20);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = await startHarness(
      {
        clientBufferBytesMax: bufferBytesMax,
        backlog: async (after, max) => {
          await gate;
          return log.read(after, max);
        },
      },
      log,
    );
    const client = await connect(h.port, { lastEventId: '3' });
    await until(() => log.backlogCalls.length === 0 && h.hub.clients === 1, 'the resume to start');
    for (let i = 0; i < 10 && h.hub.dropped === 0; i++) h.hub.publishEvents(log.append(1, 16 * 1024));
    expect(h.hub.dropped).toBe(1);
    release();
    await until(() => client.closed, 'the client to be disconnected');
    expect(h.hub.clients).toBe(0);
    expect(client.seqs).toEqual([]);
  });
});

describe('StreamHub: status coalescing', () => {
  it('sends at most one status per interval, the last value winning, and the latest to new clients', async () => {
    const h = await startHarness();
    const a = await connect(h.port);
    await Promise.all(h.served.map((s) => s.attached));
    for (let n = 0; n < 100; n++) h.hub.publishStatus({ n });
    await until(() => a.ofType('status').some((m) => m.data === '{"n":99}'), 'the last status');
    expect(a.ofType('status').map((m) => m.data)).toEqual(['{"n":0}', '{"n":99}']);

    const b = await connect(h.port);
    await until(() => b.ofType('status').length === 1, 'the current status at attach');
    expect(b.ofType('status')[0]?.data).toBe('{"n":99}');
  });
});

describe('StreamHub: lifecycle', () => {
  it('leaves no listeners or timers behind when a client disconnects', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const h = await startHarness({ heartbeatMs: 10 });
    const client = await connect(h.port, {});
    const { req, res } = h.served[0]!;
    await until(() => client.comments.includes('heartbeat'), 'a heartbeat');
    expect(res.listenerCount('close')).toBeGreaterThan(0);
    client.close();
    await until(() => h.hub.clients === 0, 'the client to be forgotten');
    await until(() => res.listenerCount('close') === 0, 'the close listeners to be removed');
    expect(res.listenerCount('drain')).toBe(0);
    expect(req.listenerCount('close')).toBe(0);
    const heartbeats = setIntervalSpy.mock.calls.flatMap((c, i) => (c[1] === 10 ? [setIntervalSpy.mock.results[i]?.value as unknown] : []));
    expect(heartbeats.length).toBe(1);
    expect(clearIntervalSpy.mock.calls.map((c) => c[0] as unknown)).toContain(heartbeats[0]);
  });

  it('close() ends every stream, clears the status timer, and refuses new clients with STELE_E_CLOSED', async () => {
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const h = await startHarness({}, new MemoryLog(10));
    const live = await connect(h.port);
    const resumed = await connect(h.port, { lastEventId: '4' });
    await Promise.all(h.served.map((s) => s.attached));
    await until(() => resumed.lastSeq === 9, 'the backlog');
    h.hub.publishStatus({ n: 1 });
    h.hub.publishStatus({ n: 2 }); // coalesced: a trailing timer is pending
    const statusCall = setTimeoutSpy.mock.calls.findLastIndex((c) => typeof c[1] === 'number' && c[1] > 0 && c[1] <= streamStatusIntervalMs);
    const statusTimer = setTimeoutSpy.mock.results[statusCall]?.value as unknown;
    expect(statusTimer).toBeDefined();
    await h.hub.close();
    expect(clearTimeoutSpy.mock.calls.map((c) => c[0] as unknown)).toContain(statusTimer);
    expect(h.hub.clients).toBe(0);
    await until(() => live.ended && resumed.ended, 'both streams to end');
    expect(live.ofType('status').map((m) => m.data)).toEqual(['{"n":1}']);
    expect(await refused(h.port)).toEqual({ status: 503, code: 'STELE_E_CLOSED', contentType: 'application/json' });
    h.hub.publishEvents(h.log.append(1)); // a no-op, not an error
    await h.hub.close(); // idempotent
  });
});

describe('StreamHub behind a Fastify 5 route', () => {
  it('admits before hijacking (errors are normal JSON replies), then streams on the raw response', async () => {
    const log = new MemoryLog(5);
    const hub = new StreamHub({ backlog: (after, max) => log.read(after, max), size: () => log.size });
    const app = Fastify();
    app.setErrorHandler((err, _request, reply) => {
      if (isSteleError(err)) return reply.code(statusOf(err.code)).send({ error: err.toJSON() });
      return reply.code(500).send({ error: String(err) });
    });
    app.get('/v1/stream', async (request, reply) => {
      const lastEventId = requestLastEventId(request.raw);
      hub.admit(request.raw, lastEventId);
      reply.hijack();
      await hub.attach(request.raw, reply.raw, lastEventId);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(async () => {
      await hub.close();
      await app.close();
    });
    const port = (app.server.address() as AddressInfo).port;

    expect(await refused(port, 'x')).toMatchObject({ status: 400, code: 'STELE_E_USAGE' });
    const client = await connect(port, { lastEventId: '2' });
    expect(client.status).toBe(200);
    await until(() => client.lastSeq === 4, 'the backlog');
    hub.publishEvents(log.append(1));
    await until(() => client.lastSeq === 5, 'a live event');
    expect(client.seqs).toEqual([3, 4, 5]);
  });
});

/**
 * Helpers of the end-to-end tests of `stele serve` and `stele observe`: the built CLI as a
 * real child process on an ephemeral port (`--port 0`; the process prints one JSON line
 * `{url, role, …}` to stdout when it listens), a small HTTP client, a Server-Sent Events
 * client that parses the wire format the way EventSource does, bounded polls, and a
 * fingerprint of a directory (to show that nothing in it changed).
 *
 * Every process started here is registered; `stopAll()` (call it in afterEach/afterAll)
 * kills whatever is still running, so a failed test never leaves a server behind. Every SSE
 * client is registered the same way and closed by `closeAllStreams()`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliPath } from '../helpers.js';

/** The bearer token of every service the tests start (the service wants ≥ 16 characters). */
export const testToken = `e2e-test-token-${randomBytes(12).toString('hex')}`;

/** Bound of the wait for a process's URL line (it replays the log first). */
export const startMs = 20_000;
/** Bound of the wait for a process to exit after a signal (it drains and checkpoints). */
export const exitMs = 15_000;
/** Bound of every poll for a condition (an append reaching an observer, an alarm…). */
export const pollMs = 10_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Service {
  child: ChildProcessWithoutNullStreams;
  /** `http://127.0.0.1:<port>` */
  url: string;
  role: string;
  /** The whole URL line the process printed. */
  ready: Record<string, unknown>;
  /** Everything the process wrote to stderr so far (its log lines). */
  stderr: () => string;
  /** Resolves once the process has exited. */
  exited: Promise<Exit>;
  /** Sends a signal and waits (bounded) for the exit. */
  stop: (signal?: NodeJS.Signals) => Promise<Exit>;
}

const running = new Set<Service>();

/** Starts `node dist/src/cli/main.js <args>` and resolves once it printed its URL line. */
export async function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<Service> {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, STELE_TOKEN: testToken, STELE_LOG_LEVEL: 'info', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const service: Service = {
    child,
    url: '',
    role: '',
    ready: {},
    stderr: () => stderr,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const exit = await Promise.race([exited, sleep(exitMs).then(() => undefined)]);
      if (exit === undefined) {
        child.kill('SIGKILL');
        throw new Error(`${args.join(' ')} did not exit within ${exitMs} ms of ${signal}; stderr:\n${stderr}`);
      }
      running.delete(service);
      return exit;
    },
  };
  running.add(service);
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL line within ${startMs} ms from ${args.join(' ')}; stderr:\n${stderr}`)), startMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(stdout.slice(0, nl));
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      running.delete(service);
      // `exit` and `stderr` let a caller that expects the process to die while starting (the
      // crash soak kills it during recovery) tell that from a failure.
      reject(Object.assign(new Error(`${args.join(' ')} exited (${exit.code ?? exit.signal}) before listening; stderr:\n${stderr}`), { exit, stderr }));
    });
  });
  service.ready = JSON.parse(line) as Record<string, unknown>;
  service.url = service.ready['url'] as string;
  service.role = service.ready['role'] as string;
  return service;
}

/** `stele serve` on `dir` (created if missing), on an ephemeral loopback port. */
export function startServe(dir: string, extra: string[] = []): Promise<Service> {
  return startCli(['--data', dir, 'serve', '--port', '0', ...extra]);
}

/** `stele observe` on `dir`, on an ephemeral loopback port. */
export function startObserve(dir: string, extra: string[] = [], options: { uid?: number; gid?: number } = {}): Promise<Service> {
  return startCli(['--data', dir, 'observe', '--port', '0', ...extra], options);
}

/** Kills every process still running (SIGKILL) and waits for the exits. */
export async function stopAll(): Promise<void> {
  const all = [...running];
  running.clear();
  for (const s of all) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(all.map((s) => s.exited));
}

// ---------------------------------------------------------------------------------------
// HTTP

export interface Ack {
  seq: number;
  hash: string;
  size: number;
  logRoot: string;
}

/** The error body of every refusal (docs/http-api.md, Errors). */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    where?: Record<string, unknown>;
    fix?: string;
    expected?: string;
    found?: string;
    detail?: Record<string, unknown>;
  };
}

/** A `POST /v1/commands` answer: the result (200) or the error (anything else). */
export interface CommandAnswer extends Partial<ErrorBody> {
  ok?: true;
  cmd?: string;
  result?: unknown;
  acks?: Ack[];
  replayed?: boolean;
}

/** One result line of an NDJSON batch. */
export interface LineResult extends CommandAnswer {
  line: number;
  ok?: true;
  status?: number;
}

export interface StatusBody {
  role: string;
  size: number;
  logRoot: string;
  stateRoot: string;
  headHash: string;
  lastTs: string;
  entries: number;
  integrity: { status: 'ok' | 'panic' | 'alarm'; fault?: { code: string; message: string; where?: Record<string, unknown>; detail?: Record<string, unknown> } };
  lag: { bytes: number; pendingBytes: number };
  indexed: { size: number };
  checkpoints: { last: { seq: number } | null; every: number | null };
}

/** An event as the API shows it: the line's fields plus the derived hash. */
export interface EventBody {
  seq: number;
  ts: string;
  type: string;
  v: number;
  data: Record<string, unknown>;
  meta?: Record<string, unknown>;
  prev: string;
  hash: string;
}

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: T;
}

/** A finished response as an Answer: headers, text, and the text parsed as JSON when it is JSON. */
function answerOf(res: http.IncomingMessage, text: string): Answer {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode ?? 0, headers, text, json };
}

export interface RequestOptions {
  method?: string;
  /** A string or bytes; an object is sent as JSON. */
  body?: string | Buffer | object;
  headers?: Record<string, string>;
  /** Adds `Authorization: Bearer <testToken>` (true) or the given header value. */
  auth?: boolean | string;
}

/** One HTTP request; never throws on an error status. */
export async function request<T = unknown>(base: string, route: string, options: RequestOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.body !== undefined) {
    if (typeof options.body === 'string' || Buffer.isBuffer(options.body)) {
      body = options.body;
    } else {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
  }
  if (options.auth === true) headers['authorization'] = `Bearer ${testToken}`;
  else if (typeof options.auth === 'string') headers['authorization'] = options.auth;
  const res = await fetch(base + route, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let json: T = undefined as T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    // Not JSON (NDJSON, HTML, bytes): the caller reads `text`.
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * Sends the head of a request whose Content-Length is `declaredBytes` plus the first
 * `sentBytes` of its body, and resolves with the answer the server gives without waiting for
 * the rest. This is how a server refuses an oversized body (it answers 413 and closes the
 * connection); a client that kept writing the whole body would race that close (EPIPE or
 * ECONNRESET before it reads the answer), so the test does not.
 */
export function sendHeadOfBody(base: string, route: string, options: { method: string; declaredBytes: number; firstBytes: Buffer; headers: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + route, { method: options.method, headers: { ...options.headers, 'content-length': String(options.declaredBytes) } });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${pollMs} ms to a ${options.declaredBytes}-byte ${options.method} ${route}`));
    }, pollMs);
    let answered = false;
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        answered = true;
        clearTimeout(timer);
        req.destroy();
        resolve(answerOf(res, text));
      });
    });
    req.on('error', (err) => {
      if (answered) return;
      clearTimeout(timer);
      reject(err);
    });
    req.write(options.firstBytes);
  });
}

/**
 * POSTs `totalBytes` of JSON-looking bytes with chunked transfer encoding (no length for the
 * server to check up front), with the token, writing while the server reads and stopping at
 * its answer. Resolves with that answer.
 */
export function sendChunked(base: string, route: string, totalBytes: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + route, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${testToken}`, 'transfer-encoding': 'chunked' } });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${pollMs} ms to a chunked ${totalBytes}-byte POST ${route}`));
    }, pollMs);
    let answered = false;
    let responded = false;
    req.on('response', (res) => {
      responded = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        answered = true;
        clearTimeout(timer);
        req.destroy();
        resolve(answerOf(res, text));
      });
    });
    req.on('error', (err) => {
      if (answered) return;
      clearTimeout(timer);
      reject(err);
    });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (!responded && sent < totalBytes) {
        const n = Math.min(chunk.length, totalBytes - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!responded) req.end();
    };
    pump();
  });
}

/** POST /v1/commands with one JSON command and the token. */
export function command(base: string, cmd: object, headers: Record<string, string> = {}): Promise<Answer<CommandAnswer>> {
  return request<CommandAnswer>(base, '/v1/commands', { body: cmd, auth: true, headers });
}

/** POST /v1/commands with an NDJSON batch; resolves with the parsed result lines. */
export async function batch(base: string, lines: (object | string)[]): Promise<{ status: number; results: LineResult[]; text: string }> {
  const body = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const r = await request(base, '/v1/commands', { body, auth: true, headers: { 'content-type': 'application/x-ndjson' } });
  const results = r.status === 200 ? r.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LineResult) : [];
  return { status: r.status, results, text: r.text };
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events

export interface SseMessage {
  /** The `event:` field (default `message`). */
  event: string;
  /** The `id:` field of this message, if it had one. */
  id: string | undefined;
  data: string;
}

const streams = new Set<SseClient>();

/**
 * A Server-Sent Events client over node:http that parses the stream like EventSource
 * (WHATWG HTML §9.2.6): lines `field:value` with one optional space after the colon
 * (better-sse writes `event:event`, others `event: event`), `:` comment lines, messages
 * dispatched on an empty line, CRLF/CR/LF line ends.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** Set once the server ended the response or the connection closed. */
  ended = false;
  readonly #req: http.ClientRequest;
  #buffer = '';
  #pending: { event: string; id: string | undefined; data: string[] } = { event: '', id: undefined, data: [] };
  #body = '';

  private constructor(req: http.ClientRequest) {
    this.#req = req;
  }

  /** Connects; resolves once the response head arrived (a non-200 answer's body is in `errorBody`). */
  static connect(base: string, route = '/v1/stream', headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(base + route, { headers: { accept: 'text/event-stream', ...headers } });
      const client = new SseClient(req);
      streams.add(client);
      req.once('error', (err) => {
        client.ended = true;
        reject(err);
      });
      req.once('response', (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.#feed(chunk));
        res.once('close', () => (client.ended = true));
        res.once('end', () => (client.ended = true));
        // Errors after the head (the server destroyed the socket) just end the stream.
        res.once('error', () => (client.ended = true));
        req.removeAllListeners('error');
        req.on('error', () => (client.ended = true));
        resolve(client);
      });
    });
  }

  /** The raw body of a non-SSE answer (an error). */
  get errorBody(): string {
    return this.#body;
  }

  /** The messages of one event name, e.g. `event`, `status`, `alarm`. */
  named(event: string): SseMessage[] {
    return this.messages.filter((m) => m.event === event);
  }

  /** The log events received, parsed, in arrival order. */
  events(): EventBody[] {
    return this.named('event').map((m) => JSON.parse(m.data) as EventBody);
  }

  close(): void {
    streams.delete(this);
    this.#req.destroy();
    this.ended = true;
  }

  #feed(chunk: string): void {
    if (this.status !== 200) {
      this.#body += chunk;
      return;
    }
    this.#buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buffer);
      // A lone CR at the end may be the first half of CRLF: wait for more.
      if (m === null || (m[0] === '\r' && m.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === '') {
      const p = this.#pending;
      if (p.data.length > 0) this.messages.push({ event: p.event === '' ? 'message' : p.event, id: p.id, data: p.data.join('\n') });
      this.#pending = { event: '', id: undefined, data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#pending.event = value;
        break;
      case 'data':
        this.#pending.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#pending.id = value;
        break;
      default:
        // retry and unknown fields: ignored, as EventSource does (retry only sets a delay).
        break;
    }
  }
}

/** Closes every SSE client still open. */
export function closeAllStreams(): void {
  for (const s of [...streams]) s.close();
}

// ---------------------------------------------------------------------------------------
// Polls and files

/**
 * Polls `probe` until it returns something other than undefined/false, at most `timeoutMs`;
 * throws with `what` (and the last value seen) when the bound is reached. Never a sleep-and-
 * hope: the wait ends as soon as the condition holds.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = pollMs, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}

export type LogLine = Omit<EventBody, 'hash'>;

/** The lines of a data directory's log, parsed (only complete lines). */
export function readLog(dir: string): LogLine[] {
  const text = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8');
  const lines = text.split('\n');
  lines.pop(); // after the last \n: '' or a partial line
  return lines.map((l) => JSON.parse(l) as LogLine);
}

/** The raw bytes of a data directory's log. */
export function logBytes(dir: string): Buffer {
  return fs.readFileSync(path.join(dir, 'events.ndjson'));
}

/**
 * Every entry under `dir` (recursively, sorted) with its type, mode, size and the SHA-256 of
 * its bytes: equal fingerprints mean no file was created, removed, resized or changed.
 */
export function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) {
      out.push(`${rel}/ dir ${(st.mode & 0o7777).toString(8)}`);
      for (const name of fs.readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else {
      const hash = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      out.push(`${rel} file ${(st.mode & 0o7777).toString(8)} ${st.size} ${hash}`);
    }
  };
  walk('');
  return out;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

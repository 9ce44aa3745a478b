/**
 * The service's defences that a user (or an attacker) notices (issue #6, docs/security.md):
 * slow clients are cut off (slowloris on the headers, a trickled body), an oversized bundle
 * is refused before its bytes are buffered, the bearer token is compared in constant time and
 * never reaches a log line, and the service binds to loopback unless told otherwise.
 *
 * The server runs in-process over a real engine on a temp data directory, with the
 * slow-client timeouts shortened (the production values are 10 s / 120 s, checked every
 * second: docs/limits.md); the loopback test runs the built CLI.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { limits } from '../../src/limits.js';
import { createLogger, redactPaths } from '../../src/logger.js';
import { apiDocument, createServer } from '../../src/service/server.js';
import type { ServerTimeouts } from '../../src/service/server.js';
import { TokenCheck } from '../../src/service/token.js';
import { WriterSource } from '../../src/service/writer-source.js';
import { steleError } from '../../src/errors.js';
import { newDataDir } from '../helpers.js';
import { startServe, stopAll, waitFor } from '../e2e/service.js';

const token = `security-test-token-${crypto.randomBytes(12).toString('hex')}`;
const wrongToken = `not-the-token-at-all-${crypto.randomBytes(12).toString('hex')}`;

interface Harness {
  app: FastifyInstance;
  source: WriterSource;
  dir: string;
  port: number;
  base: string;
  logText: () => string;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.app.close();
    await h.source.close();
  }
  await stopAll();
});

/** A writer service in this process, with its pino output captured (with the service's redaction). */
async function serve(timeouts?: ServerTimeouts): Promise<Harness> {
  const dir = newDataDir();
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } }, sink);
  const source = await WriterSource.open(dir, { logger });
  const app = await createServer({ source, writer: source, token, logger, version: 'test', ...(timeouts === undefined ? {} : { timeouts }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const h: Harness = { app, source, dir, port, base: `http://127.0.0.1:${port}`, logText: () => text };
  open.push(h);
  return h;
}

const logSize = (dir: string): number => fs.statSync(path.join(dir, 'events.ndjson')).size;

/** A raw socket that records everything the server sends and when it closes. */
function rawSocket(port: number): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, received: () => received, closed };
}

/** Writes `text` one byte every `everyMs` until the socket closes; resolves with the bytes sent. */
async function trickle(socket: net.Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  while (sent < text.length && !socket.destroyed && socket.writable) {
    socket.write(text[sent]!);
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

const fastTimeouts: ServerTimeouts = { headersMs: 400, requestMs: 800, keepAliveMs: 500, checkIntervalMs: 100 };

describe('slow clients (slowloris)', () => {
  it('a client trickling its headers is answered 408 and disconnected; the service keeps answering others and writes nothing', async () => {
    const h = await serve(fastTimeouts);
    const before = logSize(h.dir);
    const slow = rawSocket(h.port);
    // 2,000 header bytes at one per 20 ms would take 40 s: far past the 400 ms allowed.
    const header = `POST /v1/commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Slow: ${'a'.repeat(2000)}\r\n\r\n`;
    const sending = trickle(slow.socket, header, 20);
    await waitFor('the server to close the slow socket', async () => {
      await Promise.race([slow.closed, new Promise((r) => setTimeout(r, 50))]);
      return slow.socket.destroyed || slow.socket.readableEnded ? true : undefined;
    });
    const sent = await sending;
    expect(sent).toBeLessThan(header.length);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    // The service is alive and serves a normal client.
    const status = await fetch(`${h.base}/v1/status`);
    expect(status.status).toBe(200);
    expect(logSize(h.dir)).toBe(before);
  });

  it('a client trickling its body is cut off at the request timeout and nothing of the command is written', async () => {
    const h = await serve(fastTimeouts);
    const before = logSize(h.dir);
    const slow = rawSocket(h.port);
    const body = JSON.stringify({ cmd: 'kv.put', data: { key: 'slow', value: 'x'.repeat(200) } });
    slow.socket.write(`POST /v1/commands HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const sent = await trickle(slow.socket, body, 20);
    await slow.closed;
    expect(sent).toBeLessThan(body.length);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(logSize(h.dir)).toBe(before);
    const ok = await fetch(`${h.base}/v1/commands`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmd: 'kv.put', data: { key: 'fast', value: 1 } }) });
    expect(ok.status).toBe(200);
  });

  it('the production server enforces the timeouts every second, not at Node\'s default of 30 s', async () => {
    const h = await serve();
    expect(h.app.server.headersTimeout).toBe(10_000);
    expect(h.app.server.requestTimeout).toBe(120_000);
    expect((h.app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval).toBe(1000);
  });
});

describe('bundle size cap', () => {
  it(`a bundle declared over bundleBytesMax (${limits.bundleBytesMax} bytes) is 413 before its bytes are read, and the vault stays empty`, async () => {
    const h = await serve();
    const before = logSize(h.dir);
    const sock = rawSocket(h.port);
    sock.socket.write(`PUT /v1/bundles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${limits.bundleBytesMax + 1}\r\n\r\n`);
    sock.socket.write(Buffer.alloc(1024, 1));
    await waitFor('the 413 answer', () => (sock.received().includes('\r\n\r\n') ? true : undefined));
    expect(sock.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(sock.received()).toContain('STELE_E_BODY_TOO_LARGE');
    sock.socket.destroy();
    expect(logSize(h.dir)).toBe(before);
    expect(vaultFiles(h.dir)).toEqual([]);
  });

  it('a chunked bundle that grows past bundleBytesMax is 413 and leaves no bundle, no temp file, no event', async () => {
    const h = await serve();
    const before = logSize(h.dir);
    const answer = await new Promise<number>((resolve, reject) => {
      const sock = net.connect(h.port, '127.0.0.1');
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => {
        text += c;
        const m = /^HTTP\/1\.1 (\d+) /.exec(text);
        if (m !== null) {
          sock.destroy();
          resolve(Number(m[1]));
        }
      });
      sock.on('error', reject);
      sock.write(`PUT /v1/bundles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let sent = 0;
      const pump = (): void => {
        while (!sock.destroyed && sent <= limits.bundleBytesMax) {
          sent += chunk.length;
          sock.write(`${chunk.length.toString(16)}\r\n`);
          sock.write(chunk);
          if (!sock.write('\r\n')) {
            sock.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    expect(answer).toBe(413);
    expect(logSize(h.dir)).toBe(before);
    expect(vaultFiles(h.dir)).toEqual([]);
  });
});

function vaultFiles(dir: string): string[] {
  const vault = path.join(dir, 'vault');
  if (!fs.existsSync(vault)) return [];
  return fs.readdirSync(vault, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

describe('the bearer token', () => {
  it('is required by every route that is not GET or HEAD, as the OpenAPI document lists them (a new writing route cannot forget it)', async () => {
    const h = await serve();
    const before = fs.readFileSync(path.join(h.dir, 'events.ndjson'));
    const doc = apiDocument('test') as { paths: Record<string, Record<string, unknown>> };
    const writing: { method: string; url: string }[] = [];
    for (const [url, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) if (method !== 'get' && method !== 'head') writing.push({ method: method.toUpperCase(), url: url.replace(/\{[^}]+\}/g, '0') });
    }
    expect(writing.map((w) => `${w.method} ${w.url}`).sort()).toEqual(['POST /v1/commands', 'PUT /v1/bundles']);
    for (const w of writing) {
      for (const headers of [{}, { authorization: `Bearer ${wrongToken}` }]) {
        const answer = await h.app.inject({ method: w.method as 'POST', url: w.url, payload: '{"cmd":"kv.put","data":{"key":"k","value":1}}', headers: { 'content-type': 'application/json', ...headers } });
        expect(answer.statusCode, `${w.method} ${w.url} ${JSON.stringify(headers)}`).toBe('authorization' in headers ? 403 : 401);
      }
    }
    expect(fs.readFileSync(path.join(h.dir, 'events.ndjson')).equals(before)).toBe(true);
    expect(vaultFiles(h.dir)).toEqual([]);
  });

  it('is compared in constant time: every presented token, of any length, goes through timingSafeEqual on two 32-byte digests', () => {
    const spy = vi.spyOn(crypto, 'timingSafeEqual');
    try {
      const check = new TokenCheck(token);
      for (const presented of [token, wrongToken, 'x', token.slice(0, -1), token + 'x', 'y'.repeat(4096)]) {
        spy.mockClear();
        try {
          check.check(`Bearer ${presented}`);
        } catch {
          // 403 for the wrong ones: what matters here is how they were compared.
        }
        expect(spy, presented.slice(0, 20)).toHaveBeenCalledTimes(1);
        const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
        expect([a.length, b.length]).toEqual([32, 32]);
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('never reaches the logs: not the service token, not a wrong one, not an Authorization header logged by mistake', async () => {
    const h = await serve();
    const post = (auth: string, body: object) =>
      fetch(`${h.base}/v1/commands`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post(`Bearer ${token}`, { cmd: 'kv.put', data: { key: 'a', value: 1 } })).status).toBe(200);
    expect((await post(`Bearer ${wrongToken}`, { cmd: 'kv.put', data: { key: 'b', value: 1 } })).status).toBe(403);
    expect((await post(`Bearer ${token}`, { cmd: 'ledger.transfer', data: { id: 't', from: 'nobody', to: 'none', amount: '1' } })).status).toBe(409);
    expect((await post(`Bearer ${token}`, { cmd: 'no.such', data: {} })).status).toBe(400);
    // What a careless log call in a handler would write, through the service's own logger.
    const logFile = path.join(path.dirname(h.dir), 'service.log');
    const fd = fs.openSync(logFile, 'w');
    const logger = createLogger({ fd, level: 'info' });
    logger.warn({ token, headers: { authorization: `Bearer ${token}` }, req: { headers: { authorization: `Bearer ${wrongToken}` } }, source: { token } }, 'a request');
    logger.error({ err: steleError('STELE_E_FORBIDDEN', 'refused'), authorization: `Bearer ${token}` }, 'refused');
    fs.closeSync(fd);
    const captured = fs.readFileSync(logFile, 'utf8');
    for (const text of [h.logText(), captured]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(wrongToken);
    }
    expect(captured).toContain('[redacted]');
    expect(captured.split('\n').filter((l) => l !== '')).toHaveLength(2);
  });
});

describe('network exposure', () => {
  it('stele serve binds to 127.0.0.1 unless --host says otherwise, and warns when told to listen beyond loopback', async () => {
    const dir = newDataDir();
    const local = await startServe(dir);
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(local.stderr()).not.toContain('beyond loopback');
    expect(await local.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const wide = await startServe(dir, ['--host', '0.0.0.0']);
    expect(wide.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    await waitFor('the warning', () => (wide.stderr().includes('listening beyond loopback') ? true : undefined));
    expect(await wide.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

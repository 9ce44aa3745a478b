/**
 * Raw-socket attacks on the real `stele serve` over TCP (issue #6, item 3), the ones
 * `inject` cannot express: invalid UTF-8 on the wire, a Content-Length that lies, a chunked
 * body over the limit, a header block over the header limit, garbage instead of HTTP, many
 * requests on one keep-alive connection. After every case the process is alive, answers the
 * next valid request, and the log is byte for byte unchanged; its VmRSS stays bounded.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.js';
import type { Service } from '../e2e/service.js';
import { logBytes, request, sendChunked, startServe, stopAll, testToken } from '../e2e/service.js';
import { tempDir } from '../helpers.js';
import { fuzzParams, fuzzSeed, fuzzTimeoutMs, invalidUtf8, jsonFaultBody } from './arbitraries.js';

/** Cases in `npm test` / under STELE_SOAK=1. */
export const wireRuns = 30;
export const wireSoakRuns = 400;

/**
 * VmRSS bound of the service: Node (~60 MiB) plus what one request may hold (a body up to
 * requestBodyBytesMax, 32 MiB, is refused before it is buffered whole; a maximal chunked body
 * is cut at the limit) plus the engine's state (a few entries): 512 MiB is several times that.
 */
export const serviceRssBytesMax = 512 * 1024 * 1024;

let root: string;
let dir: string;
let service: Service;
let port: number;
let rssMax = 0;

beforeAll(async () => {
  root = tempDir('stele-fuzz-wire-');
  dir = path.join(root, 'data');
  service = await startServe(dir);
  port = Number(new URL(service.url).port);
  const r = await request(service.url, '/v1/commands', { body: '{"cmd":"kv.put","data":{"key":"fz","value":1}}', auth: true, headers: { 'content-type': 'application/json' } });
  expect(r.status).toBe(200);
});

afterAll(async () => {
  await stopAll();
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

function sampleRss(): void {
  const status = fs.readFileSync(`/proc/${service.child.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  rssMax = Math.max(rssMax, kb * 1024);
}

/** Writes raw bytes on a fresh connection and collects what comes back until the server closes or `ms` pass. */
function raw(bytes: Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes, () => socket.end());
  });
}

const head = (extra: string, length: number | string): string =>
  `POST /v1/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${testToken}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

const wireCase = fc.oneof(
  // Invalid UTF-8 in the body, announced with the right length.
  fc.tuple(invalidUtf8, fc.boolean()).map(([bad, ndjson]) => {
    const body = Buffer.concat([Buffer.from('{"cmd":"kv.put","data":{"key":"'), bad, Buffer.from('","value":1}}')]);
    return { name: 'invalid UTF-8 body', bytes: Buffer.concat([Buffer.from(head(ndjson ? 'X-A: 1\r\n' : '', body.length).replace('application/json', ndjson ? 'application/x-ndjson' : 'application/json')), body]), expect: /^HTTP\/1\.1 (200|400)/ };
  }),
  // Invalid UTF-8 in a header value and in the path.
  invalidUtf8.map((bad) => ({ name: 'invalid UTF-8 header', bytes: Buffer.concat([Buffer.from('GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Bad: '), bad, Buffer.from('\r\n\r\n')]), expect: /^HTTP\/1\.1 (200|400)/ })),
  invalidUtf8.map((bad) => ({ name: 'invalid UTF-8 path', bytes: Buffer.concat([Buffer.from('GET /v1/state/'), bad, Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), expect: /^HTTP\/1\.1 (200|400)/ })),
  // A Content-Length that lies: more than sent (the socket ends), less than sent, not a number, two of them.
  jsonFaultBody.chain((body) =>
    fc.constantFrom(
      { name: 'Content-Length above the body', bytes: Buffer.concat([Buffer.from(head('', body.length + 100)), body]), expect: /^(|HTTP\/1\.1 4\d\d[^]*)$/ },
      { name: 'Content-Length below the body', bytes: Buffer.concat([Buffer.from(head('', Math.max(0, body.length - 3))), body]), expect: /^HTTP\/1\.1 4\d\d/ },
      { name: 'Content-Length not a number', bytes: Buffer.concat([Buffer.from(head('', '12abc')), body]), expect: /^HTTP\/1\.1 400/ },
      { name: 'two Content-Lengths', bytes: Buffer.concat([Buffer.from(head(`Content-Length: ${body.length + 1}\r\n`, body.length)), body]), expect: /^HTTP\/1\.1 400/ },
      { name: 'Content-Length and chunked', bytes: Buffer.concat([Buffer.from(head('Transfer-Encoding: chunked\r\n', body.length)), body]), expect: /^HTTP\/1\.1 400/ },
    ),
  ),
  // Headers over requestHeaderBytesMax.
  fc.integer({ min: limits.requestHeaderBytesMax + 1, max: limits.requestHeaderBytesMax * 4 }).map((n) => ({ name: 'header over the limit', bytes: Buffer.from(`GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(n)}\r\n\r\n`), expect: /^HTTP\/1\.1 431/ })),
  // Not HTTP at all.
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((u) => ({ name: 'garbage', bytes: Buffer.from(u), expect: /^(|HTTP\/1\.1 4\d\d[^]*)$/ })),
);

describe(`stele serve over TCP: raw-socket attacks (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('every attack is refused (or answered 4xx), the process stays up, answers the next request, and writes nothing', async () => {
    const log = logBytes(dir);
    await fc.assert(
      fc.asyncProperty(wireCase, async ({ name, bytes, expect: pattern }) => {
        const answer = await raw(bytes);
        expect(answer.slice(0, 200), name).toMatch(pattern);
        expect(answer, name).not.toMatch(/^HTTP\/1\.1 5/);
        const status = await request(service.url, '/v1/status');
        expect(status.status, `${name}: the next request`).toBe(200);
        sampleRss();
        expect(logBytes(dir).equals(log), `${name} wrote something`).toBe(true);
      }),
      fuzzParams(wireRuns, wireSoakRuns),
    );
  });

  it('a chunked body over requestBodyBytesMax is 413 and the next request is answered', async () => {
    const log = logBytes(dir);
    const r = await sendChunked(service.url, '/v1/commands', limits.requestBodyBytesMax + 1024 * 1024);
    expect(r.status).toBe(413);
    sampleRss();
    expect((await request(service.url, '/v1/status')).status).toBe(200);
    expect(logBytes(dir).equals(log)).toBe(true);
  });

  it('many requests on one keep-alive connection, bad ones among them, are all answered in order', async () => {
    const good = 'GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n';
    const bad = `${head('', 3)}{"c`;
    const n = 200;
    const pipeline = Buffer.from(Array.from({ length: n }, (_, i) => (i % 3 === 1 ? bad : good)).join(''));
    const answer = await raw(pipeline, 5000);
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses.length).toBe(n);
    statuses.forEach((s, i) => expect(s, `request ${i}`).toBe(i % 3 === 1 ? 400 : 200));
    sampleRss();
  });

  it(`the service's VmRSS stayed under ${serviceRssBytesMax / 1024 / 1024} MiB and it is still running`, () => {
    sampleRss();
    console.log(`service-wire fuzz: VmRSS max ${(rssMax / 1024 / 1024).toFixed(1)} MiB (bound ${serviceRssBytesMax / 1024 / 1024} MiB)`);
    expect(service.child.exitCode).toBeNull();
    expect(rssMax).toBeGreaterThan(0);
    expect(rssMax).toBeLessThan(serviceRssBytesMax);
  });
});

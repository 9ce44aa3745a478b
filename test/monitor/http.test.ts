/**
 * The monitor over HTTP, in-process: `GET /v1/checkpoints/latest` served by the real server
 * (createServer over a WriterSource and over an ObserverSource), the HTTP source looking at
 * it, and answers that are not stele's (too large, not JSON, an error status, a malformed
 * proof) reported as unreachable, never as an alarm and never recorded.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import { toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { limits } from '../../src/limits.js';
import { HttpSource } from '../../src/monitor/http-source.js';
import { pollOnce } from '../../src/monitor/monitor.js';
import { ObserverSource } from '../../src/observer/observer.js';
import type { LatestCheckpointBody } from '../../src/service/checkpoint-routes.js';
import { createServer } from '../../src/service/server.js';
import type { ReadSource } from '../../src/service/source.js';
import { WriterSource } from '../../src/service/writer-source.js';
import { newDataDir, tempDir } from '../helpers.js';

const quiet = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(source: ReadSource, writer: boolean): Promise<{ app: FastifyInstance; url: string }> {
  const app = await createServer({ source, ...(writer ? { writer: source as WriterSource, token: 'x'.repeat(32) } : {}), version: 'test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await app.close();
    await source.close();
  });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

/** A plain HTTP server answering every request with `answer`. */
async function fake(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('GET /v1/checkpoints/latest', () => {
  it('answers null before the first checkpoint, then the newest checkpoint line, the head and the keyring key', async () => {
    const dir = newDataDir();
    const keyFile = path.join(tempDir('stele-monitor-key-'), 'k.key');
    writeKeyPair(keyFile);
    const signingKey = loadSigningKey(keyFile);
    const source = await WriterSource.open(dir, { checkpointEvery: 3, signingKey, logger: quiet });
    const { app } = await serve(source, true);
    const get = async () => JSON.parse((await app.inject({ method: 'GET', url: '/v1/checkpoints/latest' })).body) as LatestCheckpointBody;

    const empty = await get();
    expect(empty).toEqual({ checkpoint: null, log: { size: 0, logRoot: toHex(sha256(new Uint8Array())) }, publicKey: null });

    const engine = source.engine();
    for (let i = 0; i < 4; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
    const body = await get();
    expect(body.checkpoint).not.toBeNull();
    const cp = body.checkpoint!;
    expect(cp.seq).toBe(3);
    expect(cp.hash).toBe(toHex(sha256(Buffer.from(cp.line, 'utf8'))));
    expect(JSON.parse(cp.line)).toMatchObject({ seq: 3, type: 'stele.checkpoint', data: cp.data });
    expect(cp.data).toMatchObject({ size: 3, keyId: signingKey.keyId });
    expect(body.log).toEqual({ size: source.status().size, logRoot: source.status().logRoot });
    expect(body.publicKey).toEqual({ keyId: signingKey.keyId, publicKey: toHex(signingKey.publicKey) });
    expect((await app.inject({ method: 'HEAD', url: '/v1/checkpoints/latest' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/checkpoints/latest' })).statusCode).toBe(405);
  });

  it('is served by an observer too, and a monitor follows it', async () => {
    const dir = newDataDir();
    const writer = await WriterSource.open(dir, { checkpointEvery: 2, logger: quiet });
    for (let i = 0; i < 5; i++) await writer.engine().run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
    await writer.close();
    const observer = await ObserverSource.open(dir, { logger: quiet, follow: false });
    const { url } = await serve(observer, false);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const report = await pollOnce({ source: new HttpSource(url), stateFile, pinnedKeys: [], requireSigned: false, logger: quiet });
    expect(report).toMatchObject({ verdict: 'first', outcome: 'ok', signature: { status: 'unsigned' } });
    expect(report.found!.head.size).toBe(fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').split('\n').length - 1);
  });
});

describe('answers that are not stele answers are unreachable, not alarms', () => {
  const look = async (url: string) => {
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const report = await pollOnce({ source: new HttpSource(url), stateFile, pinnedKeys: [], requireSigned: false, logger: quiet });
    expect(fs.existsSync(stateFile)).toBe(false);
    return report;
  };

  it('an answer over monitorResponseBytesMax is not buffered', async () => {
    const url = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // No content-length: the cap is enforced while reading.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent <= limits.monitorResponseBytesMax) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const report = await look(url);
    expect(report).toMatchObject({ outcome: 'unreachable', error: { code: 'STELE_E_IO' } });
    expect(report.error!.message).toContain(`over ${limits.monitorResponseBytesMax} bytes`);
  });

  it('not JSON, an error status with a stele error, a body of another shape', async () => {
    const notJson = await look(await fake((_req, res) => res.end('<html>hello</html>')));
    expect(notJson.error!.message).toContain('not JSON');
    const refused = await look(await fake((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'STELE_E_INTEGRITY_ALARM', message: 'the log changed under the observer' } }));
    }));
    expect(refused).toMatchObject({ outcome: 'unreachable', error: { detail: { status: 503, code: 'STELE_E_INTEGRITY_ALARM' } } });
    expect(refused.error!.message).toContain('503 STELE_E_INTEGRITY_ALARM');
    const shape = await look(await fake((_req, res) => res.end(JSON.stringify({ checkpoint: 1 }))));
    expect(shape.error!.message).toContain('not a stele checkpoint answer');
  });

  it('a malformed proof is unreachable; a well-formed proof that does not verify is an alarm', async () => {
    const dir = newDataDir();
    const writer = await WriterSource.open(dir, { checkpointEvery: 2, logger: quiet });
    for (let i = 0; i < 3; i++) await writer.engine().run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
    const { url: real } = await serve(writer, true);
    const latest = await (await fetch(`${real}/v1/checkpoints/latest`)).text();
    const proof = JSON.parse(await (await fetch(`${real}/v1/consistency?from=2&to=4`)).text()) as { path: string[] };
    const answer = (consistency: unknown) =>
      fake((req, res) => {
        res.setHeader('content-type', 'application/json');
        if (req.url!.startsWith('/v1/checkpoints/latest')) return void res.end(latest);
        if (req.url!.startsWith('/v1/consistency')) return void res.end(JSON.stringify(consistency));
        void fetch(`${real}${req.url}`).then(async (r) => res.end(await r.text()));
      });
    const malformed = await look(await answer({ type: 'consistency', size1: 2, size2: 4, root1: 'A'.repeat(64), root2: 'b'.repeat(64), path: [] }));
    expect(malformed).toMatchObject({ outcome: 'unreachable' });
    expect(malformed.error!.message).toContain('not a stele proof');
    const forged = await look(await answer({ type: 'consistency', size1: 2, size2: 4, root1: 'a'.repeat(64), root2: 'b'.repeat(64), path: proof.path.map(() => 'c'.repeat(64)) }));
    expect(forged).toMatchObject({ verdict: 'rewritten', outcome: 'alarm', error: { code: 'STELE_E_HISTORY_REWRITTEN' } });
  });
});

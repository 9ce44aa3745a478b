/**
 * Regression tests of the bugs the hostile-input fuzz found (test/fuzz, issue #6 item 3),
 * in process over a real engine: each is named after what it prevents.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/service/server.js';
import { WriterSource } from '../../src/service/writer-source.js';
import { fingerprint } from '../e2e/service.js';
import { newDataDir } from '../helpers.js';

const token = 'regression-token-0123456789';
const auth = { authorization: `Bearer ${token}` };
let open: { app: FastifyInstance; source: WriterSource } | undefined;

async function serve(): Promise<{ app: FastifyInstance; dir: string }> {
  const dir = newDataDir();
  const source = await WriterSource.open(dir, { threads: 1 });
  const app = await createServer({ source, writer: source, token, version: 'test' });
  open = { app, source };
  return { app, dir };
}

afterEach(async () => {
  await open?.app.close();
  await open?.source.close();
  open = undefined;
});

describe('PUT /v1/bundles leaves no orphan file in the vault when the record is refused', () => {
  it('a bad Idempotency-Key is a 400 and stores no bytes', async () => {
    const { app, dir } = await serve();
    const before = fingerprint(dir);
    const res = await app.inject({ method: 'PUT', url: '/v1/bundles', headers: { ...auth, 'content-type': 'text/plain', 'idempotency-key': 'has space' }, payload: 'orphan?' });
    expect(res.statusCode, res.body).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'STELE_E_USAGE' } });
    expect(fingerprint(dir)).toEqual(before);
  });
});

describe('PUT /v1/bundles with an empty body and no Content-Type is not a 500', () => {
  it('stores the empty bundle as application/octet-stream', async () => {
    const { app } = await serve();
    const res = await app.inject({ method: 'PUT', url: '/v1/bundles', headers: auth });
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });
  });

  it('POST /v1/commands with no body and no Content-Type is a typed 415', async () => {
    const { app } = await serve();
    const res = await app.inject({ method: 'POST', url: '/v1/commands', headers: auth });
    expect(res.statusCode, res.body).toBe(415);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'STELE_E_MEDIA_TYPE' } });
  });
});

describe('a malformed path gets the typed JSON error, not Fastify\'s own body', () => {
  it('an invalid percent-encoding (%ff%fe) is 400 STELE_E_USAGE', async () => {
    const { app } = await serve();
    for (const url of ['/v1/bundles/%ff%fe/content', '/v1/state/%ff', '/v1/x%zz']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(JSON.parse(res.body), url).toMatchObject({ error: { code: 'STELE_E_USAGE', message: expect.any(String) as string } });
      expect(res.headers['x-stele-role']).toBe('writer');
    }
  });

  it('a path parameter over the router limit is 413 STELE_E_INPUT_TOO_LARGE', async () => {
    const { app } = await serve();
    const res = await app.inject({ method: 'GET', url: `/v1/state/${'k'.repeat(4000)}` });
    expect(res.statusCode, res.body).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'STELE_E_INPUT_TOO_LARGE' } });
  });
});

describe('a caller cannot claim an idempotency key through meta', () => {
  it('meta.idempotencyKey without the header is 400 and writes nothing, so a later request with that key is not hijacked', async () => {
    const { app, dir } = await serve();
    const before = fingerprint(dir);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/commands',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ cmd: 'kv.put', data: { key: 'a', value: 1 }, meta: { idempotencyKey: 'victim-key', requestHash: '0'.repeat(64) } }),
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'STELE_E_SCHEMA', where: { path: 'meta.idempotencyKey' } } });
    expect(fingerprint(dir)).toEqual(before);
  });
});

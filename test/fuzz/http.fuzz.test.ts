/**
 * Hostile input against the HTTP API, in process (issue #6, item 3): `createServer` over a
 * real engine on a temp data directory, driven with Fastify's `inject`, so thousands of
 * cases run in seconds. Seeded (see arbitraries.ts); STELE_SOAK=1 runs many more.
 *
 * Properties:
 * - clearly invalid requests (JSON faults, schema faults, bad headers, every route with
 *   hostile params and queries) get a typed 4xx JSON error and write nothing: after each
 *   case the log's size and head hash, the state root and the vault are unchanged, and the
 *   whole data directory's fingerprint is unchanged at the end;
 * - arbitrary requests (which may be valid) never get a 5xx or an untyped body, and what
 *   they wrote replays and verifies from the files;
 * - no prototype pollution, and the heap stays under a named bound.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { createServer } from '../../src/service/server.js';
import { WriterSource } from '../../src/service/writer-source.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { fingerprint } from '../e2e/service.js';
import { tempDir } from '../helpers.js';
import {
  badAuthorization,
  badCommandType,
  badIdempotencyKey,
  fuzzParams,
  fuzzSeed,
  fuzzTimeoutMs,
  heapAfterGc,
  hostileQuery,
  hostileSegment,
  isErrorCode,
  jsonFaultBody,
  nastyString,
  pct,
  protoKeys,
  schemaFaultCommand,
  traversal,
} from './arbitraries.js';

/** Cases per property in `npm test` / under STELE_SOAK=1. */
export const httpRuns = { refused: 300, arbitrary: 200 } as const;
export const httpSoakRuns = { refused: 5000, arbitrary: 3000 } as const;

/**
 * Memory bounds of the fuzz run. The largest request is one body at requestBodyBytesMax
 * (32 MiB, probed once); every other case is a few hundred KiB at most, one at a time, over an
 * engine holding a few entries. So the live working set is the test runner (~100–150 MiB)
 * plus one maximal body and its copy: under 256 MiB once garbage is collected
 * (`retainedHeapBytesMax`, checked after a forced GC at the end: a leak of anything per case
 * stays reachable and shows there). V8 collects lazily, so heapUsed sampled during the run
 * also holds garbage not collected yet; `heapBytesMax` bounds that at 1 GiB, still well under
 * the process's heap limit, which an unbounded buffer (a body kept per case) would reach.
 */
export const heapBytesMax = 1024 * 1024 * 1024;
export const retainedHeapBytesMax = 256 * 1024 * 1024;

const token = 'fuzz-token-0123456789abcdef';
const auth = { authorization: `Bearer ${token}` };

let root: string;
let dir: string;
let source: WriterSource;
let app: FastifyInstance;
let heapMax = 0;

interface Mark {
  logBytes: number;
  headHash: string;
  stateRoot: string;
  vault: string;
}

function mark(): Mark {
  const status = source.status();
  const vaultDir = path.join(dir, 'vault');
  const vault = fs.existsSync(vaultDir) ? fs.readdirSync(vaultDir, { recursive: true }).map(String).sort().join(',') : '';
  return { logBytes: fs.statSync(path.join(dir, 'events.ndjson')).size, headHash: status.headHash, stateRoot: status.stateRoot, vault };
}

function sampleHeap(): void {
  heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
}

/** A typed error response: 4xx, JSON `{error:{code,message}}` with a stable code. */
function expectTypedRefusal(res: LightMyRequestResponse, what: string): { code: string } {
  expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  return expectTypedBody(res, what);
}

function expectTypedBody(res: LightMyRequestResponse, what: string): { code: string } {
  expect(res.headers['content-type'], what).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
  expect(isErrorCode(body.error?.code), `${what}: code ${String(body.error?.code)}`).toBe(true);
  expect(typeof body.error?.message).toBe('string');
  return { code: body.error!.code as string };
}

/** Any answer: never 5xx; an error is typed. */
function expectAnswered(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (res.statusCode >= 400) expectTypedBody(res, what);
}

async function send(options: InjectOptions): Promise<LightMyRequestResponse> {
  const res = await app.inject(options);
  sampleHeap();
  return res;
}

/** Runs `request` and asserts nothing was written. */
async function refusedAndUnwritten(options: InjectOptions, what: string): Promise<LightMyRequestResponse> {
  const before = mark();
  const res = await send(options);
  expect(mark(), `${what} wrote something`).toEqual(before);
  return res;
}

const post = (body: Buffer | string, headers: Record<string, string> = {}): InjectOptions => ({
  method: 'POST',
  url: '/v1/commands',
  headers: { ...auth, 'content-type': 'application/json', ...headers },
  payload: body,
});

const show = (b: unknown): string => (Buffer.isBuffer(b) ? JSON.stringify(b.toString('latin1').slice(0, 200)) : typeof b === 'string' ? JSON.stringify(b.slice(0, 200)) : JSON.stringify(b)?.slice(0, 200) ?? String(b));

beforeAll(async () => {
  root = tempDir('stele-fuzz-http-');
  dir = path.join(root, 'data');
  initDataDir(dir);
  source = await WriterSource.open(dir, { threads: 1 });
  app = await createServer({ source, writer: source, token, version: 'fuzz' });
  // Something to read: a key, an account with money, a bundle; then a checkpoint, so that
  // reads have proofs to build and nothing is pending.
  const engine = source.engine();
  await engine.run({ cmd: 'kv.put', data: { key: 'fz-seed', value: { a: [1, 2] } } });
  await engine.run({ cmd: 'ledger.open', data: { account: 'fz-acct' } });
  await engine.run({ cmd: 'ledger.deposit', data: { id: 'fz-dep', account: 'fz-acct', amount: '100' } });
  const put = await send({ method: 'PUT', url: '/v1/bundles', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'fuzz bundle' });
  expect(put.statusCode, put.body).toBe(200);
  await engine.checkpoint();
});

afterAll(async () => {
  await app?.close();
  await source?.close();
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

describe(`HTTP API: clearly invalid requests get a typed 4xx and write nothing (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  let before: string[];
  beforeAll(() => {
    before = fingerprint(dir);
  });

  it('POST /v1/commands with a JSON fault (malformed, 1e400, NaN, duplicate keys, lone surrogates, too deep, invalid UTF-8, BOM)', async () => {
    await fc.assert(
      fc.asyncProperty(jsonFaultBody, async (body) => {
        const res = await refusedAndUnwritten(post(body), show(body));
        const { code } = expectTypedRefusal(res, show(body));
        expect(code).toMatch(/^STELE_E_(JSON_|BODY_|SCHEMA)/);
      }),
      fuzzParams(httpRuns.refused, httpSoakRuns.refused),
    );
  });

  it('POST /v1/commands with a schema fault (wrong types, unknown and prototype-named commands, bad amounts, bad expectedSeq)', async () => {
    await fc.assert(
      fc.asyncProperty(schemaFaultCommand, async (command) => {
        const body = JSON.stringify(command) ?? 'undefined';
        const res = await refusedAndUnwritten(post(body), body.slice(0, 200));
        expectTypedRefusal(res, body.slice(0, 200));
      }),
      fuzzParams(httpRuns.refused, httpSoakRuns.refused),
    );
  });

  it('POST /v1/commands as NDJSON: every bad line gets its typed error, nothing is written', async () => {
    const badLine = fc.oneof(jsonFaultBody.filter((b) => !b.includes(0x0a)), schemaFaultCommand.filter((c) => !(typeof c === 'object' && c !== null && 'idempotencyKey' in c)).map((c) => Buffer.from(JSON.stringify(c) ?? 'undefined')));
    // (idempotencyKey is legal on an NDJSON line, so that fault of a single command is left out.)
    await fc.assert(
      fc.asyncProperty(fc.array(badLine, { minLength: 1, maxLength: 6 }), async (lines) => {
        const body = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
        const res = await refusedAndUnwritten(post(body, { 'content-type': 'application/x-ndjson' }), show(body));
        if (res.statusCode !== 200) {
          expectTypedRefusal(res, show(body));
          return;
        }
        const results = res.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { ok: boolean; status: number; error: { code: string } });
        const nonBlank = lines.filter((l) => l.toString('latin1').trim() !== '').length;
        expect(results.length).toBeLessThanOrEqual(lines.length);
        expect(results.length).toBeGreaterThanOrEqual(nonBlank === 0 ? 0 : 1);
        for (const r of results) {
          expect(r.ok, show(body)).toBe(false);
          expect(r.status).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
          expect(isErrorCode(r.error.code), r.error.code).toBe(true);
        }
      }),
      fuzzParams(httpRuns.refused / 2, httpSoakRuns.refused / 2),
    );
  });

  it('headers: bad Authorization (401/403), bad Content-Type (415), bad Idempotency-Key (400), Idempotency-Key on NDJSON', async () => {
    const valid = '{"cmd":"kv.put","data":{"key":"fz-header","value":1}}';
    const headerCase = fc.oneof(
      badAuthorization.map((a) => ({ name: `authorization ${show(a)}`, options: { ...post(valid), headers: { 'content-type': 'application/json', ...(a === '' ? {} : { authorization: a }) } } })),
      badCommandType.map((t) => ({ name: `content-type ${t}`, options: post(valid, { 'content-type': t }) })),
      badIdempotencyKey.map((k) => ({ name: `idempotency-key ${show(k)}`, options: post(valid, { 'idempotency-key': k }) })),
      badIdempotencyKey.map((k) => ({ name: `bundle idempotency-key ${show(k)}`, options: { method: 'PUT' as const, url: '/v1/bundles', headers: { ...auth, 'content-type': 'text/plain', 'idempotency-key': k }, payload: 'x' } })),
      fc.constant({ name: 'ndjson with idempotency-key', options: post(valid, { 'content-type': 'application/x-ndjson', 'idempotency-key': 'k1' }) }),
      fc.integer({ min: limits.mediaTypeBytesMax + 1, max: 2000 }).map((n) => ({ name: `media type of ${n} bytes`, options: { method: 'PUT' as const, url: '/v1/bundles', headers: { ...auth, 'content-type': `text/${'x'.repeat(n)}` }, payload: 'x' } })),
      badAuthorization.map((a) => ({ name: `bundle authorization ${show(a)}`, options: { method: 'PUT' as const, url: '/v1/bundles', headers: { 'content-type': 'text/plain', ...(a === '' ? {} : { authorization: a }) }, payload: 'x' } })),
      fc.constantFrom('DELETE', 'PATCH', 'OPTIONS').map((m) => ({ name: m, options: { method: m as 'DELETE', url: '/v1/commands', headers: auth } })),
    );
    await fc.assert(
      fc.asyncProperty(headerCase, async ({ name, options }) => {
        const res = await refusedAndUnwritten(options, name);
        expectTypedRefusal(res, name);
      }),
      fuzzParams(httpRuns.refused, httpSoakRuns.refused),
    );
  });

  it('every GET route with hostile params and queries (traversal, %2e%2e, NUL, huge numbers) answers without a 5xx and writes nothing', async () => {
    const getCase = fc.oneof(
      fc.tuple(fc.constantFrom('/v1/bundles/', '/v1/events/', '/v1/accounts/', '/v1/state/', '/v1/proofs/event/', '/v1/proofs/state/'), hostileSegment, fc.option(hostileQuery)).map(([p, s, q]) => `${p}${s}${q ?? ''}`),
      fc.tuple(hostileSegment, fc.option(hostileQuery)).map(([s, q]) => `/v1/bundles/${s}/content${q ?? ''}`),
      fc.tuple(fc.constantFrom('/v1/status', '/v1/stats', '/v1/events', '/v1/consistency', '/v1/series', '/v1/checkpoints/latest', '/v1/events/0', '/v1/proofs/event/0', '/v1/state/kv:fz-seed', '/v1/proofs/state/kv:fz-seed', '/v1/accounts/fz-acct'), hostileQuery).map(([p, q]) => `${p}${q}`),
      traversal.map((t) => `/v1/${t}`),
      traversal.map((t) => `/${pct(t)}`),
      traversal.map((t) => `/assets/${t}`),
      fc.constantFrom(...protoKeys).map((k) => `/v1/${k}`),
    );
    await fc.assert(
      fc.asyncProperty(getCase, fc.constantFrom('GET' as const, 'HEAD' as const), async (url, method) => {
        const res = await refusedAndUnwritten({ method, url }, `${method} ${url}`);
        expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
        if (res.statusCode >= 400 && method === 'GET') expectTypedBody(res, `${method} ${url}`);
      }),
      fuzzParams(httpRuns.refused * 2, httpSoakRuns.refused * 2),
    );
  });

  it('GET /v1/stream with a bad Last-Event-ID or query is a typed 400 before the stream starts', async () => {
    const badId = fc.oneof(fc.constantFrom('-1', '1e400', '9007199254740993', '01', ' 1', '1 ', 'NaN', '', '0x1', '999999'), nastyString.filter((s) => !/^(0|[1-9][0-9]{0,15})$/.test(s)));
    await fc.assert(
      fc.asyncProperty(badId, fc.boolean(), async (id, asHeader) => {
        const headerOk = /^[\t\x20-\x7e\x80-\xff]*$/.test(id);
        const options: InjectOptions = asHeader && headerOk ? { method: 'GET', url: '/v1/stream', headers: { 'last-event-id': id } } : { method: 'GET', url: `/v1/stream?lastEventId=${pct(id)}` };
        const res = await refusedAndUnwritten(options, `stream ${show(id)}`);
        expectTypedRefusal(res, `stream ${show(id)}`);
      }),
      fuzzParams(httpRuns.refused / 3, httpSoakRuns.refused / 3),
    );
    const unknown = await send({ method: 'GET', url: '/v1/stream?__proto__=1' });
    expectTypedRefusal(unknown, 'stream with an unknown query parameter');
  });

  it('a body over requestBodyBytesMax is 413 STELE_E_BODY_TOO_LARGE and writes nothing', async () => {
    const huge = Buffer.alloc(limits.requestBodyBytesMax + 1, 0x20);
    const res = await refusedAndUnwritten(post(huge), 'huge body');
    expect(res.statusCode).toBe(413);
    expect(expectTypedRefusal(res, 'huge body').code).toBe('STELE_E_BODY_TOO_LARGE');
  });

  it('a line over lineBytesMax is 413 and writes nothing (JSON and NDJSON)', async () => {
    const big = JSON.stringify({ cmd: 'kv.put', data: { key: 'fz-big', value: 'x'.repeat(limits.lineBytesMax) } });
    const res = await refusedAndUnwritten(post(big), 'big line');
    expect(expectTypedRefusal(res, 'big line').code).toBe('STELE_E_LINE_TOO_LARGE');
    const nd = await refusedAndUnwritten(post(`${big}\n`, { 'content-type': 'application/x-ndjson' }), 'big ndjson line');
    expect(JSON.parse(nd.body.split('\n')[0]!)).toMatchObject({ ok: false, status: 413, error: { code: 'STELE_E_LINE_TOO_LARGE' } });
  });

  afterAll(() => {
    // The whole directory, byte for byte: no file created, removed or changed by any case.
    expect(fingerprint(dir)).toEqual(before);
  });
});

describe(`HTTP API: arbitrary requests never get a 5xx, and what they write verifies (seed ${fuzzSeed})`, { timeout: fuzzTimeoutMs }, () => {
  it('commands, batches, bundles and reads built from valid and hostile parts', async () => {
    const value = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }), fc.dictionary(fc.constantFrom(...protoKeys), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }));
    const key = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), traversal, fc.constantFrom(...protoKeys));
    const command = fc.oneof(
      fc.record({ cmd: fc.constant('kv.put'), data: fc.record({ key, value }) }),
      fc.record({ cmd: fc.constant('kv.delete'), data: fc.record({ key }) }),
      fc.record({ cmd: fc.constant('ledger.open'), data: fc.record({ account: key }, { requiredKeys: [] }) }),
      fc.record({ cmd: fc.constantFrom('ledger.deposit', 'ledger.withdraw'), data: fc.record({ id: key, account: fc.constantFrom('fz-acct', 'nobody'), amount: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 130n }).map(String), nastyString) }) }),
      fc.record({ cmd: fc.constant('ledger.transfer'), data: fc.record({ id: key, from: fc.constantFrom('fz-acct', 'nobody'), to: key, amount: fc.bigInt({ min: 0n, max: 1n << 129n }).map(String), memo: nastyString }, { requiredKeys: ['id', 'from', 'to', 'amount'] }) }),
      fc.record({ cmd: fc.oneof(nastyString, fc.constantFrom('audit.execution', 'audit.attack', 'audit.telemetry', 'vault.put', 'ledger.batch', 'ledger.close')), data: value }),
      schemaFaultCommand,
    );
    const withMeta = fc.tuple(command, fc.option(fc.oneof(value, fc.record({ actor: nastyString })), { nil: undefined }), fc.option(fc.oneof(fc.nat(), fc.constant(-0), fc.constant(2 ** 53 + 1)), { nil: undefined })).map(([c, meta, expectedSeq]) =>
      typeof c === 'object' && c !== null && !Array.isArray(c) ? { ...c, ...(meta === undefined ? {} : { meta }), ...(expectedSeq === undefined ? {} : { expectedSeq }) } : c,
    );
    const body = fc.oneof(withMeta.map((c) => Buffer.from(JSON.stringify(c) ?? 'null')), jsonFaultBody);
    const requestCase: fc.Arbitrary<InjectOptions> = fc.oneof(
      fc.tuple(body, fc.option(fc.oneof(fc.uuid(), badIdempotencyKey, fc.constantFrom('k-1', 'k-2')), { nil: undefined })).map(([b, k]) => post(b, k === undefined ? {} : { 'idempotency-key': k })),
      fc.array(fc.oneof(body, withMeta.map((c) => Buffer.from(JSON.stringify(typeof c === 'object' && c !== null && !Array.isArray(c) ? { ...c, idempotencyKey: 'nd-1' } : c) ?? 'null'))), { minLength: 1, maxLength: 5 }).map((lines) =>
        post(Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])), { 'content-type': 'application/x-ndjson' }),
      ),
      fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.oneof(fc.constantFrom('text/plain', 'application/octet-stream', 'image/png; charset=binary', '', ' ', 'a/b/c', '\u00e9/\u00e9'), nastyString.filter((s) => /^[\t\x20-\x7e]*$/.test(s)))).map(([bytes, type]) => ({
        method: 'PUT' as const,
        url: '/v1/bundles',
        headers: { ...auth, ...(type === '' ? {} : { 'content-type': type }) },
        payload: Buffer.from(bytes),
      })),
      fc.tuple(fc.constantFrom('/v1/state/', '/v1/proofs/state/', '/v1/accounts/'), key, fc.option(hostileQuery, { nil: '' })).map(([p, k, q]) => ({ method: 'GET' as const, url: `${p}${pct(k)}${q}` })),
    );
    await fc.assert(
      fc.asyncProperty(requestCase, async (options) => {
        const res = await send(options);
        const what = `${options.method} ${options.url as string} ${show(options.payload)}`;
        expectAnswered(res, what);
        if (res.headers['content-type']?.toString().startsWith('application/x-ndjson') === true) {
          for (const line of res.body.split('\n').filter((l) => l !== '')) {
            const r = JSON.parse(line) as { ok: boolean; status?: number; error?: { code: string } };
            if (!r.ok) {
              expect(r.status, `${what}: ${line}`).toBeLessThan(500);
              expect(isErrorCode(r.error?.code), line).toBe(true);
            }
          }
        }
      }),
      fuzzParams(httpRuns.arbitrary, httpSoakRuns.arbitrary),
    );
    // What was written replays and verifies from the files, to the same roots as the live engine.
    const live = source.status();
    const report = await verifyDir(dir, { threads: 1 });
    expect(report.ok, JSON.stringify(report).slice(0, 500)).toBe(true);
    expect(report.size).toBe(live.size);
    expect(report.stateRoot).toBe(live.stateRoot);
  });
});

describe('HTTP API: process invariants after the fuzz', { timeout: fuzzTimeoutMs }, () => {
  it('no prototype was polluted by any __proto__/constructor/prototype key', () => {
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it(`the heap stayed under ${heapBytesMax / 1024 / 1024} MiB, and under ${retainedHeapBytesMax / 1024 / 1024} MiB once collected`, () => {
    sampleHeap();
    const retained = heapAfterGc();
    console.log(`http fuzz: heapUsed max ${(heapMax / 1024 / 1024).toFixed(1)} MiB (bound ${heapBytesMax / 1024 / 1024}), after GC ${(retained / 1024 / 1024).toFixed(1)} MiB (bound ${retainedHeapBytesMax / 1024 / 1024})`);
    expect(heapMax).toBeGreaterThan(0);
    expect(heapMax).toBeLessThan(heapBytesMax);
    expect(retained).toBeLessThan(retainedHeapBytesMax);
  });
});

/**
 * The HTTP API of `stele serve` end to end (docs/http-api.md, issue #4): the built CLI as a
 * real child process on an ephemeral port, driven with fetch and a hand-written SSE client.
 * Every endpoint and every error status; the token on every writing route; what reaches the
 * log file (read back after each response: acknowledged means durable, refused means nothing
 * written); idempotency across a restart; proofs checked here with the RFC 9162 verifiers;
 * the stream's resume; graceful shutdown under load; panic mode on a damaged log.
 *
 * One service on one data directory serves most tests, in order (they share its log and
 * assert only relative to what they read first); shutdown and panic get their own.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { limits } from '../../src/limits.js';
import { checkConsistency, checkInclusion, hashLeaf, LogTreeFrontier } from '../../src/merkle/log-tree.js';
import { checkStateProofJson, parseStateProof } from '../../src/proof/state-proof.js';
import { cli, tempDir } from '../helpers.js';
import type { Ack, CommandAnswer, EventBody, ErrorBody, LogLine, Service, StatusBody } from './service.js';
import { batch, closeAllStreams, command, logBytes, readLog, request, sendChunked, sendHeadOfBody, SseClient, sha256Hex, startServe, stopAll, testToken, waitFor } from './service.js';

let root: string;
let dir: string;
let main: Service;
let base: string;

beforeAll(async () => {
  root = tempDir('stele-http-');
  dir = path.join(root, 'data');
  main = await startServe(dir);
  base = main.url;
});

afterEach(() => {
  closeAllStreams();
});

afterAll(async () => {
  closeAllStreams();
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Stops the main service with SIGTERM (it must exit 0) and starts it again on the same directory. */
async function restartMain(): Promise<void> {
  expect(await main.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  main = await startServe(dir);
  base = main.url;
}

const getStatus = async (url = base): Promise<StatusBody> => (await request<StatusBody>(url, '/v1/status')).json;
const errorOf = (json: unknown): ErrorBody['error'] => (json as ErrorBody).error;
/** The exact text of the line of `seq` in a log file (without `\n`). */
const lineAt = (d: string, seq: number): string => logBytes(d).toString('utf8').split('\n')[seq]!;
const hex = (text: string): Uint8Array => fromHex(text)!;
/**
 * The log root of every size of a log file, computed here from its lines (RFC 6962 §2.1 over
 * the lines' SHA-256): `roots[n]` is the root of the first n events. Independent of the
 * service, so the roots it reports and the proofs it serves are checked against the file.
 */
function rootsOf(d: string): string[] {
  const frontier = new LogTreeFrontier(sha256);
  const roots = [toHex(frontier.root())];
  const text = logBytes(d).toString('utf8').split('\n');
  text.pop();
  for (const line of text) {
    frontier.append(sha256(Buffer.from(line, 'utf8')));
    roots.push(toHex(frontier.root()));
  }
  return roots;
}

/**
 * An ack matches the log file: the line at its seq hashes to its hash, and its logRoot is the
 * root of the log of its size (the size after the group commit that made it durable).
 */
const expectDurable = (d: string, ack: Ack): void => {
  expect(sha256Hex(lineAt(d, ack.seq))).toBe(ack.hash);
  expect(ack.size).toBeGreaterThan(ack.seq);
  expect(rootsOf(d)[ack.size]).toBe(ack.logRoot);
};

/** What a replayed rejection must repeat of the first one (the replay marks itself with detail.replayed). */
const rejectionOf = (json: unknown) => {
  const e = errorOf(json);
  return { code: e.code, message: e.message, where: e.where, fix: e.fix, reason: e.detail?.['reason'], cmd: e.detail?.['cmd'], recorded: e.detail?.['recorded'] };
};

describe('POST /v1/commands (application/json)', () => {
  it('answers 200 with acks once the event is in the log file', async () => {
    const before = readLog(dir).length;
    const r = await command(base, { cmd: 'ledger.open', data: { account: 'alice' }, meta: { actor: 'e2e' } });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ ok: true, cmd: 'ledger.open', result: { account: 'alice' } });
    const [ack] = r.json.acks!;
    expect(ack!.seq).toBe(before);
    expect(ack!.logRoot).toMatch(/^[0-9a-f]{64}$/);
    // Read the file right after the response: the ack promised durability.
    expectDurable(dir, ack!);
    expect(readLog(dir)[ack!.seq]).toMatchObject({ type: 'ledger.account_opened', data: { account: 'alice' }, meta: { actor: 'e2e' } });
    expect(r.headers.get('content-type')).toContain('application/json');
  });

  it('a guard rejection is 409 STELE_E_REJECTED with detail.reason, recorded as audit.command_rejected', async () => {
    const before = readLog(dir).length;
    const r = await command(base, { cmd: 'ledger.withdraw', data: { id: 'w-over', account: 'alice', amount: '5' } });
    expect(r.status, r.text).toBe(409);
    expect(errorOf(r.json)).toMatchObject({ code: 'STELE_E_REJECTED', detail: { reason: 'LEDGER_INSUFFICIENT_FUNDS', cmd: 'ledger.withdraw' } });
    const log = readLog(dir);
    expect(log).toHaveLength(before + 1);
    expect(log.at(-1)).toMatchObject({ type: 'audit.command_rejected', data: { cmd: 'ledger.withdraw', reason: 'LEDGER_INSUFFICIENT_FUNDS' } });
  });

  it('malformed JSON, a non-object, an unknown command and a schema violation are 400 and write nothing', async () => {
    const bytes = logBytes(dir);
    const post = (body: string) => request(base, '/v1/commands', { body, auth: true, headers: { 'content-type': 'application/json' } });

    const malformed = await post('{"cmd":"kv.put",');
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed.json).code).toBe('STELE_E_JSON_INVALID');
    const duplicate = await post('{"cmd":"kv.put","data":{"key":"a","key":"b","value":1}}');
    expect(duplicate.status).toBe(400);
    expect(errorOf(duplicate.json).code).toBe('STELE_E_JSON_DUPLICATE_KEY');
    const array = await post('[{"cmd":"kv.put"}]');
    expect(array.status).toBe(400);
    expect(errorOf(array.json).code).toBe('STELE_E_SCHEMA');

    const unknown = await post('{"cmd":"kv.frobnicate","data":{}}');
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown.json)).toMatchObject({ code: 'STELE_E_UNKNOWN_COMMAND', where: { path: 'cmd' } });
    expect(errorOf(unknown.json).fix).toContain('kv.put');

    const schema = await post('{"cmd":"kv.put","data":{"key":""}}');
    expect(schema.status).toBe(400);
    const err = errorOf(schema.json);
    expect(err).toMatchObject({ code: 'STELE_E_SCHEMA', where: { path: 'data.key' } });
    const issues = err.detail!['issues'] as { path: string[]; code: string; message: string }[];
    expect(issues.map((i) => i.path.join('.'))).toEqual(['data.key', 'data.value']);
    expect(issues[0]!.message).toBe('key must not be empty');

    const badExpected = await post('{"cmd":"kv.put","data":{"key":"a","value":1},"expectedSeq":-1}');
    expect(badExpected.status).toBe(400);
    expect(errorOf(badExpected.json)).toMatchObject({ code: 'STELE_E_SCHEMA', where: { path: 'expectedSeq' } });

    expect(logBytes(dir).equals(bytes)).toBe(true);
  });

  it('a content type other than JSON or NDJSON is 415 and writes nothing', async () => {
    const bytes = logBytes(dir);
    const body = '{"cmd":"kv.put","data":{"key":"t","value":1}}';
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/xml' }, {}] as Record<string, string>[]) {
      // A Buffer body carries no content type of its own: `{}` sends none at all.
      const r = await request(base, '/v1/commands', { body: Buffer.from(body), auth: true, headers });
      expect(r.status, JSON.stringify(headers)).toBe(415);
      expect(errorOf(r.json).code).toBe('STELE_E_MEDIA_TYPE');
    }
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });

  it('a body over requestBodyBytesMax is 413; a line over lineBytesMax is 413 (whole request, or its line of a batch); nothing of it is written', async () => {
    const bytes = logBytes(dir);
    // Declared over the limit: refused from the head, before the body is read.
    const tooBig = await sendHeadOfBody(base, '/v1/commands', {
      method: 'POST',
      declaredBytes: limits.requestBodyBytesMax + 1,
      firstBytes: Buffer.from('{"cmd":"kv.put","data":{"key":"big","value":"'),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${testToken}` },
    });
    expect(tooBig.status).toBe(413);
    expect(errorOf(tooBig.json).code).toBe('STELE_E_BODY_TOO_LARGE');
    // Streamed without a length (chunked): refused once the bytes read pass the limit.
    const chunked = await sendChunked(base, '/v1/commands', limits.requestBodyBytesMax + 1);
    expect(chunked.status).toBe(413);
    expect(errorOf(chunked.json).code).toBe('STELE_E_BODY_TOO_LARGE');

    const longLine = { cmd: 'kv.put', data: { key: 'long', value: 'x'.repeat(limits.lineBytesMax) } };
    const single = await command(base, longLine);
    expect(single.status).toBe(413);
    expect(errorOf(single.json).code).toBe('STELE_E_LINE_TOO_LARGE');
    expect(logBytes(dir).equals(bytes)).toBe(true);

    const before = readLog(dir).length;
    const b = await batch(base, [{ cmd: 'kv.put', data: { key: 'short', value: 1 } }, longLine, { cmd: 'kv.put', data: { key: 'after-long', value: 2 } }]);
    expect(b.status).toBe(200);
    expect(b.results.map((r) => [r.line, r.ok, r.status])).toEqual([
      [1, true, undefined],
      [2, false, 413],
      [3, true, undefined],
    ]);
    expect(b.results[1]!.error).toMatchObject({ code: 'STELE_E_LINE_TOO_LARGE', where: { inputLine: 2 } });
    const log = readLog(dir);
    expect(log.slice(before).map((e) => e.data['key'])).toEqual(['short', 'after-long']);
  });

  it(`a batch of more than requestCommandsMax (${limits.requestCommandsMax}) commands is 413 and writes nothing`, async () => {
    const bytes = logBytes(dir);
    const line = '{"cmd":"kv.put","data":{"key":"flood","value":1}}\n';
    const r = await request(base, '/v1/commands', { body: line.repeat(limits.requestCommandsMax + 1), auth: true, headers: { 'content-type': 'application/x-ndjson' } });
    expect(r.status).toBe(413);
    expect(errorOf(r.json).code).toBe('STELE_E_BATCH_TOO_LARGE');
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });
});

describe('the bearer token on every writing route', () => {
  const routes = [
    { name: 'POST /v1/commands (JSON)', method: 'POST', route: '/v1/commands', headers: { 'content-type': 'application/json' }, body: '{"cmd":"kv.put","data":{"key":"auth","value":1}}' },
    { name: 'POST /v1/commands (NDJSON)', method: 'POST', route: '/v1/commands', headers: { 'content-type': 'application/x-ndjson' }, body: '{"cmd":"kv.put","data":{"key":"auth","value":1}}\n' },
    { name: 'PUT /v1/bundles', method: 'PUT', route: '/v1/bundles', headers: { 'content-type': 'text/plain' }, body: 'auth bundle bytes' },
  ];
  const cases: { auth: string | undefined; status: number; code: string }[] = [
    { auth: undefined, status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: '', status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: `Basic ${Buffer.from(`user:${testToken}`).toString('base64')}`, status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: 'Bearer', status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: `Bearer  ${testToken}`, status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: `Token ${testToken}`, status: 401, code: 'STELE_E_UNAUTHORIZED' },
    { auth: 'Bearer wrong-token-of-the-right-shape-0123', status: 403, code: 'STELE_E_FORBIDDEN' },
    { auth: `Bearer ${testToken}x`, status: 403, code: 'STELE_E_FORBIDDEN' },
    { auth: `Bearer ${testToken.slice(0, -1)}`, status: 403, code: 'STELE_E_FORBIDDEN' },
  ];

  it('no, malformed or wrong token: 401/403 on every writing route, and nothing is written', async () => {
    const bytes = logBytes(dir);
    const vault = path.join(dir, 'vault');
    const vaultBefore = fs.existsSync(vault) ? fs.readdirSync(vault, { recursive: true }).length : 0;
    for (const r of routes) {
      for (const c of cases) {
        const headers: Record<string, string> = { ...r.headers, ...(c.auth === undefined ? {} : { authorization: c.auth }) };
        const answer = await request(base, r.route, { method: r.method, body: r.body, headers });
        expect(answer.status, `${r.name} with ${JSON.stringify(c.auth)}`).toBe(c.status);
        expect(errorOf(answer.json).code).toBe(c.code);
      }
    }
    expect(logBytes(dir).equals(bytes)).toBe(true);
    expect(fs.existsSync(vault) ? fs.readdirSync(vault, { recursive: true }).length : 0).toBe(vaultBefore);
    // The token is checked before the content type: a stranger learns nothing about the route.
    const noAuthWrongType = await request(base, '/v1/commands', { body: Buffer.from('x'), headers: { 'content-type': 'text/plain' } });
    expect(noAuthWrongType.status).toBe(401);
    // And the right token works on each (the control that shows the requests above were well-formed).
    const ok = await request(base, '/v1/commands', { body: routes[0]!.body, auth: true, headers: routes[0]!.headers });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('expectedSeq', () => {
  it('the current size is accepted; a stale or future one is 409 STELE_E_CONFLICT and writes nothing', async () => {
    const size = (await getStatus()).size;
    expect(size).toBe(readLog(dir).length);
    const ok = await command(base, { cmd: 'kv.put', data: { key: 'occ', value: 1 }, expectedSeq: size });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json.acks![0]!.seq).toBe(size);

    const bytes = logBytes(dir);
    for (const expectedSeq of [size, 0, size + 5]) {
      const stale = await command(base, { cmd: 'kv.put', data: { key: 'occ', value: 2 }, expectedSeq });
      expect(stale.status, stale.text).toBe(409);
      expect(errorOf(stale.json)).toMatchObject({ code: 'STELE_E_CONFLICT', found: String(size + 1) });
    }
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });
});

describe('Idempotency-Key', () => {
  const put = { cmd: 'ledger.open', data: { account: 'idem' } };
  let first: CommandAnswer;
  let rejected: CommandAnswer;

  it('a retry gets the first response with Idempotent-Replayed: true and writes nothing; the key is in the log', async () => {
    const r1 = await command(base, put, { 'idempotency-key': 'key-open-idem' });
    expect(r1.status, r1.text).toBe(200);
    expect(r1.headers.get('idempotent-replayed')).toBeNull();
    first = r1.json;
    const bytes = logBytes(dir);
    const r2 = await command(base, put, { 'idempotency-key': 'key-open-idem' });
    expect(r2.status).toBe(200);
    expect(r2.headers.get('idempotent-replayed')).toBe('true');
    expect(r2.json.acks).toEqual(first.acks);
    expect(r2.json.result).toEqual(first.result);
    expect(logBytes(dir).equals(bytes)).toBe(true);
    const line = readLog(dir)[first.acks![0]!.seq]!;
    expect(line.meta).toMatchObject({ idempotencyKey: 'key-open-idem' });
    expect(line.meta!['requestHash']).toMatch(/^[0-9a-f]{64}$/);

    // Without the key the same command is decided again (here: refused, the account exists).
    const again = await command(base, put);
    expect(again.status).toBe(409);
    expect(errorOf(again.json).detail!['reason']).toBe('LEDGER_ACCOUNT_EXISTS');
  });

  it('the same key with another request is 409 STELE_E_IDEMPOTENCY_MISMATCH', async () => {
    const bytes = logBytes(dir);
    for (const other of [{ cmd: 'ledger.open', data: { account: 'idem2' } }, { cmd: 'kv.put', data: { key: 'x', value: 1 } }]) {
      const r = await command(base, other, { 'idempotency-key': 'key-open-idem' });
      expect(r.status).toBe(409);
      expect(errorOf(r.json).code).toBe('STELE_E_IDEMPOTENCY_MISMATCH');
    }
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });

  it('a rejection is replayed too: one audit.command_rejected, the same 409 again', async () => {
    const withdraw = { cmd: 'ledger.withdraw', data: { id: 'w-idem', account: 'idem', amount: '1' } };
    const r1 = await command(base, withdraw, { 'idempotency-key': 'key-withdraw-idem' });
    expect(r1.status).toBe(409);
    rejected = r1.json;
    const bytes = logBytes(dir);
    const r2 = await command(base, withdraw, { 'idempotency-key': 'key-withdraw-idem' });
    expect(r2.status).toBe(409);
    expect(r2.headers.get('idempotent-replayed')).toBe('true');
    expect(rejectionOf(r2.json)).toEqual(rejectionOf(rejected));
    expect(errorOf(r2.json).detail!['replayed']).toBe(true);
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });

  it('after a restart (SIGTERM, start again) a retry still gets the first response', async () => {
    await restartMain();
    const bytes = logBytes(dir);
    // The shutdown wrote its checkpoint; nothing else may be added by the retries.
    expect(readLog(dir).at(-1)!.type).toBe('stele.checkpoint');
    const r = await command(base, put, { 'idempotency-key': 'key-open-idem' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('idempotent-replayed')).toBe('true');
    expect(r.json.acks).toEqual(first.acks);
    expect(r.json.result).toEqual(first.result);
    const rr = await command(base, { cmd: 'ledger.withdraw', data: { id: 'w-idem', account: 'idem', amount: '1' } }, { 'idempotency-key': 'key-withdraw-idem' });
    expect(rr.status).toBe(409);
    expect(rr.headers.get('idempotent-replayed')).toBe('true');
    expect(rejectionOf(rr.json)).toEqual(rejectionOf(rejected));
    const mismatch = await command(base, { cmd: 'kv.put', data: { key: 'x', value: 1 } }, { 'idempotency-key': 'key-open-idem' });
    expect(errorOf(mismatch.json).code).toBe('STELE_E_IDEMPOTENCY_MISMATCH');
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });

  it('a key that is not 1…128 printable ASCII characters is 400', async () => {
    const bytes = logBytes(dir);
    for (const key of ['x'.repeat(limits.idempotencyKeyBytesMax + 1), 'with space']) {
      const r = await command(base, { cmd: 'kv.put', data: { key: 'k', value: 1 } }, { 'idempotency-key': key });
      expect(r.status, key).toBe(400);
    }
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });
});

describe('POST /v1/commands (application/x-ndjson)', () => {
  it('one result per non-empty line, in order; a bad line does not stop the others; each line sees the ones before', async () => {
    const before = readLog(dir).length;
    const b = await batch(base, [
      { cmd: 'ledger.open', data: { account: 'bob' } },
      '{"cmd":"ledger.deposit",',
      { cmd: 'ledger.deposit', data: { id: 'd-bob', account: 'bob', amount: '100' } },
      { cmd: 'no.such', data: {} },
      '',
      { cmd: 'ledger.withdraw', data: { id: 'w-bob', account: 'bob', amount: '30' }, idempotencyKey: 'line-key-1' },
      { cmd: 'ledger.withdraw', data: { id: 'w-bob-2', account: 'bob', amount: '1000' } },
      { cmd: 'kv.put', data: { key: 'stale', value: 1 }, expectedSeq: 0 },
      '   ',
      { cmd: 'kv.put', data: { key: 'after', value: 1 } },
    ]);
    expect(b.status, b.text).toBe(200);
    expect(b.results.map((r) => [r.line, r.ok, r.status ?? 200, r.error?.code])).toEqual([
      [1, true, 200, undefined],
      [2, false, 400, 'STELE_E_JSON_INVALID'],
      [3, true, 200, undefined],
      [4, false, 400, 'STELE_E_UNKNOWN_COMMAND'],
      [6, true, 200, undefined],
      [7, false, 409, 'STELE_E_REJECTED'],
      [8, false, 409, 'STELE_E_CONFLICT'],
      [10, true, 200, undefined],
    ]);
    expect(b.results[5]!.error!.detail!['reason']).toBe('LEDGER_INSUFFICIENT_FUNDS');
    expect(b.results[1]!.error!.where).toMatchObject({ inputLine: 2 });
    // The log holds the accepted lines and the recorded rejection, in input order, each durable.
    const log = readLog(dir);
    expect(log.slice(before).map((e) => e.type)).toEqual(['ledger.account_opened', 'ledger.deposited', 'ledger.withdrawn', 'audit.command_rejected', 'kv.put']);
    for (const r of b.results) for (const ack of r.acks ?? []) expectDurable(dir, ack);
    const bob = await request<{ balance: string }>(base, '/v1/accounts/bob');
    expect(bob.json.balance).toBe('70');

    // A per-line idempotency key: the retry replays the first result and writes nothing.
    const bytes = logBytes(dir);
    const retry = await batch(base, [{ cmd: 'ledger.withdraw', data: { id: 'w-bob', account: 'bob', amount: '30' }, idempotencyKey: 'line-key-1' }]);
    const [replay] = retry.results;
    const firstAck = b.results[4]!.acks![0]!;
    expect(replay).toMatchObject({ line: 1, ok: true, replayed: true, cmd: 'ledger.withdraw', result: b.results[4]!.result });
    // The same event; the replay states the log right after it (group-commit boundaries are
    // not in the log), with that size's root.
    expect(replay!.acks!.map((a) => [a.seq, a.hash])).toEqual([[firstAck.seq, firstAck.hash]]);
    expectDurable(dir, replay!.acks![0]!);
    const mismatch = await batch(base, [{ cmd: 'ledger.withdraw', data: { id: 'w-bob-3', account: 'bob', amount: '1' }, idempotencyKey: 'line-key-1' }]);
    expect(mismatch.results[0]).toMatchObject({ ok: false, status: 409, error: { code: 'STELE_E_IDEMPOTENCY_MISMATCH' } });
    expect(logBytes(dir).equals(bytes)).toBe(true);
    expect((await request<{ balance: string }>(base, '/v1/accounts/bob')).json.balance).toBe('70');
  });

  it('an Idempotency-Key header on a batch is 400 (keys go on the lines), writing nothing', async () => {
    const bytes = logBytes(dir);
    const r = await request(base, '/v1/commands', { body: '{"cmd":"kv.put","data":{"key":"h","value":1}}\n', auth: true, headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': 'batch-key' } });
    expect(r.status).toBe(400);
    expect(errorOf(r.json).code).toBe('STELE_E_USAGE');
    expect(logBytes(dir).equals(bytes)).toBe(true);
  });
});

describe('bundles', () => {
  const bytes = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 251));
  const sha = sha256Hex(bytes);

  it('PUT /v1/bundles stores the bytes; GET gives the metadata and the same bytes back', async () => {
    const put = await request<{ ok: true; sha256: string; size: number; stored: boolean; acks: Ack[] }>(base, '/v1/bundles', { method: 'PUT', body: bytes, auth: true, headers: { 'content-type': 'application/x-e2e' } });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({ ok: true, sha256: sha, size: bytes.length, stored: true });
    expectDurable(dir, put.json.acks[0]!);
    expect(readLog(dir)[put.json.acks[0]!.seq]).toMatchObject({ type: 'vault.bundle_stored', data: { sha256: sha, size: bytes.length, mediaType: 'application/x-e2e' } });
    expect(fs.readFileSync(path.join(dir, 'vault', sha.slice(0, 2), sha)).equals(bytes)).toBe(true);

    const meta = await request(base, `/v1/bundles/${sha}`);
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({ sha256: sha, size: bytes.length, mediaType: 'application/x-e2e', seq: put.json.acks[0]!.seq });
    const content = await fetch(`${base}/v1/bundles/${sha}/content`);
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('application/x-e2e');
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true);

    // The same bytes again: nothing new in the log.
    const log = logBytes(dir);
    const again = await request<{ stored: boolean }>(base, '/v1/bundles', { method: 'PUT', body: bytes, auth: true, headers: { 'content-type': 'application/x-e2e' } });
    expect(again.status).toBe(200);
    expect(again.json.stored).toBe(false);
    expect(logBytes(dir).equals(log)).toBe(true);

    const missing = await request(base, `/v1/bundles/${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(errorOf(missing.json).code).toBe('STELE_E_NOT_FOUND');
    expect((await request(base, `/v1/bundles/${'0'.repeat(64)}/content`)).status).toBe(404);
    const bad = await request(base, '/v1/bundles/NOT-A-HASH');
    expect(bad.status).toBe(400);
    expect(errorOf(bad.json).code).toBe('STELE_E_SCHEMA');
  });

  it('content changed on disk is 500 STELE_E_BUNDLE_CORRUPT, never the wrong bytes', async () => {
    const file = path.join(dir, 'vault', sha.slice(0, 2), sha);
    const damaged = Buffer.from(bytes);
    damaged[1234] = damaged[1234]! ^ 0x01;
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, damaged);
    const r = await request(base, `/v1/bundles/${sha}/content`);
    expect(r.status).toBe(500);
    expect(errorOf(r.json).code).toBe('STELE_E_BUNDLE_CORRUPT');
    // The metadata (from the authenticated state) is still served.
    expect((await request(base, `/v1/bundles/${sha}`)).status).toBe(200);
  });
});

describe('read routes', () => {
  /** Acks of the fixture batch, each giving the log root the log had at its size. */
  let acks: Ack[];

  beforeAll(async () => {
    const lines: object[] = [{ cmd: 'ledger.open', data: { account: 'carol' } }];
    for (let i = 0; i < 320; i++) {
      if (i % 10 === 3) lines.push({ cmd: 'kv.delete', data: { key: `fix-${i - 1}` } });
      else if (i % 10 === 7) lines.push({ cmd: 'audit.telemetry', data: { metric: 'latency_ms', value: i } });
      else if (i % 5 === 0) lines.push({ cmd: 'ledger.deposit', data: { id: `dep-${i}`, account: 'carol', amount: String(100 + i) } });
      else if (i % 9 === 0) lines.push({ cmd: 'ledger.withdraw', data: { id: `wd-${i}`, account: 'carol', amount: '7' } });
      else lines.push({ cmd: 'kv.put', data: { key: `fix-${i}`, value: { i, text: 'ünïcode ✓' } } });
    }
    const b = await batch(base, lines);
    expect(b.results.every((r) => r.ok === true)).toBe(true);
    acks = b.results.flatMap((r) => r.acks!);
  });

  it('GET /v1/status agrees with the log and with `stele status` after the service stops', async () => {
    const s = await getStatus();
    const log = readLog(dir);
    expect(s).toMatchObject({ role: 'writer', size: log.length, integrity: { status: 'ok' }, indexed: { size: log.length }, lastTs: log.at(-1)!.ts });
    expect(s.headHash).toBe(sha256Hex(lineAt(dir, log.length - 1)));
    expect(s.logRoot).toBe(acks.at(-1)!.logRoot);
    expect(s.checkpoints.last).toEqual({ seq: log.map((e) => e.type).lastIndexOf('stele.checkpoint') });

    await restartMain();
    // The clean shutdown committed exactly the status the service reported.
    const after = readLog(dir);
    expect(after).toHaveLength(s.size + 1);
    expect(after.at(-1)).toMatchObject({ type: 'stele.checkpoint', prev: s.headHash, data: { size: s.size, logRoot: s.logRoot, stateRoot: s.stateRoot } });
    const viaCli = cli(['--data', dir, 'status', '--json']);
    expect(viaCli.status, viaCli.stderr).toBe(0);
    const c = JSON.parse(viaCli.stdout) as { size: number; stateRoot: string; headHash: string; logRoot: string; integrity: string; entries: number };
    expect(c).toMatchObject({ size: s.size + 1, stateRoot: s.stateRoot, entries: s.entries, integrity: 'ok' });
    // And the restarted service reports what the CLI computed from the files.
    const s2 = await getStatus();
    expect(s2).toMatchObject({ size: c.size, logRoot: c.logRoot, stateRoot: c.stateRoot, headHash: c.headHash, integrity: { status: 'ok' } });
    expect((await request(base, '/v1/status', { method: 'HEAD' })).status).toBe(200);
  });

  it('GET /v1/stats counts what the log holds', async () => {
    const r = await request<{ size: number; eventTypes: Record<string, number>; ledger: unknown }>(base, '/v1/stats');
    expect(r.status).toBe(200);
    const log = readLog(dir);
    const counts: Record<string, number> = {};
    for (const e of log) counts[e.type] = (counts[e.type] ?? 0) + 1;
    expect(r.json.size).toBe(log.length);
    expect(r.json.eventTypes).toEqual(counts);
    expect(r.json.ledger).toBeDefined();
    expect(JSON.stringify(r.json)).toContain('latency_ms');
  });

  /** Follows `next` cursors from `first` (asc: after=, desc: before=), collecting every event. */
  async function allPages(query: string, order: 'asc' | 'desc' = 'asc'): Promise<{ events: EventBody[]; pages: number }> {
    const events: EventBody[] = [];
    let cursor: number | null | undefined;
    let pages = 0;
    for (;;) {
      const q = `${query}${cursor === undefined || cursor === null ? '' : `&${order === 'asc' ? 'after' : 'before'}=${cursor}`}&order=${order}`;
      const r = await request<{ events: EventBody[]; next: number | null }>(base, `/v1/events?${q}`);
      expect(r.status, r.text).toBe(200);
      pages++;
      events.push(...r.json.events);
      cursor = r.json.next;
      if (cursor === null) return { events, pages };
      expect(pages).toBeLessThan(1000);
    }
  }

  it('GET /v1/events: following `next` gives every seq exactly once, in order, as in the file', async () => {
    const log = readLog(dir);
    const text = logBytes(dir).toString('utf8').split('\n');
    const { events, pages } = await allPages('limit=37');
    expect(pages).toBe(Math.ceil(log.length / 37));
    expect(events.map((e) => e.seq)).toEqual(log.map((_, i) => i));
    for (const e of events) {
      const { hash, ...fields } = e;
      expect(fields).toEqual(log[e.seq]);
      expect(hash).toBe(sha256Hex(text[e.seq]!));
      if (e.seq > 0) expect(e.prev).toBe(events[e.seq - 1]!.hash);
    }

    const desc = await allPages('limit=50', 'desc');
    expect(desc.events.map((e) => e.seq)).toEqual(log.map((_, i) => i).reverse());
  });

  it('GET /v1/events filters by type, seq range and time range (inclusive), also across pages', async () => {
    const log: LogLine[] = readLog(dir);
    const seqsWhere = (f: (e: LogLine) => boolean) => log.filter(f).map((e) => e.seq);

    const deletes = await allPages('type=kv.delete&limit=7');
    expect(deletes.events.map((e) => e.seq)).toEqual(seqsWhere((e) => e.type === 'kv.delete'));
    expect(deletes.events.length).toBeGreaterThan(20);
    const two = await allPages('type=ledger.deposited,audit.telemetry&limit=1000');
    expect(two.events.map((e) => e.seq)).toEqual(seqsWhere((e) => e.type === 'ledger.deposited' || e.type === 'audit.telemetry'));
    const twoDesc = await allPages('type=ledger.deposited,audit.telemetry&limit=9', 'desc');
    expect(twoDesc.events.map((e) => e.seq)).toEqual(seqsWhere((e) => e.type === 'ledger.deposited' || e.type === 'audit.telemetry').reverse());

    const range = await allPages('fromSeq=40&toSeq=140&limit=30');
    expect(range.events.map((e) => e.seq)).toEqual(seqsWhere((e) => e.seq >= 40 && e.seq <= 140));
    const rangeTyped = await allPages('fromSeq=40&toSeq=140&type=kv.put&limit=5');
    expect(rangeTyped.events.map((e) => e.seq)).toEqual(seqsWhere((e) => e.seq >= 40 && e.seq <= 140 && e.type === 'kv.put'));

    const fromTs = log[60]!.ts;
    const toTs = log[250]!.ts;
    const byTime = await allPages(`fromTs=${fromTs}&toTs=${toTs}&limit=100`);
    const expected = seqsWhere((e) => e.ts >= fromTs && e.ts <= toTs);
    expect(expected).toContain(60);
    expect(expected).toContain(250);
    expect(byTime.events.map((e) => e.seq)).toEqual(expected);

    for (const q of ['limit=0', `limit=${limits.pageItemsMax + 1}`, 'order=sideways', 'fromTs=yesterday', 'after=-1', 'bogus=1']) {
      const bad = await request(base, `/v1/events?${q}`);
      expect(bad.status, q).toBe(400);
      expect(errorOf(bad.json).code).toBe('STELE_E_SCHEMA');
      expect(Array.isArray(errorOf(bad.json).detail!['issues'])).toBe(true);
    }
  });

  it('GET /v1/events/{seq}: the event, its exact line and an inclusion proof that checks (RFC 9162)', async () => {
    const size = (await getStatus()).size;
    for (const seq of [0, 1, 57, 200, size - 1]) {
      const r = await request<{ event: EventBody; hash: string; line: string; proof: { type: string; seq: number; size: number; eventHash: string; logRoot: string; path: string[] } }>(base, `/v1/events/${seq}`);
      expect(r.status, r.text).toBe(200);
      const { event, hash, line, proof } = r.json;
      expect(line).toBe(lineAt(dir, seq));
      expect(sha256Hex(line)).toBe(hash);
      expect(event).toEqual({ ...(JSON.parse(line) as object), hash });
      expect(proof).toMatchObject({ type: 'inclusion', seq, size, eventHash: hash, logRoot: rootsOf(dir)[size] });
      const leaf = hashLeaf(sha256, hex(hash));
      expect(checkInclusion(sha256, seq, size, leaf, proof.path.map(hex), hex(proof.logRoot))).toBe(true);
      // The check can fail: another leaf or a changed path does not verify.
      expect(checkInclusion(sha256, seq, size, hashLeaf(sha256, sha256(Buffer.from(`${line} `))), proof.path.map(hex), hex(proof.logRoot))).toBe(false);
      if (proof.path.length > 0) {
        const path2 = proof.path.map(hex);
        path2[0] = sha256(path2[0]!);
        expect(checkInclusion(sha256, seq, size, leaf, path2, hex(proof.logRoot))).toBe(false);
      }
    }
    // Against older sizes: the root is the file's root at that size.
    const roots = rootsOf(dir);
    for (const [seq, old] of [
      [42, 43],
      [42, 150],
      [0, 1],
      [255, 256],
    ] as const) {
      const r = await request<{ proof: { size: number; logRoot: string; path: string[]; eventHash: string } }>(base, `/v1/events/${seq}?size=${old}`);
      expect(r.json.proof).toMatchObject({ size: old, logRoot: roots[old], eventHash: sha256Hex(lineAt(dir, seq)) });
      expect(checkInclusion(sha256, seq, old, hashLeaf(sha256, hex(r.json.proof.eventHash)), r.json.proof.path.map(hex), hex(roots[old]!))).toBe(true);
    }

    const beyond = await request(base, `/v1/events/${size}`);
    expect(beyond.status).toBe(404);
    expect(errorOf(beyond.json).code).toBe('STELE_E_NOT_FOUND');
    expect((await request(base, '/v1/events/5?size=3')).status).toBe(404);
    expect((await request(base, `/v1/events/1?size=${size + 1}`)).status).toBe(400);
    expect((await request(base, '/v1/events/abc')).status).toBe(400);
    expect((await request(base, '/v1/events/-1')).status).toBe(400);
  });

  it('GET /v1/consistency: a proof between two sizes that checks against the roots computed from the file', async () => {
    const s = await getStatus();
    const roots = rootsOf(dir);
    expect(roots[s.size]).toBe(s.logRoot);
    for (const [a, b] of [
      [1, 2],
      [3, 64],
      [64, 300],
      [100, 257],
      [257, s.size],
      [s.size, s.size],
    ] as const) {
      const r = await request<{ type: string; size1: number; size2: number; root1: string; root2: string; path: string[] }>(base, `/v1/consistency?from=${a}&to=${b}`);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ type: 'consistency', size1: a, size2: b, root1: roots[a], root2: roots[b] });
      expect(checkConsistency(sha256, a, b, hex(roots[a]!), hex(roots[b]!), r.json.path.map(hex))).toBe(true);
      // The check can fail: the proof does not link another old root.
      if (a !== b) expect(checkConsistency(sha256, a, b, hex(roots[a + 1]!), hex(roots[b]!), r.json.path.map(hex))).toBe(false);
    }
    const toNow = await request<{ size2: number; root2: string; path: string[]; root1: string }>(base, '/v1/consistency?from=10');
    expect(toNow.json).toMatchObject({ size2: s.size, root1: roots[10], root2: s.logRoot });
    expect(checkConsistency(sha256, 10, s.size, hex(roots[10]!), hex(s.logRoot), toNow.json.path.map(hex))).toBe(true);
    // The acknowledged roots are the file's roots too.
    for (const ack of acks) expect(roots[ack.size]).toBe(ack.logRoot);
    expect((await request(base, '/v1/consistency?from=10&to=5')).status).toBe(400);
    expect((await request(base, `/v1/consistency?from=1&to=${s.size + 1}`)).status).toBe(400);
    expect((await request(base, '/v1/consistency')).status).toBe(400);
  });

  it('GET /v1/accounts/{id}: balance, history newest first with the balance after each change, paged', async () => {
    const log = readLog(dir);
    const touching = log.filter((e) => e.type.startsWith('ledger.') && e.data['account'] === 'carol');
    let expectedBalance = 0n;
    for (const e of touching) {
      if (e.type === 'ledger.deposited') expectedBalance += BigInt(e.data['amount'] as string);
      if (e.type === 'ledger.withdrawn') expectedBalance -= BigInt(e.data['amount'] as string);
    }
    type Account = { id: string; balance: string; open: boolean; allowNegative: boolean; history: { seq: number; ts: string; type: string; delta: string; balance: string }[]; next: number | null; historyMatchesState: boolean };
    const history: Account['history'] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const r: { status: number; json: Account; text: string } = await request<Account>(base, `/v1/accounts/carol?limit=25${before === null ? '' : `&before=${before}`}`);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ id: 'carol', balance: expectedBalance.toString(), open: true, allowNegative: false, historyMatchesState: true });
      expect(r.json.history.length).toBeLessThanOrEqual(25);
      history.push(...r.json.history);
      before = r.json.next;
      pages++;
    } while (before !== null && pages < 100);
    expect(pages).toBeGreaterThan(2);
    expect(history.map((h) => h.seq)).toEqual(touching.map((e) => e.seq).reverse());
    expect(history[0]!.balance).toBe(expectedBalance.toString());
    // Newest first: each entry's balance minus its delta is the balance of the next (older) one.
    for (let i = 0; i < history.length; i++) {
      const older = history[i + 1]?.balance ?? '0';
      expect(BigInt(history[i]!.balance) - BigInt(history[i]!.delta)).toBe(BigInt(older));
      expect(history[i]!.ts).toBe(log[history[i]!.seq]!.ts);
      expect(history[i]!.type).toBe(log[history[i]!.seq]!.type);
    }
    const unknown = await request(base, '/v1/accounts/nobody-here');
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown.json).code).toBe('STELE_E_NOT_FOUND');
    expect((await request(base, '/v1/accounts/carol?limit=0')).status).toBe(400);
  });

  it('GET /v1/state/{key}: inclusion and non-inclusion proofs that check against the state root', async () => {
    const s = await getStatus();
    type StateAnswer = { key: string; found: boolean; value?: unknown; size: number; proof: unknown };
    const found = await request<StateAnswer>(base, `/v1/state/${encodeURIComponent('kv:fix-1')}`);
    expect(found.status, found.text).toBe(200);
    expect(found.json).toMatchObject({ key: 'kv:fix-1', found: true, value: { i: 1, text: 'ünïcode ✓' }, size: s.size });
    const proof = parseStateProof(found.json.proof);
    expect(proof.stateRoot).toBe(s.stateRoot);
    expect(proof.value).toEqual({ i: 1, text: 'ünïcode ✓' });
    expect(checkStateProofJson(sha256, proof)).toBe(true);
    expect(checkStateProofJson(sha256, { ...proof, value: { i: 2, text: 'ünïcode ✓' } })).toBe(false);

    const account = await request<StateAnswer>(base, '/v1/state/account:carol');
    expect(account.json.found).toBe(true);
    expect(checkStateProofJson(sha256, parseStateProof(account.json.proof))).toBe(true);

    // A deleted key and a key never written: proofs of absence.
    for (const key of ['kv:fix-2', 'kv:never written/with ✓ and %']) {
      const absent = await request<StateAnswer>(base, `/v1/state/${encodeURIComponent(key)}`);
      expect(absent.status, absent.text).toBe(200);
      expect(absent.json).toMatchObject({ key, found: false });
      expect(absent.json.value).toBeUndefined();
      const p = parseStateProof(absent.json.proof);
      expect(p.valueHash).toBeUndefined();
      expect(p.stateRoot).toBe(s.stateRoot);
      expect(checkStateProofJson(sha256, p)).toBe(true);
      expect(checkStateProofJson(sha256, { ...p, stateRoot: sha256Hex('other') })).toBe(false);
    }
  });

  it('GET /v1/series: events per minute by type, adding up to the log', async () => {
    const r = await request<{ minutes: { minute: string; counts: Record<string, number> }[] }>(base, '/v1/series?minutes=120');
    expect(r.status).toBe(200);
    const log = readLog(dir);
    const firstMinute = r.json.minutes[0]!.minute;
    expect(r.json.minutes.map((m) => m.minute)).toEqual([...r.json.minutes.map((m) => m.minute)].sort());
    const inWindow = log.filter((e) => e.ts.slice(0, 16) >= firstMinute.slice(0, 16));
    const counts: Record<string, number> = {};
    for (const e of inWindow) counts[e.type] = (counts[e.type] ?? 0) + 1;
    const summed: Record<string, number> = {};
    for (const m of r.json.minutes) for (const [t, n] of Object.entries(m.counts)) summed[t] = (summed[t] ?? 0) + n;
    expect(summed).toEqual(counts);
    expect(r.json.minutes.at(-1)!.minute.slice(0, 16)).toBe(log.at(-1)!.ts.slice(0, 16));
    expect((await request(base, '/v1/series?minutes=0')).status).toBe(400);
  });

  it('GET /v1/openapi.json is OpenAPI 3.1 and lists every route', async () => {
    const r = await request<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(base, '/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\.1\./);
    const routes = Object.entries(r.json.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(routes.sort()).toEqual(
      [
        'POST /v1/commands',
        'PUT /v1/bundles',
        'GET /v1/status',
        'GET /v1/stats',
        'GET /v1/events',
        'GET /v1/events/{seq}',
        'GET /v1/consistency',
        'GET /v1/accounts/{id}',
        'GET /v1/state/{key}',
        'GET /v1/bundles/{sha256}',
        'GET /v1/bundles/{sha256}/content',
        'GET /v1/series',
        'GET /v1/stream',
        'GET /v1/checkpoints/latest',
        'GET /v1/proofs/event/{seq}',
        'GET /v1/proofs/state/{key}',
        'GET /v1/openapi.json',
      ].sort(),
    );
  });

  it('GET / is the dashboard (HTML with a Content-Security-Policy); unknown routes are 404 JSON; other methods 405 with Allow', async () => {
    const page = await request(base, '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.text).toContain('<html');

    const missing = await request(base, '/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect(errorOf(missing.json).code).toBe('STELE_E_NOT_FOUND');
    expect((await request(base, '/v1/nothing-here', { method: 'POST', body: '{}', auth: true })).status).toBe(404);

    for (const [method, route, allow] of [
      ['DELETE', '/v1/status', 'GET, HEAD'],
      ['POST', '/v1/events', 'GET, HEAD'],
      ['PUT', '/v1/accounts/carol', 'GET, HEAD'],
      ['GET', '/v1/commands', 'POST'],
      ['DELETE', '/v1/bundles', 'PUT'],
      // HEAD would attach a stream client: not offered.
      ['HEAD', '/v1/stream', 'GET'],
    ] as const) {
      const r = await request(base, route, { method });
      expect(r.status, `${method} ${route}`).toBe(405);
      expect(r.headers.get('allow')).toBe(allow);
      expect(r.headers.get('x-stele-role')).toBe('writer');
      if (method !== 'HEAD') expect(errorOf(r.json).code).toBe('STELE_E_METHOD_NOT_ALLOWED');
    }
  });
});

describe('GET /v1/stream (Server-Sent Events)', () => {
  it("a command's event reaches a connected client, with its seq as id and the acknowledged hash", async () => {
    const client = await SseClient.connect(base);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toContain('text/event-stream');
    const r = await command(base, { cmd: 'kv.put', data: { key: 'streamed', value: 'live' } });
    const ack = r.json.acks![0]!;
    const got = await waitFor('the event on the stream', () => client.named('event').find((m) => m.id === String(ack.seq)));
    expect(JSON.parse(got.data)).toEqual({ ...(JSON.parse(lineAt(dir, ack.seq)) as object), hash: ack.hash });
    // Nothing but the new event: no backlog was asked for.
    expect(client.events().map((e) => e.seq)).toEqual([ack.seq]);
    const status = await waitFor('a status event with the new size', () => client.named('status').map((m) => JSON.parse(m.data) as StatusBody).find((s) => s.size === ack.size));
    expect(status.logRoot).toBe(ack.logRoot);
  });

  it('resume with Last-Event-ID = N: exactly N+1…end from the log, then live events, no gap, no repeat', async () => {
    const size = (await getStatus()).size;
    const n = size - 120;
    // Commands keep arriving while the client connects and reads its backlog.
    const writing = (async () => {
      const acks: Ack[] = [];
      for (let i = 0; i < 6; i++) {
        const b = await batch(base, Array.from({ length: 15 }, (_, j) => ({ cmd: 'kv.put', data: { key: `resume-${i}-${j}`, value: j } })));
        acks.push(...b.results.flatMap((r) => r.acks!));
      }
      return acks;
    })();
    const header = await SseClient.connect(base, '/v1/stream', { 'last-event-id': String(n) });
    const query = await SseClient.connect(base, `/v1/stream?lastEventId=${n}`);
    const acks = await writing;
    const end = acks.at(-1)!.seq;
    const log = logBytes(dir).toString('utf8').split('\n');
    for (const client of [header, query]) {
      await waitFor('the stream to reach the last write', () => client.events().at(-1)?.seq === end);
      const events = client.events();
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: end - n }, (_, i) => n + 1 + i));
      expect(client.named('event').map((m) => m.id)).toEqual(events.map((e) => String(e.seq)));
      for (const e of events) expect(e.hash).toBe(sha256Hex(log[e.seq]!));
    }
    // Caught up (N = last seq): only live events follow.
    const caughtUp = await SseClient.connect(base, '/v1/stream', { 'last-event-id': String(end) });
    const r = await command(base, { cmd: 'kv.put', data: { key: 'after-resume', value: 1 } });
    await waitFor('the live event', () => caughtUp.events().length === 1);
    expect(caughtUp.events().map((e) => e.seq)).toEqual([r.json.acks![0]!.seq]);
  });

  it('an invalid Last-Event-ID is 400 JSON, before any stream', async () => {
    const size = (await getStatus()).size;
    for (const id of ['abc', '-1', '01', '1.5', String(size + 1), '']) {
      const client = await SseClient.connect(base, '/v1/stream', { 'last-event-id': id });
      expect(client.status, id).toBe(400);
      await waitFor('the error body', () => client.ended && client.errorBody !== '');
      expect(errorOf(JSON.parse(client.errorBody)).code).toBe('STELE_E_USAGE');
      client.close();
    }
    const viaQuery = await request(base, '/v1/stream?lastEventId=x');
    expect(viaQuery.status).toBe(400);
  });
});

describe('graceful shutdown (SIGTERM)', () => {
  it('under load: every 200 is in the log, refusals wrote nothing, the stream ends, exit 0, a final checkpoint, the lock released', async () => {
    const d = path.join(root, 'shutdown');
    const svc = await startServe(d);
    const client = await SseClient.connect(svc.url);
    expect(client.status).toBe(200);

    type Outcome = { key: string; status: number | 'network'; ack?: Ack };
    const outcomes: Outcome[] = [];
    let acked = 0;
    // Eight clients post commands one after another until the server stops answering
    // (before, during and after the SIGTERM; bounded in case it never does).
    const worker = async (w: number) => {
      for (let i = 0; i < 20_000; i++) {
        const key = `w${w}-${i}`;
        try {
          const r = await command(svc.url, { cmd: 'kv.put', data: { key, value: i } });
          outcomes.push({ key, status: r.status, ...(r.status === 200 ? { ack: r.json.acks![0]! } : {}) });
          if (r.status === 200) acked++;
          else return;
        } catch {
          outcomes.push({ key, status: 'network' });
          return;
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await waitFor('some commands acknowledged', () => acked >= 40);
    const exit = svc.stop('SIGTERM');
    await Promise.all(workers);
    expect(await exit).toEqual({ code: 0, signal: null });
    await waitFor('the stream to end', () => client.ended);

    const log = readLog(d);
    const text = logBytes(d).toString('utf8').split('\n');
    const keys = new Set(log.filter((e) => e.type === 'kv.put').map((e) => e.data['key'] as string));
    const oks = outcomes.filter((o) => o.status === 200);
    expect(oks.length).toBeGreaterThanOrEqual(40);
    for (const o of oks) {
      expect(keys.has(o.key), o.key).toBe(true);
      expect(sha256Hex(text[o.ack!.seq]!)).toBe(o.ack!.hash);
    }
    // Nothing was written without an answer: a typed refusal (503 while closing) wrote
    // nothing, and a request cut off (connection closed or refused once the server stopped
    // accepting) never reached the engine — in-flight requests were finished, not dropped.
    for (const o of outcomes.filter((x) => x.status !== 200)) {
      if (o.status !== 'network') expect(o.status).toBe(503);
      expect(keys.has(o.key), o.key).toBe(false);
    }
    const last = log.at(-1)!;
    expect(last.type).toBe('stele.checkpoint');
    expect(last.data['size']).toBe(log.length - 1);
    // Every streamed event is in the log, in order.
    for (const e of client.events()) expect(e.hash).toBe(sha256Hex(text[e.seq]!));

    const again = await startServe(d);
    expect((await getStatus(again.url)).size).toBe(log.length);
    expect(await again.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('panic mode', () => {
  it('a damaged middle line: serve starts, reports panic with the fault, serves reads, refuses writes with 503', async () => {
    const d = path.join(root, 'panic');
    const input = Array.from({ length: 10 }, (_, i) => JSON.stringify({ cmd: 'kv.put', data: { key: `p${i}`, value: i * 11 } })).join('\n');
    expect(cli(['--data', d, 'init']).status).toBe(0);
    const filled = cli(['--data', d, 'cmd', '--stdin'], { input });
    expect(filled.status, filled.stderr).toBe(0);
    const file = path.join(d, 'events.ndjson');
    const text = fs.readFileSync(file, 'utf8');
    // One byte of line 6 (seq 5), same length: line 7's prev no longer matches.
    const damaged = text.replace('"value":55', '"value":56');
    expect(damaged).not.toBe(text);
    fs.writeFileSync(file, damaged);

    const svc = await startServe(d);
    expect(svc.ready['integrity']).toBe('panic');
    const s = await getStatus(svc.url);
    expect(s.integrity.status).toBe('panic');
    expect(s.integrity.fault).toMatchObject({ code: 'STELE_E_CHAIN_BROKEN', where: { line: 7, seq: 6 } });
    expect(s.size).toBe(6);
    const page = await request<{ events: EventBody[] }>(svc.url, '/v1/events');
    expect(page.status).toBe(200);
    expect(page.json.events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    const one = await request<{ proof: { path: string[]; logRoot: string; eventHash: string } }>(svc.url, '/v1/events/2');
    expect(one.status).toBe(200);
    expect(checkInclusion(sha256, 2, 6, hashLeaf(sha256, hex(one.json.proof.eventHash)), one.json.proof.path.map(hex), hex(one.json.proof.logRoot))).toBe(true);
    expect((await request(svc.url, '/v1/state/kv:p1')).json).toMatchObject({ found: true, value: 11 });

    const write = await command(svc.url, { cmd: 'kv.put', data: { key: 'x', value: 1 } });
    expect(write.status).toBe(503);
    expect(errorOf(write.json).code).toBe('STELE_E_PANIC');
    const bundle = await request(svc.url, '/v1/bundles', { method: 'PUT', body: 'bytes', auth: true });
    expect(bundle.status).toBe(503);
    const nd = await batch(svc.url, [{ cmd: 'kv.put', data: { key: 'x', value: 1 } }]);
    expect(nd.status).toBe(503);
    // The token is still checked first.
    expect((await request(svc.url, '/v1/commands', { body: { cmd: 'kv.put', data: { key: 'x', value: 1 } } })).status).toBe(401);

    expect(await svc.stop()).toEqual({ code: 0, signal: null });
    expect(fs.readFileSync(file, 'utf8')).toBe(damaged);
  });
});

describe('edges of the server', () => {
  it(`headers over requestHeaderBytesMax (${limits.requestHeaderBytesMax} bytes) are refused with 431, and nothing is written`, async () => {
    const before = logBytes(dir);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/v1/commands`, {
        method: 'POST',
        // A connection of its own: Node closes it after the 431, and no pooled request may reuse it.
        agent: false,
        headers: { authorization: `Bearer ${testToken}`, 'content-type': 'application/json', 'x-padding': 'a'.repeat(limits.requestHeaderBytesMax + 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ cmd: 'kv.put', data: { key: 'padded', value: 1 } }));
    });
    expect(status).toBe(431);
    expect(logBytes(dir).equals(before)).toBe(true);
  });

  it('a port already in use is a typed usage error (exit 2) naming the fix, and the other data directory gets no events', () => {
    const other = path.join(root, 'other-data');
    const port = new URL(base).port;
    const r = cli(['--data', other, 'serve', '--port', port], { env: { STELE_TOKEN: testToken } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STELE_E_USAGE');
    expect(r.stderr).toContain('--port');
    expect(fs.statSync(path.join(other, 'events.ndjson')).size).toBe(0);
  });
});

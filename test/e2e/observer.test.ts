/**
 * `stele observe` end to end (DESIGN.md §8, issue #4): the read-only follower as a real child
 * process on an ephemeral port, beside a real `stele serve` or on a directory no process
 * writes. An append in the writer reaches the observer's stream and status; the observer
 * refuses every method but GET/HEAD; it runs on a directory it cannot write (permissions, as
 * an unprivileged user, and a read-only bind mount) and changes nothing there; a resumed
 * stream misses and repeats nothing; tampering with the log under it (shrinking it, changing
 * a byte in place) raises the integrity alarm on status, stream and data routes; a partial
 * last line is held until its `\n` arrives.
 *
 * Waits are bounded polls (waitFor), never sleeps.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { fromHex } from '../../src/hash/hex.js';
import { sha256 } from '../../src/hash/sha256.js';
import { checkInclusion, hashLeaf } from '../../src/merkle/log-tree.js';
import { cli, tempDir } from '../helpers.js';
import type { EventBody, ErrorBody, Service, StatusBody } from './service.js';
import { batch, closeAllStreams, command, fingerprint, logBytes, readLog, request, SseClient, sha256Hex, startObserve, startServe, stopAll, testToken, waitFor } from './service.js';

let root: string;
/** A data directory filled once by the CLI (clean shutdown: it ends with a checkpoint); copied per test. */
let fixture: string;
/** Bind mounts to undo in afterAll, whatever happened. */
const mounts: string[] = [];

beforeAll(() => {
  root = tempDir('stele-observer-');
  fixture = path.join(root, 'fixture');
  expect(cli(['--data', fixture, 'init']).status).toBe(0);
  const lines = [
    { cmd: 'ledger.open', data: { account: 'ann' } },
    ...Array.from({ length: 20 }, (_, i) => ({ cmd: 'kv.put', data: { key: `k${i}`, value: i * 11 } })),
    { cmd: 'ledger.deposit', data: { id: 'd1', account: 'ann', amount: '500' } },
    { cmd: 'audit.telemetry', data: { metric: 'latency_ms', value: 12 } },
  ];
  const r = cli(['--data', fixture, 'cmd', '--stdin'], { input: lines.map((l) => JSON.stringify(l)).join('\n') });
  expect(r.status, r.stderr).toBe(0);
});

afterEach(async () => {
  closeAllStreams();
  await stopAll();
});

afterAll(() => {
  for (const m of mounts.splice(0)) unmount(m);
  if (root !== undefined) {
    // Restore write permission so the temporary tree can be removed by a non-root user too.
    execFileSync('chmod', ['-R', 'u+w', root]);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

let copies = 0;
/** A fresh copy of the fixture directory. */
function copyFixture(): string {
  const d = path.join(root, `copy-${++copies}`);
  fs.cpSync(fixture, d, { recursive: true });
  return d;
}

const getStatus = async (url: string): Promise<StatusBody> => (await request<StatusBody>(url, '/v1/status')).json;
const errorOf = (json: unknown): ErrorBody['error'] => (json as ErrorBody).error;
const pick = (s: { size: number; logRoot: string; stateRoot: string; headHash: string }) => ({ size: s.size, logRoot: s.logRoot, stateRoot: s.stateRoot, headHash: s.headHash });
/** `stele status --json` of a directory: what the files say, computed by another process. */
function cliStatus(d: string): { size: number; logRoot: string; stateRoot: string; headHash: string } {
  const r = cli(['--data', d, 'status', '--json']);
  expect(r.status, r.stderr).toBe(0);
  return pick(JSON.parse(r.stdout) as StatusBody);
}

function unmount(target: string): void {
  try {
    execFileSync('umount', [target], { stdio: 'pipe' });
  } catch {
    // Not mounted (the mount failed half-way) or already gone.
  }
}

/** Bind-mounts `source` read-only at `target`; returns the reason when this environment does not allow it. */
function bindReadOnly(source: string, target: string): string | undefined {
  fs.mkdirSync(target, { recursive: true });
  try {
    execFileSync('mount', ['--bind', source, target], { stdio: 'pipe' });
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
  mounts.push(target);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', target], { stdio: 'pipe' });
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
  return undefined;
}

describe('stele observe beside stele serve', () => {
  it("an append in the writer reaches the observer's SSE client with the same seq and hash; the status converges", async () => {
    const d = copyFixture();
    const writer = await startServe(d);
    const observer = await startObserve(d);
    expect(observer.role).toBe('observer');
    const client = await SseClient.connect(observer.url);
    expect(client.status).toBe(200);

    const r = await command(writer.url, { cmd: 'kv.put', data: { key: 'to-observer', value: { n: 1 } } });
    expect(r.status, r.text).toBe(200);
    const ack = r.json.acks![0]!;
    const got = await waitFor('the event at the observer', () => client.events().find((e) => e.seq === ack.seq));
    expect(got.hash).toBe(ack.hash);
    expect(got).toMatchObject({ type: 'kv.put', data: { key: 'to-observer', value: { n: 1 } } });

    // More appends, in several group commits: the observer ends at the writer's roots.
    for (let i = 0; i < 3; i++) {
      const b = await batch(writer.url, Array.from({ length: 40 }, (_, j) => ({ cmd: 'kv.put', data: { key: `b${i}-${j}`, value: j } })));
      expect(b.results.every((x) => x.ok === true)).toBe(true);
    }
    const w = await getStatus(writer.url);
    const o = await waitFor('the observer to converge', async () => {
      const s = await getStatus(observer.url);
      return s.size === w.size ? s : undefined;
    });
    expect(pick(o)).toEqual(pick(w));
    expect(o).toMatchObject({ role: 'observer', integrity: { status: 'ok' }, lag: { bytes: 0, pendingBytes: 0 } });
    await waitFor('every event on the observer stream', () => client.events().at(-1)?.seq === w.size - 1);
    expect(client.events().map((e) => e.seq)).toEqual(Array.from({ length: w.size - ack.seq }, (_, i) => ack.seq + i));

    // The observer's proofs are against the writer's root.
    const p = await request<{ proof: { path: string[]; logRoot: string; eventHash: string } }>(observer.url, `/v1/events/${ack.seq}`);
    expect(p.json.proof.logRoot).toBe(w.logRoot);
    expect(checkInclusion(sha256, ack.seq, w.size, hashLeaf(sha256, fromHex(ack.hash)!), p.json.proof.path.map((h) => fromHex(h)!), fromHex(w.logRoot)!)).toBe(true);
    // And its views are the writer's.
    const [ow, oo] = await Promise.all([request(writer.url, '/v1/events?limit=1000'), request(observer.url, '/v1/events?limit=1000')]);
    expect(oo.text).toBe(ow.text);
    const [sw, so] = await Promise.all([request(writer.url, '/v1/accounts/ann'), request(observer.url, '/v1/accounts/ann')]);
    expect(so.json).toEqual(sw.json);

    // The writer's clean shutdown appends a checkpoint, which the observer follows too.
    expect(await writer.stop()).toEqual({ code: 0, signal: null });
    const last = readLog(d).at(-1)!;
    expect(last.type).toBe('stele.checkpoint');
    await waitFor('the checkpoint at the observer', () => client.events().find((e) => e.seq === last.seq && e.type === 'stele.checkpoint'));
    expect(pick(await getStatus(observer.url))).toEqual(cliStatus(d));
  });

  it('resume with Last-Event-ID at the observer misses nothing and repeats nothing while the writer appends', async () => {
    const d = copyFixture();
    const writer = await startServe(d);
    const observer = await startObserve(d);
    const n = 5;
    const writing = (async () => {
      for (let i = 0; i < 8; i++) {
        const b = await batch(writer.url, Array.from({ length: 25 }, (_, j) => ({ cmd: 'kv.put', data: { key: `r${i}-${j}`, value: j } })));
        expect(b.status).toBe(200);
      }
    })();
    // Two clients join while appends are arriving: one by header, one by query parameter.
    const a = await SseClient.connect(observer.url, '/v1/stream', { 'last-event-id': String(n) });
    const b = await SseClient.connect(observer.url, `/v1/stream?lastEventId=${n}`);
    await writing;
    const end = (await getStatus(writer.url)).size - 1;
    const lines = logBytes(d).toString('utf8').split('\n');
    for (const client of [a, b]) {
      await waitFor('the stream to reach the end of the log', () => client.events().at(-1)?.seq === end);
      const events: EventBody[] = client.events();
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: end - n }, (_, i) => n + 1 + i));
      for (const e of events) expect(e.hash).toBe(sha256Hex(lines[e.seq]!));
    }
    const bad = await request(observer.url, '/v1/stream', { headers: { 'last-event-id': String(end + 2) } });
    expect(bad.status).toBe(400);
  });
});

describe('stele observe is read-only', () => {
  it('refuses every method but GET and HEAD with 405 and an Allow header, on every route, and writes nothing', async () => {
    const d = copyFixture();
    const before = fingerprint(d);
    const observer = await startObserve(d);
    const body = JSON.stringify({ cmd: 'kv.put', data: { key: 'nope', value: 1 } });
    for (const route of ['/v1/commands', '/v1/bundles', '/v1/status', '/v1/events', '/v1/events/0', '/v1/accounts/ann', '/v1/state/kv:k1', '/v1/stream', '/', '/v1/no-such-route']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const r = await request(observer.url, route, { method, body, auth: true, headers: { 'content-type': 'application/json' } });
        expect(r.status, `${method} ${route}`).toBe(405);
        expect(r.headers.get('allow')).toBe('GET, HEAD');
        expect(r.headers.get('x-stele-role')).toBe('observer');
        expect(errorOf(r.json).code).toBe('STELE_E_METHOD_NOT_ALLOWED');
      }
    }
    // An NDJSON batch and a bundle upload with the right token: refused all the same.
    const nd = await request(observer.url, '/v1/commands', { body: `${body}\n`, auth: true, headers: { 'content-type': 'application/x-ndjson' } });
    expect(nd.status).toBe(405);
    const bundle = await request(observer.url, '/v1/bundles', { method: 'PUT', body: Buffer.alloc(1024, 1), auth: `Bearer ${testToken}` });
    expect(bundle.status).toBe(405);
    // There is no writing route to GET either, and reads work.
    expect((await request(observer.url, '/v1/commands')).status).toBe(404);
    expect((await request(observer.url, '/v1/status', { method: 'HEAD' })).status).toBe(200);
    expect((await request(observer.url, '/v1/events')).status).toBe(200);
    expect(fingerprint(d)).toEqual(before);
    expect(await observer.stop()).toEqual({ code: 0, signal: null });
    expect(fingerprint(d)).toEqual(before);
  });

  it('runs on a directory it cannot write (chmod a-w, as an unprivileged user) and changes nothing there', async () => {
    const d = copyFixture();
    const expected = cliStatus(d);
    execFileSync('chmod', ['-R', 'a-w,a+rX', d]);
    // The temporary root is 0700 (mkdtemp): let another user reach the copy.
    fs.chmodSync(root, 0o755);
    const before = fingerprint(d);
    // Root ignores permission bits: run the observer as `nobody`, whom they do bind.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    // The control: the observer's user really cannot write here.
    const probe = spawnSync(process.execPath, ['-e', `require('fs').appendFileSync(${JSON.stringify(path.join(d, 'events.ndjson'))}, 'x')`], { ...asNobody, encoding: 'utf8' });
    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toContain('EACCES');
    const observer = await startObserve(d, [], asNobody);
    const s = await getStatus(observer.url);
    expect(pick(s)).toEqual(expected);
    expect(s.integrity.status).toBe('ok');
    const events = await request<{ events: EventBody[] }>(observer.url, '/v1/events?limit=1000');
    expect(events.json.events).toHaveLength(expected.size);
    expect((await request(observer.url, '/v1/state/kv:k3')).json).toMatchObject({ found: true, value: 33 });
    expect(await observer.stop()).toEqual({ code: 0, signal: null });
    expect(fingerprint(d)).toEqual(before);
  });

  it('runs on a read-only bind mount (EROFS even for root), changes nothing, and follows the source as it grows', async (ctx) => {
    const d = copyFixture();
    const expected = cliStatus(d);
    const ro = path.join(root, 'ro-mount');
    const refused = bindReadOnly(d, ro);
    if (refused !== undefined) {
      console.warn(`SKIPPED the read-only bind mount part: mount is not permitted here (${refused}); the chmod test above covers an unwritable directory`);
      ctx.skip();
      return;
    }
    // The control: the mount is read-only for everyone, root included.
    expect(() => fs.writeFileSync(path.join(ro, 'probe'), 'x')).toThrow(/EROFS|read-only/i);
    expect(() => fs.appendFileSync(path.join(ro, 'events.ndjson'), 'x')).toThrow(/EROFS|read-only/i);
    const before = fingerprint(ro);

    const observer = await startObserve(ro);
    const client = await SseClient.connect(observer.url);
    expect(pick(await getStatus(observer.url))).toEqual(expected);
    expect((await request(observer.url, '/v1/accounts/ann')).json).toMatchObject({ balance: '500', historyMatchesState: true });
    expect(fingerprint(ro)).toEqual(before);
    expect(fingerprint(d)).toEqual(before);

    // The writer appends to the source; the observer follows through the read-only view.
    const writer = await startServe(d);
    const r = await command(writer.url, { cmd: 'kv.put', data: { key: 'through-the-mount', value: 1 } });
    const ack = r.json.acks![0]!;
    await waitFor('the append at the observer on the mount', () => client.events().find((e) => e.seq === ack.seq && e.hash === ack.hash));
    const w = await getStatus(writer.url);
    await waitFor('the observer to converge', async () => (await getStatus(observer.url)).size === w.size);
    expect(pick(await getStatus(observer.url))).toEqual(pick(w));
    await writer.stop();
    await observer.stop();
    unmount(ro);
    mounts.splice(mounts.indexOf(ro), 1);
  });
});

describe('tampering under a running observer raises the integrity alarm', () => {
  /** Waits for the alarm on status and stream, and checks that data routes refuse to answer. */
  async function expectAlarm(observer: Service, client: SseClient, kind: string): Promise<void> {
    const s = await waitFor('integrity alarm on /v1/status', async () => {
      const st = await getStatus(observer.url);
      return st.integrity.status === 'alarm' ? st : undefined;
    });
    expect(s.integrity.fault).toMatchObject({ code: 'STELE_E_INTEGRITY_ALARM', detail: { kind } });
    const alarm = await waitFor('an alarm event on the stream', () => client.named('alarm')[0]);
    expect(JSON.parse(alarm.data)).toMatchObject({ code: 'STELE_E_INTEGRITY_ALARM', detail: { kind } });
    for (const route of ['/v1/events', '/v1/events/0', '/v1/accounts/ann', '/v1/state/kv:k1', '/v1/stats', '/v1/consistency?from=1&to=2', '/v1/series']) {
      const r = await request(observer.url, route);
      expect(r.status, route).toBe(503);
      expect(errorOf(r.json).code).toBe('STELE_E_INTEGRITY_ALARM');
    }
    // Status and the document still answer; the alarm is in the observer's log.
    expect((await request(observer.url, '/v1/openapi.json')).status).toBe(200);
    await waitFor('the alarm in the log', () => observer.stderr().includes('INTEGRITY ALARM'));
  }

  it('(a) a log that shrinks', async () => {
    const d = copyFixture();
    const observer = await startObserve(d);
    const client = await SseClient.connect(observer.url);
    expect((await request(observer.url, '/v1/events')).status).toBe(200);
    const file = path.join(d, 'events.ndjson');
    const text = fs.readFileSync(file, 'utf8');
    // Drop the last line (the checkpoint): a whole-line truncation, still a valid-looking log.
    fs.truncateSync(file, text.lastIndexOf('\n', text.length - 2) + 1);
    await expectAlarm(observer, client, 'shrank');
  });

  it('(b) one byte of an earlier line changed in place (same size, new mtime)', async () => {
    const d = copyFixture();
    const observer = await startObserve(d);
    const client = await SseClient.connect(observer.url);
    expect((await request(observer.url, '/v1/events')).status).toBe(200);
    changeOneByteInPlace(path.join(d, 'events.ndjson'));
    await expectAlarm(observer, client, 'changed');
  });

  it('(b) the same with the mtime put back (the ctime still moves; the periodic audit runs every 200 ms)', async () => {
    const d = copyFixture();
    const observer = await startObserve(d, ['--audit-interval-ms', '200']);
    const client = await SseClient.connect(observer.url);
    expect((await request(observer.url, '/v1/events')).status).toBe(200);
    const file = path.join(d, 'events.ndjson');
    const st = fs.statSync(file);
    changeOneByteInPlace(file);
    fs.utimesSync(file, st.atime, st.mtime);
    await expectAlarm(observer, client, 'changed');
  });

  /** `"value":33` → `"value":34` in line 5, through a file descriptor: same inode, same size. */
  function changeOneByteInPlace(file: string): void {
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf('"value":33');
    expect(at).toBeGreaterThan(0);
    const fd = fs.openSync(file, 'r+');
    try {
      fs.writeSync(fd, Buffer.from('4'), 0, 1, at + '"value":3'.length);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(file).size).toBe(bytes.length);
  }
});

describe('a partial last line', () => {
  it('is held, not served, until its \\n arrives; then it is served and streamed', async () => {
    const d = copyFixture();
    const file = path.join(d, 'events.ndjson');
    const log = readLog(d);
    const lastLine = logBytes(d).toString('utf8').split('\n').at(-2)!;
    // The next event, as a writer would write it (DESIGN.md §2): canonical JSON, chained to
    // the last line's hash, the next seq, a ts not before the last one.
    const line = canonicalize({ seq: log.length, ts: log.at(-1)!.ts, type: 'kv.put', v: 1, data: { key: 'partial', value: 'written in two halves' }, prev: sha256Hex(lastLine) });
    const half = Math.floor(line.length / 2);

    const observer = await startObserve(d);
    const client = await SseClient.connect(observer.url);
    const size = log.length;
    expect((await getStatus(observer.url)).size).toBe(size);

    fs.appendFileSync(file, line.slice(0, half));
    // The observer has read the half line (it says it holds it) and serves nothing of it.
    const holding = await waitFor('the observer to hold the partial line', async () => {
      const s = await getStatus(observer.url);
      return s.lag.pendingBytes === half ? s : undefined;
    });
    expect(holding.size).toBe(size);
    expect(holding.lag.bytes).toBe(half);
    expect((await request(observer.url, `/v1/events/${size}`)).status).toBe(404);
    expect((await request<{ events: EventBody[] }>(observer.url, `/v1/events?after=${size - 1}`)).json.events).toEqual([]);
    expect(client.events()).toEqual([]);

    fs.appendFileSync(file, `${line.slice(half)}\n`);
    const s = await waitFor('the completed line to be served', async () => {
      const st = await getStatus(observer.url);
      return st.size === size + 1 ? st : undefined;
    });
    expect(s).toMatchObject({ integrity: { status: 'ok' }, lag: { bytes: 0, pendingBytes: 0 }, headHash: sha256Hex(line) });
    const one = await request<{ line: string; hash: string }>(observer.url, `/v1/events/${size}`);
    expect(one.json).toMatchObject({ line, hash: sha256Hex(line) });
    await waitFor('the event on the stream', () => client.events().length === 1);
    expect(client.events()[0]).toMatchObject({ seq: size, hash: sha256Hex(line), data: { key: 'partial' } });
    expect((await request(observer.url, '/v1/state/kv:partial')).json).toMatchObject({ found: true, value: 'written in two halves' });
    // The hand-made line is a valid continuation: the CLI agrees with the observer.
    expect(pick(s)).toEqual(cliStatus(d));
  });
});

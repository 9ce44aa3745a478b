/**
 * Crash soak of the service under HTTP load (issue #6): `stele serve` (the built CLI, a real
 * child process) runs with a small --checkpoint-every and --snapshot-every while concurrent
 * HTTP clients post commands (kv, ledger including rejected transfers, audit records, NDJSON
 * batches, Idempotency-Key, expectedSeq) and upload bundles of many sizes; it is SIGKILLed at
 * random moments and, through the preload fixtures/crash-at.mjs (no hook in src/), in the
 * middle of a snapshot, of a log write carrying a checkpoint, of a bundle's vault write, of
 * an upload's body, of the torn-tail recovery of the next start, and of a fresh directory's
 * initialisation.
 *
 * After every restart (a new `stele serve` on the same directory, as a user would):
 * - every acknowledged command is in the log exactly once (by its meta.req id or, for a
 *   bundle, its hash) at its acknowledged seq with its acknowledged hash; a rejection's
 *   record is there once, a refused expectedSeq wrote nothing;
 * - retrying an acknowledged idempotent command (Idempotency-Key, or a ledger movement id)
 *   returns the first response and writes nothing; retrying one whose answer was lost
 *   leaves exactly one copy;
 * - no temp file is left in the data directory (the start cleans what the kill left);
 * - the chain, every checkpoint and every snapshot verify; the state the service derived
 *   (from its newest snapshot) equals a replay from genesis, and every few rounds the
 *   independent Python checker's state root and balances;
 * - every acknowledged bundle is in the vault with its hash and size.
 *
 * 12 rounds in `npm test`; `npm run soak` runs 300 (STELE_SOAK=1; STELE_ROUNDS overrides).
 * STELE_SEED reproduces a run; a failure names the seed and the round.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyDir, verifySnapshots } from '../../src/index.js';
import { cli, repoRoot, rng, tempDir } from '../helpers.js';
import { command, request, sha256Hex, startCli, stopAll, testToken } from './service.js';
import type { Ack, Answer, CommandAnswer, Exit, LineResult, Service, StatusBody } from './service.js';

const soak = process.env.STELE_SOAK === '1';
const rounds = Number(process.env.STELE_ROUNDS ?? (soak ? 300 : 12));
const seed = Number(process.env.STELE_SEED ?? 20261202);
/** A fresh data directory every this many rounds keeps restarts short (the log is replayed whole). */
const roundsPerDir = 20;
/** Concurrent HTTP clients of the load. */
const clients = 4;
/** The Python checker runs after every this many rounds (it is slower). */
const pythonEvery = soak ? 10 : 4;
/** Bound of a targeted moment: if the write never comes, the test kills from outside. */
const momentWaitMs = 10_000;
const preload = pathToFileURL(path.join(repoRoot, 'test', 'e2e', 'fixtures', 'crash-at.mjs')).href;
const independentState = path.join(repoRoot, 'test', 'e2e', 'fixtures', 'independent_state.py');

/** Where a round's kill lands. */
type Moment = 'random' | 'snapshot' | 'checkpoint' | 'bundle' | 'upload';
/** A kill while the next start recovers (after a torn tail), or while a fresh directory is initialised. */
type StartMoment = 'quarantine' | 'init';

const moments: readonly Moment[] = ['random', 'snapshot', 'checkpoint', 'random', 'bundle', 'upload'];

const points: Record<Exclude<Moment, 'random' | 'upload'> | StartMoment, string[]> = {
  snapshot: ['partial', 'before-fsync', 'before-rename', 'after-rename'],
  checkpoint: ['torn-in-checkpoint', 'torn-before-checkpoint', 'before-fdatasync', 'after-fdatasync'],
  bundle: ['partial', 'before-sync', 'before-rename', 'after-rename'],
  quarantine: ['before-rename', 'after-rename', 'after-truncate'],
  init: ['before-marker'],
};

/** One command the load sent, and what it got. */
interface Sent {
  id: string;
  /** The JSON command as sent (without the HTTP-only fields). */
  cmd: { cmd: string; data: Record<string, unknown>; meta: { req: string } };
  key?: string;
  expectedSeq?: number;
  outcome: 'acked' | 'rejected' | 'conflict' | 'refused' | 'unknown';
  acks: { seq: number; hash: string }[];
  result?: unknown;
}

interface SentBundle {
  sha256: string;
  size: number;
  key?: string;
  /** Kept for the retry of small idempotent uploads. */
  bytes?: Buffer;
  outcome: 'acked' | 'unknown';
  acks: { seq: number; hash: string }[];
}

interface Totals {
  rounds: number;
  kills: Record<Moment | StartMoment | 'fallback', number>;
  points: Record<string, number>;
  acked: number;
  ackedChecks: number;
  rejected: number;
  conflicts: number;
  unknown: number;
  bundles: number;
  idempotentRetries: number;
  movementRetries: number;
  unknownRetries: number;
  tornTails: number;
  tempFiles: Record<string, number>;
  snapshotStarts: number;
  pythonChecks: number;
  events: number;
}

const totals: Totals = {
  rounds: 0,
  kills: { random: 0, snapshot: 0, checkpoint: 0, bundle: 0, upload: 0, quarantine: 0, init: 0, fallback: 0 },
  points: {},
  acked: 0,
  ackedChecks: 0,
  rejected: 0,
  conflicts: 0,
  unknown: 0,
  bundles: 0,
  idempotentRetries: 0,
  movementRetries: 0,
  unknownRetries: 0,
  tornTails: 0,
  tempFiles: {},
  snapshotStarts: 0,
  pythonChecks: 0,
  events: 0,
};

afterAll(stopAll);

/** The state of one data directory across its rounds. */
class DirState {
  readonly dir: string;
  readonly sent: Sent[] = [];
  readonly bundles: SentBundle[] = [];
  /** Accounts whose opening was acknowledged (deposits and transfers use them). */
  readonly accounts: string[] = [];
  /** What the last round sent, retried after the restart. */
  lastRound: { sent: Sent[]; bundles: SentBundle[] } = { sent: [], bundles: [] };
  lastSize = 0;
  readonly checkpointEvery: number;
  readonly snapshotEvery: number;
  constructor(dir: string, random: () => number) {
    this.dir = dir;
    this.checkpointEvery = 3 + Math.floor(random() * 15);
    this.snapshotEvery = 10 + Math.floor(random() * 40);
  }
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function bump(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

/** Starts the service; resolves with it, or with the exit when the process died while starting. */
async function start(state: DirState, crash: Record<string, string> | undefined): Promise<Service | { exit: Exit; stderr: string }> {
  const args = ['--data', state.dir, '--checkpoint-every', String(state.checkpointEvery), '--snapshot-every', String(state.snapshotEvery), 'serve', '--port', '0'];
  const env = crash === undefined ? {} : { ...crash, NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${preload}`.trim() };
  try {
    return await startCli(args, { env });
  } catch (err) {
    const e = err as { exit?: Exit; stderr?: string };
    if (e.exit !== undefined && e.exit.signal === 'SIGKILL') return { exit: e.exit, stderr: e.stderr ?? '' };
    throw err;
  }
}

/** How often each moment was armed: its points are taken in turn, so that every one is reached. */
const armedCount: Record<string, number> = {};

function crashEnv(random: () => number, at: keyof typeof points): Record<string, string> {
  const turn = armedCount[at] ?? 0;
  armedCount[at] = turn + 1;
  const point = points[at][turn % points[at].length]!;
  // A start initialises or recovers once: only the writes of a running service are skipped.
  const skip = at === 'init' || at === 'quarantine' ? 0 : Math.floor(random() * 3);
  return { STELE_CRASH_AT: at, STELE_CRASH_POINT: point, STELE_CRASH_SKIP: String(skip), STELE_CRASH_CUT: random().toFixed(3) };
}

/** Temp files anywhere in the data directory (what an interrupted write leaves). */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        // The lock directory belongs to the running (or killed) writer.
        if (entry.name !== 'writer.lock') walk(name);
      } else if (/\.tmp(-\d+(-\d+)?)?$|\.\d+\.tmp$/.test(entry.name)) {
        out.push(name);
      }
    }
  };
  walk('');
  return out;
}

function tempKind(file: string): string {
  return file.includes('/') ? file.split('/')[0]! : file.replace(/\.\d+\.tmp$|\.tmp(-\d+)?$/, '');
}

// ---------------------------------------------------------------------------------------
// The load

interface Load {
  dead: boolean;
  counter: number;
}

function isUnknown(err: unknown): boolean {
  // The process died under the request: the answer is lost, the outcome is unknown.
  return err instanceof Error;
}

function recordAnswer(sent: Sent, status: number, body: CommandAnswer | LineResult | undefined): void {
  if (status === 200 && body?.ok === true) {
    sent.outcome = 'acked';
    sent.acks = (body.acks ?? []).map((a: Ack) => ({ seq: a.seq, hash: a.hash }));
    sent.result = body.result;
    return;
  }
  const code = body?.error?.code;
  if (status === 409 && code === 'STELE_E_REJECTED') sent.outcome = 'rejected';
  else if (status === 409 && code === 'STELE_E_CONFLICT') sent.outcome = 'conflict';
  else if (status === 503 || code === 'STELE_E_CLOSED') sent.outcome = 'unknown';
  else throw new Error(`unexpected answer ${status} to ${JSON.stringify(sent.cmd)}: ${JSON.stringify(body)}`);
}

function newCommand(random: () => number, state: DirState, load: Load, round: number, client: number): Sent {
  const id = `r${round}-c${client}-${load.counter++}`;
  const meta = { req: id };
  const r = random();
  const accounts = state.accounts;
  let cmd: Sent['cmd'];
  if (r < 0.3 || accounts.length < 2) {
    cmd = r < 0.05 || accounts.length < 2 ? { cmd: 'ledger.open', data: { account: `a-${id}` }, meta } : { cmd: 'kv.put', data: { key: `k-${id}`, value: { round, pad: 'x'.repeat(Math.floor(random() * 1500)) } }, meta };
  } else if (r < 0.5) {
    cmd = { cmd: 'ledger.deposit', data: { id: `d-${id}`, account: pick(random, accounts), amount: String(1 + Math.floor(random() * 1000)) }, meta };
  } else if (r < 0.75) {
    const from = pick(random, accounts);
    let to = pick(random, accounts);
    if (to === from) to = accounts[(accounts.indexOf(from) + 1) % accounts.length]!;
    // A third of the transfers ask for more than any account holds: rejected, and recorded.
    const amount = random() < 0.33 ? '1000000000000' : String(1 + Math.floor(random() * 50));
    cmd = { cmd: 'ledger.transfer', data: { id: `t-${id}`, from, to, amount }, meta };
  } else if (r < 0.9) {
    cmd = { cmd: 'audit.execution', data: { txId: `x-${id}`, intent: 'soak', status: pick(random, ['succeeded', 'failed', 'blocked', 'timeout']), elapsedMs: Math.floor(random() * 500) }, meta };
  } else {
    cmd = { cmd: 'audit.telemetry', data: { metric: 'soak.latency', value: Math.floor(random() * 100) }, meta };
  }
  const sent: Sent = { id, cmd, outcome: 'unknown', acks: [] };
  if (random() < 0.3) sent.key = `key-${id}`;
  return sent;
}

async function sendOne(base: string, sent: Sent, random: () => number, state: DirState): Promise<void> {
  const body: Record<string, unknown> = { ...sent.cmd };
  if (sent.cmd.cmd === 'kv.put' && random() < 0.25) {
    sent.expectedSeq = state.lastSize;
    body['expectedSeq'] = sent.expectedSeq;
  }
  const r = await request<CommandAnswer>(base, '/v1/commands', { body, auth: true, headers: sent.key === undefined ? {} : { 'idempotency-key': sent.key } });
  recordAnswer(sent, r.status, r.json);
}

async function sendBatch(base: string, batch: Sent[]): Promise<void> {
  const text = batch.map((s) => JSON.stringify(s.key === undefined ? s.cmd : { ...s.cmd, idempotencyKey: s.key })).join('\n') + '\n';
  const r = await request(base, '/v1/commands', { body: text, auth: true, headers: { 'content-type': 'application/x-ndjson' } });
  if (r.status !== 200) {
    for (const s of batch) s.outcome = r.status === 503 ? 'unknown' : 'refused';
    if (r.status !== 503) throw new Error(`batch answered ${r.status}: ${r.text}`);
    return;
  }
  const results = r.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LineResult);
  expect(results).toHaveLength(batch.length);
  results.forEach((res, i) => recordAnswer(batch[i]!, res.ok === true ? 200 : (res.status ?? 0), res));
}

// The smallest holds the unique prefix written into every bundle (a 1-byte bundle would be deduplicated).
const bundleSizes = [48, 100, 4096, 65_536, 300_000, 1_500_000];

function newBundle(random: () => number, id: string): { bytes: Buffer; key?: string } {
  const size = pick(random, bundleSizes);
  const bytes = Buffer.alloc(size, id.charCodeAt(id.length - 1));
  // Unique bytes: a bundle's identity in the log is its hash.
  Buffer.from(`${id}:${random()}`).copy(bytes, 0, 0, Math.min(size, 64));
  return random() < 0.3 ? { bytes, key: `bkey-${id}` } : { bytes };
}

async function putBundle(base: string, state: DirState, bytes: Buffer, key: string | undefined): Promise<SentBundle> {
  const sent: SentBundle = { sha256: sha256Hex(bytes), size: bytes.length, outcome: 'unknown', acks: [], ...(key === undefined ? {} : { key }), ...(key !== undefined && bytes.length <= 65_536 ? { bytes } : {}) };
  state.bundles.push(sent);
  const r = await request<{ ok?: true; sha256: string; acks: Ack[]; error?: { code: string } }>(base, '/v1/bundles', { method: 'PUT', body: bytes, auth: true, headers: { 'content-type': 'application/octet-stream', ...(key === undefined ? {} : { 'idempotency-key': key }) } });
  if (r.status === 200 && r.json.ok === true) {
    expect(r.json.sha256).toBe(sent.sha256);
    sent.outcome = 'acked';
    sent.acks = r.json.acks.map((a) => ({ seq: a.seq, hash: a.hash }));
  } else if (r.status !== 503) {
    throw new Error(`bundle upload answered ${r.status}: ${r.text}`);
  }
  return sent;
}

/** One client: commands, batches and uploads, one at a time, until the service dies. */
async function client(base: string, state: DirState, load: Load, random: () => number, round: number, index: number, roundSent: { sent: Sent[]; bundles: SentBundle[] }): Promise<void> {
  while (!load.dead) {
    try {
      const r = random();
      if (r < 0.12) {
        const { bytes, key } = newBundle(random, `r${round}-c${index}-${load.counter++}`);
        roundSent.bundles.push(await putBundle(base, state, bytes, key));
      } else if (r < 0.27) {
        const batch = Array.from({ length: 2 + Math.floor(random() * 4) }, () => newCommand(random, state, load, round, index));
        state.sent.push(...batch);
        roundSent.sent.push(...batch);
        await sendBatch(base, batch);
        noteAcks(state, batch);
      } else {
        const sent = newCommand(random, state, load, round, index);
        state.sent.push(sent);
        roundSent.sent.push(sent);
        await sendOne(base, sent, random, state);
        noteAcks(state, [sent]);
      }
    } catch (err) {
      if (!load.dead && !isUnknown(err)) throw err;
      if (!load.dead && !(err instanceof TypeError)) throw err;
    }
  }
}

function noteAcks(state: DirState, sent: Sent[]): void {
  for (const s of sent) {
    if (s.outcome !== 'acked') continue;
    if (s.cmd.cmd === 'ledger.open') state.accounts.push(s.cmd.data['account'] as string);
    for (const a of s.acks) state.lastSize = Math.max(state.lastSize, a.seq + 1);
  }
}

/**
 * Uploads a large bundle and SIGKILLs the service when half of its body is sent: a kill
 * while the upload is being received.
 */
function killMidUpload(base: string, svc: Service, random: () => number, id: string): Promise<void> {
  const size = 4 * 1024 * 1024 + Math.floor(random() * 4 * 1024 * 1024);
  const bytes = Buffer.alloc(size, 0x61);
  Buffer.from(id).copy(bytes);
  return new Promise((resolve) => {
    const req = http.request(`${base}/v1/bundles`, { method: 'PUT', headers: { authorization: `Bearer ${testToken}`, 'content-type': 'application/octet-stream', 'content-length': String(size) } });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    const half = Math.floor(size * (0.1 + random() * 0.8));
    req.write(bytes.subarray(0, half), () => {
      svc.child.kill('SIGKILL');
      req.write(bytes.subarray(half));
      req.end();
    });
  });
}

// ---------------------------------------------------------------------------------------
// The checks after a restart

interface LogIndex {
  lines: string[];
  byReq: Map<string, { seq: number; hash: string; type: string }[]>;
  byBundle: Map<string, { seq: number; hash: string }[]>;
}

function indexLog(dir: string): LogIndex {
  const text = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8');
  const lines = text.split('\n');
  expect(lines.pop(), 'after a restart the log ends with a newline').toBe('');
  const byReq = new Map<string, { seq: number; hash: string; type: string }[]>();
  const byBundle = new Map<string, { seq: number; hash: string }[]>();
  lines.forEach((line, seq) => {
    const event = JSON.parse(line) as { type: string; data: Record<string, unknown>; meta?: { req?: string } };
    const hash = sha256Hex(line);
    const req = event.meta?.req;
    if (req !== undefined) byReq.set(req, [...(byReq.get(req) ?? []), { seq, hash, type: event.type }]);
    if (event.type === 'vault.bundle_stored') {
      const sha = event.data['sha256'] as string;
      byBundle.set(sha, [...(byBundle.get(sha) ?? []), { seq, hash }]);
    }
  });
  return { lines, byReq, byBundle };
}

async function retryIdempotent(base: string, state: DirState, where: string): Promise<void> {
  const { sent, bundles } = state.lastRound;
  for (const s of sent) {
    // A refused or conflicting first request wrote nothing: a retry would run it anew.
    if (s.key === undefined || s.outcome === 'refused' || s.outcome === 'conflict') continue;
    const r = await command(base, s.cmd, { 'idempotency-key': s.key });
    if (s.outcome === 'acked') {
      totals.idempotentRetries++;
      expect(r.status, `${where}: retry of acked ${s.id}`).toBe(200);
      expect(r.json.replayed, `${where}: retry of acked ${s.id} is a replay`).toBe(true);
      expect(r.json.acks?.map((a) => ({ seq: a.seq, hash: a.hash })), `${where}: retry of ${s.id} returns the first acks`).toEqual(s.acks);
      expect(r.json.result, `${where}: retry of ${s.id} returns the first result`).toEqual(s.result);
    } else if (s.outcome === 'rejected') {
      totals.idempotentRetries++;
      expect(r.status, `${where}: retry of rejected ${s.id}`).toBe(409);
      expect(r.headers.get('idempotent-replayed'), `${where}: retry of rejected ${s.id} is a replay`).toBe('true');
    } else if (s.outcome === 'unknown') {
      // The answer was lost: the retry either finds the first run in the log or runs it now.
      totals.unknownRetries++;
      expect([200, 409], `${where}: retry of ${s.id} whose answer was lost: ${r.text}`).toContain(r.status);
      if (r.status === 200) {
        // A retry that ran anew (the first run never reached the log) had no expectedSeq.
        if (r.json.replayed !== true) delete s.expectedSeq;
        s.outcome = 'acked';
        s.acks = (r.json.acks ?? []).map((a) => ({ seq: a.seq, hash: a.hash }));
        s.result = r.json.result;
        noteAcks(state, [s]);
      } else if (r.json.error?.code === 'STELE_E_REJECTED') {
        s.outcome = 'rejected';
      }
    }
  }
  // A ledger movement id is a key of its own: an acknowledged deposit or transfer sent again
  // without Idempotency-Key is a no-op that returns the first result ({id, seq}).
  for (const s of sent) {
    if (s.key !== undefined || s.outcome !== 'acked' || (s.cmd.cmd !== 'ledger.deposit' && s.cmd.cmd !== 'ledger.transfer')) continue;
    totals.movementRetries++;
    const r = await command(base, s.cmd);
    expect(r.status, `${where}: retry of movement ${s.id}: ${r.text}`).toBe(200);
    expect(r.json.acks, `${where}: retry of movement ${s.id} writes nothing`).toEqual([]);
    expect(r.json.result, `${where}: retry of movement ${s.id} returns the first result`).toEqual(s.result);
  }
  for (const b of bundles) {
    if (b.key === undefined || b.bytes === undefined) continue;
    const r: Answer<{ acks: Ack[]; sha256: string }> = await request(base, '/v1/bundles', { method: 'PUT', body: b.bytes, auth: true, headers: { 'content-type': 'application/octet-stream', 'idempotency-key': b.key } });
    expect(r.status, `${where}: retry of bundle ${b.sha256}`).toBe(200);
    const acks = r.json.acks.map((a) => ({ seq: a.seq, hash: a.hash }));
    if (b.outcome === 'acked') {
      totals.idempotentRetries++;
      expect(r.headers.get('idempotent-replayed'), `${where}: retry of bundle ${b.sha256}`).toBe('true');
      expect(acks).toEqual(b.acks);
    } else {
      totals.unknownRetries++;
      b.outcome = 'acked';
      b.acks = acks;
    }
  }
}

function checkAcks(state: DirState, log: LogIndex, where: string): void {
  for (const s of state.sent) {
    const found = log.byReq.get(s.id) ?? [];
    switch (s.outcome) {
      case 'acked':
        totals.ackedChecks++;
        expect(found.map((f) => ({ seq: f.seq, hash: f.hash })), `${where}: acked ${s.id} (${s.cmd.cmd}) is in the log exactly once, at its acked seq and hash`).toEqual(s.acks);
        if (s.expectedSeq !== undefined) expect(s.acks[0]?.seq, `${where}: ${s.id} was acked at its expectedSeq`).toBe(s.expectedSeq);
        break;
      case 'rejected':
        expect(found.map((f) => f.type), `${where}: rejected ${s.id} is recorded exactly once`).toEqual(['audit.command_rejected']);
        break;
      case 'conflict':
      case 'refused':
        expect(found, `${where}: refused ${s.id} wrote nothing`).toEqual([]);
        break;
      case 'unknown':
        expect(found.length, `${where}: ${s.id}, whose answer was lost, is in the log at most once`).toBeLessThanOrEqual(1);
        break;
    }
  }
  for (const b of state.bundles) {
    const found = log.byBundle.get(b.sha256) ?? [];
    expect(found.length, `${where}: bundle ${b.sha256} is recorded at most once`).toBeLessThanOrEqual(1);
    if (b.outcome !== 'acked') continue;
    totals.ackedChecks++;
    expect(found, `${where}: acked bundle ${b.sha256} is in the log at its acked seq and hash`).toEqual(b.acks);
    const file = path.join(state.dir, 'vault', b.sha256.slice(0, 2), b.sha256);
    const bytes = fs.readFileSync(file);
    expect(bytes.length, `${where}: ${file}`).toBe(b.size);
    expect(sha256Hex(bytes), `${where}: ${file} holds the bytes its name says`).toBe(b.sha256);
  }
}

async function checkAfterStart(svc: Service, state: DirState, where: string, python: boolean): Promise<void> {
  const left = tempFiles(state.dir);
  expect(left, `${where}: no temp file survives a start`).toEqual([]);
  await retryIdempotent(svc.url, state, where);
  const status = (await request<StatusBody & { replay?: unknown }>(svc.url, '/v1/status')).json;
  expect(status.integrity.status, `${where}: ${JSON.stringify(status.integrity)}`).toBe('ok');
  const log = indexLog(state.dir);
  expect(log.lines.length, `${where}: the log on disk is the service's`).toBe(status.size);
  checkAcks(state, log, where);
  // The service started from its newest snapshot; a replay from genesis must agree.
  const report = await verifyDir(state.dir, { threads: 1 });
  expect(report.fault, `${where}: verify`).toBeUndefined();
  expect(report.tornTail, `${where}: verify`).toBeUndefined();
  expect(report.stateRoot, `${where}: state from the snapshot vs from genesis`).toBe(status.stateRoot);
  const snapshots = await verifySnapshots(state.dir);
  for (const v of snapshots) expect(v, `${where}: snapshot ${v.file}`).toMatchObject({ ok: true });
  if (python) {
    totals.pythonChecks++;
    const dump = path.join(path.dirname(state.dir), 'dump.ndjson');
    const r = cli(['--data', state.dir, 'state', 'dump']);
    expect(r.status, r.stderr).toBe(0);
    fs.writeFileSync(dump, r.stdout);
    const independent = JSON.parse(execFileSync('python3', [independentState, state.dir, dump], { encoding: 'utf8' })) as { stateRoot: string; snapshots: { ok: boolean }[] };
    expect(independent.stateRoot, `${where}: the Python checker's state root`).toBe(status.stateRoot);
    expect(independent.snapshots.length).toBe(snapshots.length);
  }
}

// ---------------------------------------------------------------------------------------

/** Starts the service for the next round, as a user's restart; one start may be killed while recovering on purpose. */
async function restart(state: DirState, random: () => number, crashAtStart: StartMoment | undefined, where: string): Promise<Service> {
  if (crashAtStart !== undefined) {
    const env = crashEnv(random, crashAtStart);
    const first = await start(state, env);
    if ('exit' in first) {
      const line = /stele-crash-at (\S+) (\S+)/.exec(first.stderr);
      expect(line, `${where}: a start died without the fixture's kill: ${first.stderr}`).not.toBeNull();
      totals.kills[crashAtStart]++;
      bump(totals.points, `${line![1]}:${line![2]}`);
      noteLeftovers(state.dir);
    } else {
      // Nothing to recover (no torn tail): the moment never came; the service is up.
      return first;
    }
  }
  const svc = await start(state, undefined);
  if ('exit' in svc) throw new Error(`${where}: the restart died: ${svc.stderr}`);
  if (/"snapshot":\{/.test(svc.stderr().split('\n').find((l) => l.includes('replay finished')) ?? '')) totals.snapshotStarts++;
  return svc;
}

/** True when the log does not end with a newline (a kill tore its last write). */
function tornTail(dir: string): boolean {
  const bytes = fs.readFileSync(path.join(dir, 'events.ndjson'));
  return bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a;
}

function noteLeftovers(dir: string): void {
  for (const f of tempFiles(dir)) bump(totals.tempFiles, tempKind(f));
}

async function runRound(svc: Service, state: DirState, random: () => number, round: number, where: string): Promise<void> {
  // Every moment in turn (two random kills in six), so that even the short run reaches each one.
  const moment = moments[round % moments.length]!;
  let target = svc;
  if (moment !== 'random' && moment !== 'upload') {
    // The kill comes from inside: restart the service with the preload armed for this moment.
    await svc.stop('SIGTERM');
    const armed = await start(state, crashEnv(random, moment));
    if ('exit' in armed) throw new Error(`${where}: the armed start died: ${armed.stderr}`);
    target = armed;
  }
  const load: Load = { dead: false, counter: 0 };
  const roundSent = { sent: [] as Sent[], bundles: [] as SentBundle[] };
  const exited = target.exited.then((exit) => {
    load.dead = true;
    return exit;
  });
  const workers = Array.from({ length: clients }, (_, i) => client(target.url, state, load, rng(Math.floor(random() * 2 ** 32)), round, i, roundSent));
  let fallback: NodeJS.Timeout | undefined;
  if (moment === 'random') {
    fallback = setTimeout(() => target.child.kill('SIGKILL'), 50 + Math.floor(random() * 600));
  } else if (moment === 'upload') {
    const delay = 20 + Math.floor(random() * 200);
    await new Promise((resolve) => setTimeout(resolve, delay));
    await killMidUpload(target.url, target, random, `upload-r${round}`);
  } else {
    fallback = setTimeout(() => {
      totals.kills.fallback++;
      target.child.kill('SIGKILL');
    }, momentWaitMs);
  }
  const exit = await exited;
  clearTimeout(fallback);
  await Promise.all(workers);
  expect(exit.signal, `${where}: the service died by SIGKILL: ${target.stderr().slice(-2000)}`).toBe('SIGKILL');
  if (moment === 'random' || moment === 'upload') totals.kills[moment]++;
  else {
    const line = /stele-crash-at (\S+) (\S+)/.exec(target.stderr());
    if (line !== null) {
      totals.kills[moment]++;
      bump(totals.points, `${line[1]}:${line[2]}`);
    }
  }
  state.lastRound = roundSent;
  for (const s of roundSent.sent) {
    if (s.outcome === 'acked') totals.acked++;
    else if (s.outcome === 'rejected') totals.rejected++;
    else if (s.outcome === 'conflict') totals.conflicts++;
    else if (s.outcome === 'unknown') totals.unknown++;
  }
  totals.bundles += roundSent.bundles.filter((b) => b.outcome === 'acked').length;
  noteLeftovers(state.dir);
}

describe(`crash soak over HTTP: ${rounds} SIGKILLs of stele serve under load`, () => {
  it(
    'keeps every acknowledged command exactly once at its seq and hash, idempotent retries return the first answer, no temp file survives, the state equals an independent replay',
    async () => {
      const random = rng(seed);
      const started = Date.now();
      let tornSeen = 0;
      for (let first = 0; first < rounds; first += roundsPerDir) {
        const root = tempDir('stele-crash-http-');
        const state = new DirState(path.join(root, 'data'), random);
        // Sometimes the very first start of a fresh directory is killed while initialising it.
        let crashAtStart: StartMoment | undefined = first === 0 || random() < 0.3 ? 'init' : undefined;
        const last = Math.min(rounds, first + roundsPerDir);
        for (let round = first; round < last; round++) {
          const where = `seed ${seed} round ${round}`;
          const svc = await restart(state, random, crashAtStart, where);
          await checkAfterStart(svc, state, where, round % pythonEvery === pythonEvery - 1);
          await runRound(svc, state, random, round, where);
          totals.rounds++;
          // After a kill that tore the log, kill the recovery of every other one too.
          crashAtStart = tornTail(state.dir) && tornSeen++ % 2 === 0 ? 'quarantine' : undefined;
        }
        const where = `seed ${seed} after round ${last - 1}`;
        const svc = await restart(state, random, crashAtStart, where);
        await checkAfterStart(svc, state, where, true);
        expect((await svc.stop('SIGTERM')).code).toBe(0);
        const verified = cli(['--data', state.dir, 'verify', '--json']);
        expect(verified.status, `${where}: stele verify: ${verified.stdout}${verified.stderr}`).toBe(0);
        totals.events += indexLog(state.dir).lines.length;
        totals.tornTails += fs.readdirSync(path.join(state.dir, 'quarantine')).filter((n) => n.endsWith('.torn')).length;
        fs.rmSync(root, { recursive: true, force: true });
        if (soak) console.log(`soak over HTTP: ${last}/${rounds} rounds, ${totals.ackedChecks} acknowledged checks, ${Math.round((Date.now() - started) / 1000)} s`);
      }
      const seconds = Math.round((Date.now() - started) / 1000);
      console.log(
        `crash soak over HTTP (seed ${seed}): ${totals.rounds} rounds in ${seconds} s; kills ${JSON.stringify(totals.kills)}; points ${JSON.stringify(totals.points)}; ` +
          `${totals.acked} commands and ${totals.bundles} bundles acknowledged (${totals.rejected} rejections, ${totals.conflicts} expectedSeq conflicts, ${totals.unknown} answers cut off by the kill), ` +
          `each checked after every later restart of its directory (${totals.ackedChecks} checks), 0 lost; ${totals.idempotentRetries} idempotent retries replayed, ${totals.movementRetries} movement-id retries, ${totals.unknownRetries} retries of cut-off answers; ` +
          `${totals.tornTails} torn tails recovered; temp files found after kills ${JSON.stringify(totals.tempFiles)}; ${totals.snapshotStarts} starts from a snapshot; ${totals.pythonChecks} Python checks; ${totals.events} events in the logs`,
      );
      expect(totals.acked).toBeGreaterThan(0);
    },
    soak ? 7_200_000 : 600_000,
  );
});

/**
 * forensicAudit on generated histories (workload generator + Engine, checkpoints every 16
 * events, two snapshots, two bundles): a clean directory is ok with everything counted, and
 * each injected divergence is found and named exactly — an altered snapshot that still
 * loads, a rewritten checkpoint with the chain re-linked, altered/missing vault bytes, a
 * reducer change, a damaged snapshot, a broken chain — and `from` trusts only a snapshot
 * that verifies on its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import type { JsonObject } from '../../src/canonical/json.js';
import { forensicAudit } from '../../src/forensic/audit.js';
import type { Finding } from '../../src/forensic/finding.js';
import { sha256Hex } from '../../src/hash/sha256.js';
import { loadSnapshot, replayDir } from '../../src/runtime/replay.js';
import type { History } from './fixtures.js';
import { alterSnapshotEntry, copyHistory, generousOptions, makeHistory, readLog, rewriteLog, sharedDataDir, snapshotEntries, vaultFile } from './fixtures.js';

let shared: { root: string; data: string };
let history: History;

beforeAll(async () => {
  shared = sharedDataDir();
  history = await makeHistory({ seed: 7, commands: 240, chunk: 60, snapshotAfter: [0, 2], bundles: 2, checkpointEvery: 16 }, shared.data);
});

afterAll(() => {
  fs.rmSync(shared.root, { recursive: true, force: true });
});

const label = (size: number) => path.join('snapshots', `${String(size).padStart(16, '0')}.ndjson`);
const checkpointSeqs = (data: string) => readLog(data).filter((e) => e.type === 'stele.checkpoint').map((e) => e.seq);
/** The parts of a finding a test pins down (messages are prose). */
const shape = (f: Finding) => ({ kind: f.kind, severity: f.severity, where: f.where, key: f.key, field: f.field, recorded: f.recorded, derived: f.derived });

describe('forensicAudit', () => {
  it('a clean directory: ok, nothing found, everything counted', async () => {
    expect(history.snapshots.map((s) => s.size)).toHaveLength(2);
    const report = await forensicAudit(history.data);
    const log = readLog(history.data);
    expect(report.ok).toBe(true);
    expect(report.error).toBeUndefined();
    expect(report.first).toBeNull();
    expect(report.findings).toEqual([]);
    expect(report.base).toEqual({ from: 'genesis' });
    expect(report.log.size).toBe(log.length);
    expect(report.derived).toMatchObject({ size: log.length, complete: true, modules: [['kv', 1], ['ledger', 1], ['vault', 1], ['audit', 1]] });
    expect(report.derived.stateRoot).toBe((await replayDir(history.data, { snapshot: false })).stats.stateRoot);
    const checkpoints = checkpointSeqs(history.data).length;
    expect(checkpoints).toBeGreaterThan(10);
    expect(report.checked).toEqual({
      events: log.length,
      eventsReduced: log.length,
      checkpoints,
      checkpointLogRoots: checkpoints,
      checkpointStateRoots: checkpoints,
      snapshots: 2,
      snapshotsCompared: 2,
      snapshotsSkipped: 0,
      bundles: 2,
      vaultFiles: 2,
    });
    expect(Object.keys(report.ms).sort()).toEqual(['base', 'bundles', 'scan', 'total']);
  });

  it('(a) an altered snapshot that still loads: names the entry, the file and line, recorded vs derived', async () => {
    const h = copyHistory(history);
    const snap = h.snapshots[1]!;
    const key = [...snapshotEntries(snap.file).keys()].find((k) => k.startsWith('account:'))!;
    const original = snapshotEntries(snap.file).get(key) as JsonObject;
    const forged = { ...original, balance: String(BigInt(original['balance'] as string) + 1000n) };
    alterSnapshotEntry(snap.file, key, forged);
    // The forgery is self-consistent: it loads without complaint (a replay notices only at
    // the next checkpoint, without naming the key).
    const loaded = loadSnapshot(h.data, {});
    expect(loaded?.base.header.size).toBe(snap.size);
    expect(loaded?.machine.entries.get(key)).toEqual(forged);

    const report = await forensicAudit(h.data);
    expect(report.ok).toBe(false);
    expect(report.error).toMatchObject({ code: 'STELE_E_DIVERGENCE', expected: canonicalize(original), found: canonicalize(forged), detail: { kind: 'snapshot', key, field: 'balance' } });
    const line = fs.readFileSync(snap.file, 'utf8').split('\n').findIndex((l) => l.startsWith(`[${JSON.stringify(key)},`)) + 1;
    expect(report.findings.map(shape)).toEqual([
      { kind: 'snapshot', severity: 'divergence', where: { file: label(snap.size), line, seq: snap.size - 1 }, key, field: 'balance', recorded: canonicalize(forged), derived: canonicalize(original) },
    ]);
    expect(report.first).toEqual(report.findings[0]);
    expect(report.first?.detail).toMatchObject({ keysDiffering: 1, keys: [key] });
  });

  it('(b) a checkpoint rewritten with the chain re-linked: names its seq, then the later snapshot the rewrite invalidated', async () => {
    const h = copyHistory(history);
    const [early, late] = [h.snapshots[0]!, h.snapshots[1]!];
    const seq = checkpointSeqs(h.data).find((s) => s > early.size && s < late.size)!;
    const original = readLog(h.data)[seq]!.data['stateRoot'] as string;
    const forged = 'ab'.repeat(32);
    rewriteLog(h.data, seq, (e) => {
      e.data['stateRoot'] = forged;
    });
    // The chain and every log root still verify: replay stops only at the state root.
    const replayed = await replayDir(h.data, { snapshot: false });
    expect(replayed.fault).toMatchObject({ code: 'STELE_E_CHECKPOINT_MISMATCH', where: { seq } });

    const report = await forensicAudit(h.data);
    const log = readLog(h.data);
    expect(report.ok).toBe(false);
    expect(report.first).toMatchObject({ kind: 'checkpoint', size: seq, where: { file: 'events.ndjson', line: seq + 1, seq }, field: 'data.stateRoot', recorded: forged, derived: original });
    expect(report.error).toMatchObject({ code: 'STELE_E_DIVERGENCE', where: { file: 'events.ndjson', line: seq + 1, seq }, expected: original, found: forged });
    const headHash = sha256Hex(Buffer.from(canonicalize(log[late.size - 1] as unknown as JsonObject), 'utf8'));
    expect(report.findings.map((f) => [f.kind, f.where.seq, f.field])).toEqual([
      ['checkpoint', seq, 'data.stateRoot'],
      ['snapshot', late.size - 1, 'header.headHash'],
      ['snapshot', late.size - 1, 'header.logRoot'],
    ]);
    expect(report.findings[1]?.derived).toBe(headHash);
    // Nothing stopped: every later checkpoint was still compared (and agreed).
    expect(report.checked.checkpointStateRoots).toBe(checkpointSeqs(h.data).length);
  });

  it('(c) altered bundle bytes: names the bundle hash, the vault file and the seq that recorded it', async () => {
    const h = copyHistory(history);
    const hash = h.bundles[1]!;
    const file = vaultFile(h.data, hash);
    const bytes = fs.readFileSync(file);
    bytes[0] = bytes[0]! ^ 0x20;
    fs.writeFileSync(file, bytes);
    const recordedAt = readLog(h.data).find((e) => e.type === 'vault.bundle_stored' && e.data['sha256'] === hash)!.seq;

    const report = await forensicAudit(h.data);
    expect(report.ok).toBe(false);
    expect(report.findings.map(shape)).toEqual([
      { kind: 'bundle', severity: 'divergence', where: { file: path.join('vault', hash.slice(0, 2), hash), seq: recordedAt }, key: `bundle:${hash}`, field: 'sha256', recorded: sha256Hex(bytes), derived: hash },
    ]);
    expect(report.first?.size).toBe(recordedAt + 1);
  });

  it('a missing bundle file is a divergence; unnamed vault files are warnings that do not fail the audit', async () => {
    const h = copyHistory(history);
    const orphan = sha256Hex(Buffer.from('never recorded'));
    fs.mkdirSync(path.dirname(vaultFile(h.data, orphan)), { recursive: true });
    fs.writeFileSync(vaultFile(h.data, orphan), 'never recorded');
    fs.writeFileSync(path.join(h.data, 'vault', 'README'), 'not a bundle');
    const warnedOnly = await forensicAudit(h.data);
    expect(warnedOnly.ok).toBe(true);
    expect(warnedOnly.warnings).toBe(2);
    expect(warnedOnly.findings.map((f) => [f.severity, f.kind, f.where.file, f.key]).sort()).toEqual([
      ['warning', 'bundle', path.join('vault', 'README'), undefined],
      ['warning', 'bundle', path.join('vault', orphan.slice(0, 2), orphan), `bundle:${orphan}`],
    ].sort());

    const missing = h.bundles[0]!;
    fs.rmSync(vaultFile(h.data, missing));
    const report = await forensicAudit(h.data);
    expect(report.ok).toBe(false);
    expect(report.divergences).toBe(1);
    expect(report.first).toMatchObject({ kind: 'bundle', key: `bundle:${missing}`, field: 'file', recorded: '(absent)' });
  });

  it('(d) a changed reducer: names the first checkpoint that diverges and, in the snapshot, the first key with both values', async () => {
    const log = readLog(history.data);
    const deposits = log.filter((e) => e.type === 'ledger.deposited');
    const firstDeposit = deposits[0]!.seq;
    const firstCheckpoint = checkpointSeqs(history.data).find((s) => s > firstDeposit)!;
    const snap = history.snapshots.find((s) => s.size > firstDeposit)!;
    // Independently of the audit: the first account key (sorted) credited before the
    // snapshot, and how many deposits it got (one unit more each).
    const credited = deposits.filter((e) => e.seq < snap.size).map((e) => e.data['account'] as string);
    const account = [...new Set(credited)].sort()[0]!;
    const key = `account:${account}`;
    const recorded = snapshotEntries(snap.file).get(key) as JsonObject;
    const extra = BigInt(credited.filter((a) => a === account).length);

    const report = await forensicAudit(history.data, generousOptions());
    expect(report.ok).toBe(false);
    const checkpoint = report.findings.find((f) => f.kind === 'checkpoint')!;
    expect(checkpoint).toMatchObject({ where: { seq: firstCheckpoint }, field: 'data.stateRoot', recorded: log[firstCheckpoint]!.data['stateRoot'] });
    const entry = report.findings.find((f) => f.kind === 'snapshot' && f.key !== undefined)!;
    expect(entry).toMatchObject({
      where: { file: label(snap.size), seq: snap.size - 1 },
      key,
      field: 'balance',
      recorded: canonicalize(recorded),
      derived: canonicalize({ ...recorded, balance: String(BigInt(recorded['balance'] as string) + extra) }),
    });
    // The first divergence is whichever comes first in the log.
    expect(report.first).toEqual(firstCheckpoint < snap.size ? checkpoint : entry);
    // Every later checkpoint diverges too, and the private ledger state of every snapshot.
    expect(report.findings.filter((f) => f.kind === 'checkpoint').map((f) => f.where.seq)).toEqual(checkpointSeqs(history.data).filter((s) => s > firstDeposit));
    expect(report.findings.filter((f) => f.field?.startsWith('parts.ledger') === true).map((f) => f.where.file)).toEqual(history.snapshots.filter((s) => s.size > firstDeposit).map((s) => label(s.size)));
    // Nothing else: no chain fault, no invariant, the vault agrees.
    expect(report.findings.filter((f) => f.kind !== 'checkpoint' && f.kind !== 'snapshot')).toEqual([]);
  });

  it('a damaged snapshot is a finding naming the file and line; the audit goes on', async () => {
    const h = copyHistory(history);
    const snap = h.snapshots[0]!;
    const lines = fs.readFileSync(snap.file, 'utf8').split('\n');
    lines[6] = '{"broken":';
    fs.writeFileSync(snap.file, lines.join('\n'));
    const report = await forensicAudit(h.data);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => [f.kind, f.code, f.where.file, f.where.line])).toEqual([['snapshot', 'STELE_E_SNAPSHOT_INVALID', label(snap.size), 7]]);
    expect(report.checked).toMatchObject({ snapshots: 2, snapshotsCompared: 1, bundles: 2 });
  });

  it('a broken chain ends the replay: a finding with its line and seq; what it never reached is counted, not blamed', async () => {
    const h = copyHistory(history);
    const file = path.join(h.data, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const seq = 120;
    lines[seq] = lines[seq]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'0'.repeat(64)}"`);
    fs.writeFileSync(file, lines.join('\n'));
    const report = await forensicAudit(h.data);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => [f.kind, f.code, f.where.seq, f.where.line])).toEqual([['chain', 'STELE_E_CHAIN_BROKEN', seq, seq + 1]]);
    expect(report.log.size).toBe(seq);
    expect(report.derived).toMatchObject({ size: seq, complete: false });
    expect(report.checked).toMatchObject({ events: seq, snapshotsCompared: 1, snapshotsSkipped: 1 });
  });

  describe('from SEQ', () => {
    it('starts at the newest snapshot at or below SEQ and re-derives only from there', async () => {
      const [early, late] = [history.snapshots[0]!, history.snapshots[1]!];
      const report = await forensicAudit(history.data, { from: late.size - 1 });
      const size = readLog(history.data).length;
      expect(report.ok).toBe(true);
      expect(report.requestedFrom).toBe(late.size - 1);
      expect(report.base).toMatchObject({ from: 'snapshot', file: label(early.size), size: early.size });
      expect(report.checked).toMatchObject({
        events: size,
        eventsReduced: size - early.size,
        checkpointLogRoots: checkpointSeqs(history.data).length,
        checkpointStateRoots: checkpointSeqs(history.data).filter((s) => s >= early.size).length,
        snapshotsCompared: 1,
        snapshotsSkipped: 1,
      });
    });

    it('trusts a self-consistent forgery as its base, says so, and the next checkpoint exposes it', async () => {
      const h = copyHistory(history);
      const late = h.snapshots[1]!;
      const key = [...snapshotEntries(late.file).keys()].find((k) => k.startsWith('kv:'))!;
      alterSnapshotEntry(late.file, key, 'forged');
      const report = await forensicAudit(h.data, { from: late.size });
      expect(report.base).toMatchObject({ from: 'snapshot', file: label(late.size) });
      const next = checkpointSeqs(h.data).find((s) => s >= late.size)!;
      expect(report.first).toMatchObject({ kind: 'checkpoint', where: { seq: next }, field: 'data.stateRoot' });
    });

    it('passes over a snapshot that does not verify on its own, naming it, to an older one', async () => {
      const h = copyHistory(history);
      const [early, late] = [h.snapshots[0]!, h.snapshots[1]!];
      const text = fs.readFileSync(late.file, 'utf8');
      fs.writeFileSync(late.file, text.replace(/"sha256":"([0-9a-f])/, (_m, c: string) => `"sha256":"${c === '0' ? '1' : '0'}`));
      const report = await forensicAudit(h.data, { from: late.size });
      expect(report.base).toMatchObject({ from: 'snapshot', file: label(early.size) });
      expect(report.findings.map((f) => [f.kind, f.code, f.where.file])).toEqual([['snapshot', 'STELE_E_SNAPSHOT_INVALID', label(late.size)]]);
      expect(report.checked.snapshotsCompared).toBe(0);
    });

    it('with no usable snapshot at or below SEQ, derives from genesis', async () => {
      const report = await forensicAudit(history.data, { from: history.snapshots[0]!.size - 1 });
      expect(report.ok).toBe(true);
      expect(report.base).toEqual({ from: 'genesis' });
      expect(report.checked.snapshotsCompared).toBe(2);
    });
  });

  it('refuses a directory that is not a data directory', async () => {
    await expect(forensicAudit(path.join(shared.root, 'nope'))).rejects.toMatchObject({ code: 'STELE_E_DATA_DIR_MISSING' });
  });
});

/**
 * The monitor's shell in-process (src/monitor/monitor.ts, data-source.ts, http-source.ts)
 * against data directories written by the Engine: the state file (created on first use,
 * canonical, advanced only by ok verdicts), the directory left untouched, the recheck from
 * the log that keeps a damaged tree file from raising a false alarm, an unreachable URL, a
 * log without checkpoints, and a state file that is not valid.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { isCanonical } from '../../src/canonical/json.js';
import { loadPublicKey, loadSigningKey, writeKeyPair } from '../../src/crypto/keys.js';
import type { SigningKey } from '../../src/crypto/keys.js';
import { DataDirSource } from '../../src/monitor/data-source.js';
import { HttpSource, normalizeServiceUrl } from '../../src/monitor/http-source.js';
import type { MonitorOptions } from '../../src/monitor/monitor.js';
import { pollOnce, readMonitorState } from '../../src/monitor/monitor.js';
import { storedHashCount } from '../../src/merkle/log-tree.js';
import { Engine } from '../../src/runtime/engine.js';
import { fingerprint, readLog } from '../e2e/service.js';
import { errorCodeOf, newDataDir, tempDir } from '../helpers.js';

function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

let counter = 0;
/** Appends `count` kv.put events through the Engine (a checkpoint every 5 events, and one on close). */
async function write(dir: string, count: number, signingKey?: SigningKey): Promise<void> {
  const engine = await Engine.open(dir, { checkpointEvery: 5, ...(signingKey === undefined ? {} : { signingKey }) });
  try {
    for (let i = 0; i < count; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${counter}`, value: counter++ } });
  } finally {
    await engine.close();
  }
}

function keyPair(): { signingKey: SigningKey; publicFile: string } {
  const root = tempDir('stele-monitor-key-');
  const file = path.join(root, 'writer.key');
  writeKeyPair(file);
  return { signingKey: loadSigningKey(file), publicFile: `${file}.pub` };
}

function options(dir: string, stateFile: string, logger: Logger, extra: Partial<MonitorOptions> = {}): MonitorOptions {
  return { source: new DataDirSource(dir), recheckSource: () => new DataDirSource(dir, 'log'), stateFile, pinnedKeys: [], requireSigned: false, logger, ...extra };
}

describe('pollOnce on a data directory', () => {
  it('records the first checkpoint (trust on first use), then advances; the directory is never written', async () => {
    const dir = newDataDir();
    const { signingKey, publicFile } = keyPair();
    await write(dir, 7, signingKey);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const { logger, lines } = capture();
    const before = fingerprint(dir);
    const pinnedKeys = [loadPublicKey(publicFile)];

    const first = await pollOnce(options(dir, stateFile, logger, { pinnedKeys, requireSigned: true }));
    expect(first).toMatchObject({ verdict: 'first', outcome: 'ok', recorded: true, remembered: null, signature: { status: 'valid', keyId: signingKey.keyId } });
    expect(first.notes[0]).toContain('on first use');
    const text = fs.readFileSync(stateFile, 'utf8');
    expect(isCanonical(text.slice(0, -1))).toBe(true);
    const state = readMonitorState(stateFile)!;
    // The newest checkpoint is the one written on close, after the 7 events and the one at seq 5.
    expect(state.checkpoint.seq).toBe(8);
    expect(state.trusted.seq).toBe(8);
    expect(state.head.size).toBe(9);
    expect(state.source).toBe(path.resolve(dir));
    expect(state.keys).toEqual([]); // pinned keys are not learned
    expect(fingerprint(dir)).toEqual(before);

    const unchanged = await pollOnce(options(dir, stateFile, logger, { pinnedKeys, requireSigned: true }));
    expect(unchanged.verdict).toBe('unchanged');

    await write(dir, 6, signingKey);
    const advanced = await pollOnce(options(dir, stateFile, logger, { pinnedKeys, requireSigned: true }));
    expect(advanced).toMatchObject({ verdict: 'advanced', outcome: 'ok', remembered: { checkpoint: { seq: 8 } } });
    expect(readMonitorState(stateFile)!).toMatchObject({ trusted: { seq: 8 }, checked: { verdict: 'advanced', signature: 'valid' } });
    expect(readMonitorState(stateFile)!.checkpoint.seq).toBeGreaterThan(8);
    expect(lines.some((l) => l['level'] === 30 && String(l['msg']).startsWith('advanced'))).toBe(true);
    expect(lines.filter((l) => (l['level'] as number) >= 40)).toEqual([]);
  });

  it('learns the keyring key on first use without --pubkey, and records it', async () => {
    const dir = newDataDir();
    const { signingKey } = keyPair();
    await write(dir, 3, signingKey);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const report = await pollOnce(options(dir, stateFile, capture().logger, { requireSigned: true }));
    expect(report).toMatchObject({ verdict: 'first', signature: { status: 'valid' } });
    expect(report.notes.join(' ')).toContain(`trusting key ${signingKey.keyId} on first use`);
    expect(readMonitorState(stateFile)!.keys.map((k) => k.keyId)).toEqual([signingKey.keyId]);
  });

  it('an alarm leaves the state file byte for byte as it was, and repeats at every look', async () => {
    const dir = newDataDir();
    await write(dir, 7);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const { logger, lines } = capture();
    await pollOnce(options(dir, stateFile, logger));
    const recorded = fs.readFileSync(stateFile);
    // Cut the log back to 3 events (and drop the tree file, as an operator hiding it would).
    const log = path.join(dir, 'events.ndjson');
    fs.writeFileSync(log, fs.readFileSync(log, 'utf8').split('\n').slice(0, 3).join('\n') + '\n');
    fs.rmSync(path.join(dir, 'index', 'tree.hashes'));
    for (let i = 0; i < 2; i++) {
      const report = await pollOnce(options(dir, stateFile, logger));
      expect(report).toMatchObject({ verdict: 'truncated', outcome: 'alarm', recorded: false, error: { code: 'STELE_E_TRUNCATED' } });
      expect(fs.readFileSync(stateFile)).toEqual(recorded);
    }
    const alarms = lines.filter((l) => l['level'] === 50);
    expect(alarms).toHaveLength(2);
    expect(alarms[0]).toMatchObject({ code: 'STELE_E_TRUNCATED', verdict: 'truncated', remembered: { head: { size: 9 } }, latest: { head: { size: 3 } } });
    expect(String(alarms[0]!['msg'])).toContain('the state file is not advanced');
  });

  it('a damaged tree file raises no false alarm: everything is computed again from the log, and a warning names the file', async () => {
    const dir = newDataDir();
    await write(dir, 12);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const { logger, lines } = capture();
    await pollOnce(options(dir, stateFile, logger));
    const recorded = fs.readFileSync(stateFile);
    await write(dir, 9);
    const size = readLog(dir).length;
    const treeFile = path.join(dir, 'index', 'tree.hashes');
    const good = fs.readFileSync(treeFile);
    // (1) Every stored hash damaged but the head's leaf, which readStatus checks against the
    // log: the tree file's root and proofs are wrong, and only the proofs tell.
    const keepLeaf = Buffer.from(good);
    const leafAt = storedHashCount(size - 1) * 32;
    for (let i = 0; i < keepLeaf.length; i++) if (i < leafAt || i >= leafAt + 32) keepLeaf[i] = keepLeaf[i]! ^ 0xff;
    fs.writeFileSync(treeFile, keepLeaf);
    const { recheckSource: _dropped, ...noRecheck } = options(dir, stateFile, logger);
    expect((await pollOnce(noRecheck)).verdict).toBe('rewritten');
    expect(fs.readFileSync(stateFile)).toEqual(recorded);
    const rechecked = await pollOnce(options(dir, stateFile, logger));
    expect(rechecked.verdict, JSON.stringify(rechecked.error)).toBe('advanced');
    expect(lines.some((l) => l['level'] === 40 && String(l['msg']).includes('index/tree.hashes disagrees with the log'))).toBe(true);
    // (2) The whole file damaged: the reader calls the log damaged; the log itself is fine.
    await write(dir, 4);
    fs.writeFileSync(treeFile, Buffer.alloc(fs.statSync(treeFile).size, 0xab));
    expect((await pollOnce(noRecheck)).verdict).toBe('damaged');
    const again = await pollOnce(options(dir, stateFile, logger));
    expect(again.verdict, JSON.stringify(again.error)).toBe('advanced');
    expect(lines.some((l) => l['level'] === 40 && String(l['msg']).includes('reading with index/tree.hashes failed'))).toBe(true);
  });

  it('a log without a checkpoint records nothing; a missing directory is unreachable', async () => {
    const dir = newDataDir();
    fs.writeFileSync(path.join(dir, 'events.ndjson'), '');
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const report = await pollOnce(options(dir, stateFile, capture().logger));
    expect(report).toMatchObject({ verdict: 'no-checkpoint', outcome: 'ok', recorded: false, found: { checkpoint: null, head: { size: 0 } } });
    expect(fs.existsSync(stateFile)).toBe(false);
    const gone = await pollOnce(options(path.join(dir, 'nope'), stateFile, capture().logger));
    expect(gone).toMatchObject({ verdict: 'unreachable', outcome: 'unreachable', error: { code: 'STELE_E_DATA_DIR_MISSING' } });
  });

  it('a state file that is not valid stops the monitor with STELE_E_USAGE and is left alone', async () => {
    const dir = newDataDir();
    await write(dir, 3);
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    fs.writeFileSync(stateFile, '{"format":"stele.monitor.state"}\n');
    await expect(pollOnce(options(dir, stateFile, capture().logger))).rejects.toMatchObject({ code: 'STELE_E_USAGE', where: { file: stateFile } });
    expect(fs.readFileSync(stateFile, 'utf8')).toBe('{"format":"stele.monitor.state"}\n');
  });
});

describe('the HTTP source', () => {
  it('an unreachable service is a warning and the unreachable outcome, never an alarm', async () => {
    const stateFile = path.join(tempDir('stele-monitor-'), 'state.json');
    const { logger, lines } = capture();
    // Port 9 (discard) on loopback: nothing listens in a test environment.
    const report = await pollOnce({ source: new HttpSource('http://127.0.0.1:9'), stateFile, pinnedKeys: [], requireSigned: false, logger });
    expect(report).toMatchObject({ verdict: 'unreachable', outcome: 'unreachable', recorded: false, error: { code: 'STELE_E_IO' } });
    expect(report.error!.message).toContain('cannot reach http://127.0.0.1:9/v1/checkpoints/latest');
    expect(lines.filter((l) => l['level'] === 40)).toHaveLength(1);
    expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
  });

  it('takes http(s) base URLs only', () => {
    expect(normalizeServiceUrl('http://127.0.0.1:8640/')).toBe('http://127.0.0.1:8640');
    expect(normalizeServiceUrl('https://log.example.org/stele/')).toBe('https://log.example.org/stele');
    for (const bad of ['ftp://x', 'not a url', 'http://x/?a=1', 'http://user:pw@x']) expect(errorCodeOf(() => normalizeServiceUrl(bad)), bad).toBe('STELE_E_USAGE');
  });
});

/** Opening a data directory as the writer: derived files repaired, damage refused. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openWriter } from '../../src/log/open.js';
import { verifyLog } from '../../src/log/read.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { tempDir } from '../helpers.js';

async function dirWith(events: number): Promise<string> {
  const dir = path.join(tempDir(), 'data');
  initDataDir(dir);
  const opened = await openWriter(dir);
  await opened.writer.appendBatch(Array.from({ length: events }, (_, i) => ({ type: 'kv.put', data: { key: `k${i}`, value: i } })));
  await opened.close();
  return dir;
}

describe('openWriter', () => {
  it('rebuilds a missing tree file', async () => {
    const dir = await dirWith(50);
    const tree = path.join(dir, 'index', 'tree.hashes');
    const original = fs.readFileSync(tree);
    fs.rmSync(tree);
    const opened = await openWriter(dir);
    expect(opened.treeRepair).toMatchObject({ fromIndex: 0, reason: 'missing hashes' });
    await opened.close();
    expect(fs.readFileSync(tree)).toEqual(original);
  });

  it('rebuilds a wrong tree file from the first wrong hash and keeps a copy in quarantine', async () => {
    const dir = await dirWith(50);
    const tree = path.join(dir, 'index', 'tree.hashes');
    const original = fs.readFileSync(tree);
    const damaged = Buffer.from(original);
    damaged[32 * 40 + 3] = damaged[32 * 40 + 3]! ^ 0xff;
    fs.writeFileSync(tree, damaged);
    expect((await verifyLog(dir)).treeFile).toBe('wrong');
    const opened = await openWriter(dir);
    expect(opened.treeRepair).toMatchObject({ fromIndex: 40, reason: 'wrong hash' });
    await opened.close();
    expect(fs.readFileSync(tree)).toEqual(original);
    const copies = fs.readdirSync(path.join(dir, 'quarantine')).filter((f) => f.startsWith('tree.hashes.'));
    expect(copies).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, 'quarantine', copies[0]!))).toEqual(damaged);
    expect(await verifyLog(dir)).toMatchObject({ ok: true, treeFile: 'ok' });
  });

  it('refuses to open a damaged log with STELE_E_PANIC naming the line, changing nothing', async () => {
    const dir = await dirWith(10);
    const file = path.join(dir, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.splice(4, 1); // remove line 5
    fs.writeFileSync(file, lines.join('\n'));
    const before = fs.readFileSync(file);
    await expect(openWriter(dir)).rejects.toMatchObject({ code: 'STELE_E_PANIC', where: { line: 5, seq: 4 } });
    expect(fs.readFileSync(file)).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'writer.lock'))).toBe(false);
  });

  it('records a quarantine file that no stele.recovered event names (crash during recovery)', async () => {
    const dir = await dirWith(3);
    const torn = Buffer.from('{"data":{"key":"x"');
    const name = `events.ndjson.${'0'.repeat(13)}999.0123456789abcdef.torn`;
    fs.writeFileSync(path.join(dir, 'quarantine', name), torn);
    const opened = await openWriter(dir);
    expect(opened.recovered).toHaveLength(1);
    await opened.close();
    const again = await openWriter(dir);
    expect(again.recovered).toHaveLength(0);
    await again.close();
    const last = fs.readFileSync(path.join(dir, 'events.ndjson'), 'utf8').trim().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({ type: 'stele.recovered', data: { bytes: torn.length, offset: 999, file: `quarantine/${name}` } });
  });

  it('removes the temp file of a quarantine (or key) write a crash interrupted, and recovers the torn tail it was saving', async () => {
    const dir = await dirWith(3);
    const log = path.join(dir, 'events.ndjson');
    const torn = '{"data":{"key":"torn"';
    fs.appendFileSync(log, torn);
    // A writer killed while quarantining this tail: the temp of its durable write, not renamed.
    const offset = fs.statSync(log).size - torn.length;
    const temp = `events.ndjson.${String(offset).padStart(16, '0')}.0123456789abcdef.torn.tmp-4242`;
    fs.writeFileSync(path.join(dir, 'quarantine', temp), torn.slice(0, 5));
    fs.mkdirSync(path.join(dir, 'keys'));
    fs.writeFileSync(path.join(dir, 'keys', `${'ab'.repeat(32)}.pub.tmp-4242`), 'stele-pub');
    const opened = await openWriter(dir);
    expect(opened.recovered).toHaveLength(1);
    await opened.close();
    expect(fs.readdirSync(path.join(dir, 'quarantine')).filter((n) => n.includes('.tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'keys'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'quarantine')).filter((n) => n.endsWith('.torn'))).toHaveLength(1);
    expect(await verifyLog(dir)).toMatchObject({ ok: true });
  });
});

describe('a writer whose lock is lost', () => {
  it('refuses appends with STELE_E_LOCKED once it notices (lock directory deleted under it)', async () => {
    const dir = await dirWith(1);
    const opened = await openWriter(dir);
    try {
      fs.rmSync(path.join(dir, 'writer.lock'), { recursive: true, force: true });
      // proper-lockfile notices at its next refresh (every lockUpdateMs).
      const deadline = Date.now() + 15_000;
      let refused: unknown;
      while (refused === undefined && Date.now() < deadline) {
        try {
          await opened.writer.append({ type: 'kv.put', data: { key: 'k', value: 1 } });
          await new Promise((r) => setTimeout(r, 200));
        } catch (err) {
          refused = err;
        }
      }
      expect(refused).toMatchObject({ code: 'STELE_E_LOCKED' });
    } finally {
      await opened.close().catch(() => undefined);
    }
  }, 20_000);
});

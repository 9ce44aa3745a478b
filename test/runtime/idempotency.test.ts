/**
 * Idempotency keys through the engine: a retry gets the first response and writes nothing,
 * also after a restart (from the log alone, also when the startup began at a snapshot); the
 * same key with another request is refused; concurrent retries wait for the first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/runtime/engine.js';
import { caughtSteleError, newDataDir } from '../helpers.js';




function logLines(data: string): string[] {
  return fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n').filter((l) => l !== '');
}

const put = { cmd: 'kv.put', data: { key: 'colour', value: 'blue' } };

describe('idempotency keys', () => {
  it('a retry gets the first response and appends nothing', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir);
    try {
      const first = await engine.run(put, { idempotencyKey: 'req-1' });
      const size = engine.status().size;
      const again = await engine.run(put, { idempotencyKey: 'req-1' });
      expect(again.replayed).toBe(true);
      expect(again.acks.map((a) => [a.seq, a.hash])).toEqual(first.acks.map((a) => [a.seq, a.hash]));
      expect(again.result).toEqual(first.result);
      expect(engine.status().size).toBe(size);
      // Without a key the same command runs again.
      await engine.run(put);
      expect(engine.status().size).toBe(size + 1);
    } finally {
      await engine.close();
    }
    const line = JSON.parse(logLines(dir)[0]!) as { meta: Record<string, unknown> };
    expect(line.meta['idempotencyKey']).toBe('req-1');
    expect(line.meta['requestHash']).toMatch(/^[0-9a-f]{64}$/);
    expect(line.meta['result']).toEqual({ key: 'colour' });
  });

  it('a retry after a restart (started from a snapshot taken after the first) gets the same response', async () => {
    const dir = newDataDir();
    let first;
    let engine = await Engine.open(dir);
    try {
      first = await engine.run({ cmd: 'ledger.open', data: { account: 'alice' } }, { idempotencyKey: 'open-alice' });
      for (let i = 0; i < 5; i++) await engine.run({ cmd: 'kv.put', data: { key: `k${i}`, value: i } });
      await engine.snapshot();
    } finally {
      await engine.close();
    }
    const before = logLines(dir).length;
    engine = await Engine.open(dir);
    try {
      expect(engine.replay.snapshot).toBeDefined();
      expect(engine.idempotencyKeys).toBe(1);
      const again = await engine.run({ cmd: 'ledger.open', data: { account: 'alice' } }, { idempotencyKey: 'open-alice' });
      expect(again.replayed).toBe(true);
      expect(again.acks.map((a) => a.seq)).toEqual(first.acks.map((a) => a.seq));
      expect(again.acks[0]!.hash).toBe(first.acks[0]!.hash);
      expect(again.result).toEqual(first.result);
      // The replayed ack's root is the log's root right after the event: provable.
      expect(again.acks[0]!.logRoot).toBe(engine.log.writer.rootAt(first.acks[0]!.seq + 1));
    } finally {
      await engine.close();
    }
    expect(logLines(dir).length).toBe(before);
  });

  it('the same key with another request is refused and writes nothing', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir);
    try {
      await engine.run(put, { idempotencyKey: 'req-1' });
      const size = engine.status().size;
      const err = await caughtSteleError(engine.run({ cmd: 'kv.put', data: { key: 'colour', value: 'red' } }, { idempotencyKey: 'req-1' }));
      expect(err.code).toBe('STELE_E_IDEMPOTENCY_MISMATCH');
      expect(engine.status().size).toBe(size);
    } finally {
      await engine.close();
    }
  });

  it('a rejected command replays its rejection, also after a restart', async () => {
    const dir = newDataDir();
    let engine = await Engine.open(dir);
    const overdraft = { cmd: 'ledger.withdraw', data: { id: 'w1', account: 'bob', amount: '5' } };
    try {
      await engine.run({ cmd: 'ledger.open', data: { account: 'bob' } });
      const err = await caughtSteleError(engine.run(overdraft, { idempotencyKey: 'w-1' }));
      expect(err.code).toBe('STELE_E_REJECTED');
      const again = await caughtSteleError(engine.run(overdraft, { idempotencyKey: 'w-1' }));
      expect(again.code).toBe('STELE_E_REJECTED');
      expect(again.detail?.['reason']).toBe(err.detail?.['reason']);
    } finally {
      await engine.close();
    }
    const size = logLines(dir).length;
    engine = await Engine.open(dir);
    try {
      const again = await caughtSteleError(engine.run(overdraft, { idempotencyKey: 'w-1' }));
      expect(again.code).toBe('STELE_E_REJECTED');
      expect(again.detail?.['replayed']).toBe(true);
    } finally {
      await engine.close();
    }
    expect(logLines(dir).length).toBe(size);
  });

  it('concurrent requests with one key run once', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => engine.run(put, { idempotencyKey: 'same' })));
      expect(new Set(results.map((r) => r.acks[0]!.seq)).size).toBe(1);
      expect(results.filter((r) => r.replayed !== true)).toHaveLength(1);
    } finally {
      await engine.close();
    }
    expect(logLines(dir).filter((l) => l.includes('"kv.put"'))).toHaveLength(1);
  });

  it('refuses malformed keys and reserved meta fields before writing', async () => {
    const dir = newDataDir();
    const engine = await Engine.open(dir);
    try {
      expect((await caughtSteleError(engine.run(put, { idempotencyKey: '' }))).code).toBe('STELE_E_USAGE');
      expect((await caughtSteleError(engine.run(put, { idempotencyKey: 'has space' }))).code).toBe('STELE_E_USAGE');
      expect((await caughtSteleError(engine.run(put, { idempotencyKey: 'x'.repeat(129) }))).code).toBe('STELE_E_USAGE');
      expect((await caughtSteleError(engine.run({ ...put, meta: { idempotencyKey: 'k' } }, { idempotencyKey: 'k' }))).code).toBe('STELE_E_SCHEMA');
      expect(engine.status().size).toBe(0);
    } finally {
      await engine.close();
    }
  });
});

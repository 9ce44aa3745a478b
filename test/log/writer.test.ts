/**
 * The writer over the LogStore contract: one suite, run against every store implementation
 * (memory and file), as Emmett runs its suites against every event store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry } from '../../src/events/builtin.js';
import { emptyHead } from '../../src/log/chain.js';
import { LogWriter } from '../../src/log/writer.js';
import { scanLogFile } from '../../src/log/scan.js';
import { sha256 } from '../../src/hash/sha256.js';
import { checkInclusion, hashLeaf, LogTreeFrontier, MemoryHashStore } from '../../src/merkle/log-tree.js';
import { fromHex } from '../../src/hash/hex.js';
import { FileStore } from '../../src/store/file-store.js';
import type { LogStore } from '../../src/store/log-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { isSteleError } from '../../src/errors.js';
import { tempDir } from '../helpers.js';

interface Harness {
  store: LogStore;
  writer: LogWriter;
  lines(): Promise<string[]>;
}

const stores: Record<string, (clock?: () => number) => Harness> = {
  memory: (clock) => {
    const store = new MemoryStore();
    return harness(store, clock);
  },
  file: (clock) => {
    const dir = tempDir();
    const file = path.join(dir, 'events.ndjson');
    fs.writeFileSync(file, '');
    const store = FileStore.open(file, { size: 0, endOffset: 0, sparseOffsets: [] }, { readOnly: false });
    return harness(store, clock);
  },
};

function harness(store: LogStore, clock?: () => number): Harness {
  const writer = new LogWriter({
    store,
    registry: createRegistry(),
    head: emptyHead,
    frontier: new LogTreeFrontier(sha256),
    tree: new MemoryHashStore(),
    ...(clock === undefined ? {} : { clock }),
  });
  return {
    store,
    writer,
    async lines() {
      const out: string[] = [];
      for await (const batch of store.read(0)) for (const l of batch) out.push(l.line.toString('utf8'));
      return out;
    },
  };
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.writer.close();
});

for (const [name, make] of Object.entries(stores)) {
  describe(`LogWriter on the ${name} store`, () => {
    const start = (clock?: () => number) => {
      const h = make(clock);
      open.push(h);
      return h;
    };

    it('acknowledges with seq, hash, size and the log root of a durable prefix', async () => {
      const h = start();
      const ack = await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
      expect(ack.seq).toBe(0);
      expect(ack.size).toBe(1);
      const lines = await h.lines();
      expect(lines).toHaveLength(1);
      expect(ack.hash).toBe(Buffer.from(sha256(Buffer.from(lines[0]!))).toString('hex'));
      expect(ack.logRoot).toBe(Buffer.from(hashLeaf(sha256, fromHex(ack.hash)!)).toString('hex'));
      const event = JSON.parse(lines[0]!);
      expect(event).toMatchObject({ seq: 0, type: 'kv.put', v: 1, data: { key: 'a', value: 1 }, prev: '0'.repeat(64) });
    });

    it('coalesces concurrent appends into one store append and acks each caller after it', async () => {
      const h = start();
      let appends = 0;
      const original = h.store.append.bind(h.store);
      h.store.append = (expected, bytes, count) => {
        appends++;
        return original(expected, bytes, count);
      };
      const acks = await Promise.all(Array.from({ length: 256 }, (_, i) => h.writer.append({ type: 'kv.put', data: { key: `k${i}`, value: i } })));
      expect(appends).toBe(1);
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 256 }, (_, i) => i));
      expect(new Set(acks.map((a) => a.size))).toEqual(new Set([256]));
      // Every acked event is provably included in the root its ack carries.
      const tree = new MemoryHashStore();
      const frontier = new LogTreeFrontier(sha256);
      for (const a of acks) tree.append(frontier.append(fromHex(a.hash)!));
      const { proveInclusion } = await import('../../src/merkle/log-tree.js');
      for (const a of [acks[0]!, acks[100]!, acks[255]!]) {
        const proof = proveInclusion(sha256, a.seq, a.size, tree);
        expect(checkInclusion(sha256, a.seq, a.size, hashLeaf(sha256, fromHex(a.hash)!), proof, fromHex(a.logRoot)!)).toBe(true);
      }
    });

    it('chains every event to the previous one by prev', async () => {
      const h = start();
      for (let i = 0; i < 5; i++) await h.writer.append({ type: 'kv.put', data: { key: 'k', value: i } });
      const lines = await h.lines();
      for (let i = 1; i < lines.length; i++) {
        expect(JSON.parse(lines[i]!).prev).toBe(Buffer.from(sha256(Buffer.from(lines[i - 1]!))).toString('hex'));
      }
    });

    it('never lets ts decrease when the clock steps back', async () => {
      let now = Date.parse('2026-11-22T10:00:00.000Z');
      const h = start(() => now);
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
      now -= 3_600_000;
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 2 } });
      now += 10;
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 3 } });
      const ts = (await h.lines()).map((l) => JSON.parse(l).ts as string);
      expect(ts).toEqual(['2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z']);
      now += 3_600_010;
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 4 } });
      expect(JSON.parse((await h.lines())[3]!).ts).toBe('2026-11-22T10:00:00.020Z');
    });

    it('rejects an invalid event in a batch and writes nothing of the batch', async () => {
      const h = start();
      await h.writer.append({ type: 'kv.put', data: { key: 'keep', value: 0 } });
      const bad = [
        { type: 'kv.put', data: { key: 'a', value: 1 } },
        { type: 'kv.put', data: { key: '', value: 2 } },
      ];
      await expect(h.writer.appendBatch(bad)).rejects.toMatchObject({ code: 'STELE_E_SCHEMA', where: { inputLine: 2 } });
      await expect(h.writer.append({ type: 'nope.never', data: {} })).rejects.toMatchObject({ code: 'STELE_E_UNKNOWN_TYPE' });
      await expect(h.writer.append({ type: 'kv.put', v: 7, data: { key: 'a', value: 1 } })).rejects.toMatchObject({ code: 'STELE_E_UNKNOWN_TYPE' });
      await expect(h.writer.append({ type: 'stele.checkpoint', data: { size: 0, logRoot: '0'.repeat(64), stateRoot: '0'.repeat(64) } })).rejects.toMatchObject({ code: 'STELE_E_RESERVED_TYPE' });
      await expect(h.writer.append({ type: 'kv.put', data: { key: 'k'.repeat(513), value: 1 } })).rejects.toMatchObject({ code: 'STELE_E_SCHEMA' });
      await expect(h.writer.append({ type: 'kv.put', data: { key: 'big', value: 'x'.repeat(70_000) } })).rejects.toMatchObject({ code: 'STELE_E_LINE_TOO_LARGE' });
      await expect(h.writer.append({ type: 'kv.put', data: { key: 'nan', value: Number.NaN } })).rejects.toSatisfy(isSteleError);
      let deep: unknown = 1;
      for (let i = 0; i < 100; i++) deep = [deep];
      await expect(h.writer.append({ type: 'kv.put', data: { key: 'deep', value: deep } })).rejects.toMatchObject({ code: 'STELE_E_JSON_TOO_DEEP' });
      expect(await h.lines()).toHaveLength(1);
      expect(h.writer.status().size).toBe(1);
    });

    it('refuses an append whose expected size is stale with a conflict, writing nothing', async () => {
      const h = start();
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
      await expect(h.writer.append({ type: 'kv.put', data: { key: 'a', value: 2 } }, { expectedSize: 0 })).rejects.toMatchObject({ code: 'STELE_E_CONFLICT' });
      const ok = await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 3 } }, { expectedSize: 1 });
      expect(ok.seq).toBe(1);
      expect(await h.lines()).toHaveLength(2);
    });

    it('the store refuses an append at the wrong size', async () => {
      const h = start();
      await expect(h.store.append(5, Buffer.from('{}\n'), 1)).rejects.toMatchObject({ code: 'STELE_E_CONFLICT' });
      expect(h.store.size).toBe(0);
    });

    it('follow yields existing lines, then new appends as they happen', async () => {
      const h = start();
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
      const controller = new AbortController();
      const seen: number[] = [];
      const following = (async () => {
        for await (const batch of h.store.follow(0, controller.signal)) {
          for (const l of batch) seen.push(l.seq);
          if (seen.length >= 3) controller.abort();
        }
      })();
      await h.writer.append({ type: 'kv.put', data: { key: 'b', value: 2 } });
      await h.writer.append({ type: 'kv.put', data: { key: 'c', value: 3 } });
      await following;
      expect(seen).toEqual([0, 1, 2]);
    });

    it('a failed store append acknowledges no caller and leaves the head unchanged', async () => {
      const h = start();
      await h.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
      const before = h.writer.status();
      const original = h.store.append.bind(h.store);
      h.store.append = () => Promise.reject(Object.assign(new Error('injected'), { code: 'EIO' }));
      const results = await Promise.allSettled([1, 2, 3].map((i) => h.writer.append({ type: 'kv.put', data: { key: `f${i}`, value: i } })));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(h.writer.status()).toEqual(before);
      h.store.append = original;
      const ack = await h.writer.append({ type: 'kv.put', data: { key: 'after', value: 1 } });
      expect(ack.seq).toBe(1);
      const lines = await h.lines();
      expect(JSON.parse(lines[1]!).prev).toBe(before.headHash);
      // The tree was rolled back too: the new root is the root of exactly the lines on disk.
      const frontier = new LogTreeFrontier(sha256);
      for (const l of lines) frontier.append(sha256(Buffer.from(l)));
      expect(ack.logRoot).toBe(Buffer.from(frontier.root()).toString('hex'));
    });
  });
}

describe('the file written by the writer', () => {
  it('verifies end to end with the chain verifier and gives the same root', async () => {
    const h = stores.file!();
    open.push(h);
    await Promise.all(Array.from({ length: 100 }, (_, i) => h.writer.append({ type: 'kv.put', data: { key: `k${i % 7}`, value: { n: i, s: 'é✓' } }, meta: { actor: 'test' } })));
    const file = (h.store as FileStore).file;
    const scan = await scanLogFile(file, createRegistry());
    expect(scan.fault).toBeUndefined();
    expect(scan.verifier.head.size).toBe(100);
    expect(scan.verifier.logRoot()).toBe(h.writer.status().logRoot);
  });
});

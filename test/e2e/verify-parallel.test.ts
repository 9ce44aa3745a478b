/**
 * Parallel verification (worker threads over byte ranges) gives exactly the sequential
 * result: same size, root and head on a good log, the same located first fault on a damaged
 * one, wherever the damage falls relative to the range boundaries.
 */
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openWriter } from '../../src/log/open.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { cli, tempDir } from '../helpers.js';

let template: string;
let log: Buffer;

beforeAll(async () => {
  template = path.join(tempDir(), 'data');
  initDataDir(template);
  const opened = await openWriter(template);
  // ~1 MiB: 16 ranges of 64 KiB, so damage lands near and across range boundaries.
  for (let i = 0; i < 4000; i += 500) {
    await opened.writer.appendBatch(Array.from({ length: 500 }, (_, j) => ({ type: 'kv.put', data: { key: `k${i + j}`, value: { n: i + j, text: 'x'.repeat((i + j) % 200) } } })));
  }
  await opened.close();
  log = fs.readFileSync(path.join(template, 'events.ndjson'));
});

function verify(dir: string, threads: number) {
  const r = cli(['--data', dir, 'verify', '--log-only', '--json', '--threads', String(threads)]);
  return { status: r.status, report: JSON.parse(r.stdout) as { ok: boolean; threads: number } & Record<string, unknown> };
}

function withLog(bytes: Buffer, keepTree = true): string {
  const dir = path.join(tempDir(), 'data');
  fs.cpSync(template, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'events.ndjson'), bytes);
  if (!keepTree) fs.rmSync(path.join(dir, 'index', 'tree.hashes'));
  return dir;
}

describe('parallel verification', () => {
  it('agrees with the sequential verifier on a good log', () => {
    const one = verify(template, 1);
    const two = verify(template, 2);
    expect(two.status).toBe(0);
    expect(two.report.threads).toBe(2);
    expect({ ...two.report, threads: 1 }).toEqual(one.report);
    expect(one.report).toMatchObject({ ok: true, size: 4000 });
  });

  it('reports the same first fault as the sequential verifier for random damage', () => {
    const cases = fc.sample(fc.tuple(fc.nat(log.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean()), { seed: 4242, numRuns: 12 });
    // Damage exactly at and next to a range boundary too.
    cases.push([65536, 1, true], [65535, 32, false], [131072 - 1, 10 ^ 0x41, false]);
    for (const [offset, xor, keepTree] of cases) {
      const damaged = Buffer.from(log);
      damaged[offset] = damaged[offset]! ^ xor;
      const dir = withLog(damaged, keepTree);
      const one = verify(dir, 1);
      const two = verify(dir, 2);
      expect(one.status).toBe(1);
      expect({ ...two.report, threads: 1 }, `offset ${offset} xor ${xor}`).toEqual(one.report);
    }
  });

  it('reports the same torn tail', () => {
    const dir = withLog(Buffer.concat([log, Buffer.from('{"data":{"key":"torn')]), false);
    const one = verify(dir, 1);
    const two = verify(dir, 2);
    expect(one.report).toMatchObject({ ok: true, tornTail: { bytes: 20 } });
    expect({ ...two.report, threads: 1 }).toEqual(one.report);
  });
});

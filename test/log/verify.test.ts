/**
 * Property tests of verification over random logs: any single byte flipped anywhere is
 * detected and located; truncation at any byte offset is either a torn tail the writer
 * recovers or a located fault.
 */
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openWriter } from '../../src/log/open.js';
import { verifyLog } from '../../src/log/read.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { tempDir } from '../helpers.js';

const seed = Number(process.env.STELE_SEED ?? 6962);
let template: string;
let logBytes: Buffer;
let treeBytes: Buffer;

beforeAll(async () => {
  template = path.join(tempDir(), 'data');
  initDataDir(template);
  const opened = await openWriter(template);
  const values: unknown[] = [1, 'two', { three: [3] }, null, true, 'é✓ unicode 𝄞', -0.5, 1e21];
  for (let i = 0; i < 40; i++) {
    await opened.writer.append({ type: i % 5 === 4 ? 'kv.delete' : 'kv.put', data: i % 5 === 4 ? { key: `k${i - 1}` } : { key: `k${i}`, value: values[i % values.length] }, ...(i % 3 === 0 ? { meta: { actor: `a${i}` } } : {}) });
  }
  await opened.close();
  logBytes = fs.readFileSync(path.join(template, 'events.ndjson'));
  treeBytes = fs.readFileSync(path.join(template, 'index', 'tree.hashes'));
});

function copyOf(log: Buffer, withTree = true): string {
  const dir = path.join(tempDir(), 'data');
  fs.cpSync(template, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'events.ndjson'), log);
  if (withTree) fs.writeFileSync(path.join(dir, 'index', 'tree.hashes'), treeBytes);
  else fs.rmSync(path.join(dir, 'index', 'tree.hashes'));
  return dir;
}

/** 1-based line number of the line holding byte `offset` (a `\\n` belongs to its line). */
function lineOf(log: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (log[i] === 10) line++;
  return line;
}

describe('verification of random damage', () => {
  it('the untouched log verifies', async () => {
    const report = await verifyLog(copyOf(logBytes));
    expect(report).toMatchObject({ ok: true, size: 40, treeFile: 'ok' });
  });

  it('detects and locates any single flipped byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(logBytes.length - 1), fc.integer({ min: 1, max: 255 }), async (offset, xor) => {
        const damaged = Buffer.from(logBytes);
        damaged[offset] = damaged[offset]! ^ xor;
        const report = await verifyLog(copyOf(damaged));
        expect(report.ok).toBe(false);
        const line = lineOf(logBytes, offset);
        // The damaged line itself fails, or (when it is still a valid event) the next line's
        // prev link breaks, or (for the last line) the tree file's recorded leaf differs.
        expect([line, line + 1]).toContain(report.fault!.line);
        expect(report.fault!.seq).toBe(report.fault!.line! - 1);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('without the tree file, any flip before the last line is still detected by the chain alone', async () => {
    const lastLineStart = logBytes.lastIndexOf(10, logBytes.length - 2) + 1;
    await fc.assert(
      fc.asyncProperty(fc.nat(lastLineStart - 1), fc.integer({ min: 1, max: 255 }), async (offset, xor) => {
        const damaged = Buffer.from(logBytes);
        damaged[offset] = damaged[offset]! ^ xor;
        const report = await verifyLog(copyOf(damaged, false));
        expect(report.ok).toBe(false);
        expect([lineOf(logBytes, offset), lineOf(logBytes, offset) + 1]).toContain(report.fault!.line);
      }),
      { seed, numRuns: 200 },
    );
  });

  it('truncation at any offset is a torn tail the writer recovers, or a located fault', async () => {
    const offsets = fc.sample(fc.nat(logBytes.length - 1), { seed, numRuns: 40 });
    for (const at of offsets) {
      const cut = logBytes.subarray(0, at);
      const complete = cut.lastIndexOf(10) + 1;
      const lines = lineOf(logBytes, complete) - 1;
      for (const withTree of [false, true]) {
        const dir = copyOf(cut, withTree);
        const report = await verifyLog(dir);
        if (withTree) {
          // The tree file recorded the removed events: a located fault.
          expect(report.ok).toBe(false);
          expect(report.fault).toMatchObject({ code: 'STELE_E_TREE_MISMATCH', seq: lines });
        } else if (complete === at) {
          expect(report).toMatchObject({ ok: true, size: lines });
        } else {
          expect(report).toMatchObject({ ok: true, size: lines, tornTail: { offset: complete, bytes: at - complete } });
        }
        const opened = await openWriter(dir);
        expect(opened.recovered.length).toBe(complete === at ? 0 : 1);
        await opened.close();
        const after = await verifyLog(dir);
        expect(after).toMatchObject({ ok: true, size: lines + (complete === at ? 0 : 1), treeFile: 'ok' });
        expect(after.tornTail).toBeUndefined();
      }
    }
  });
});

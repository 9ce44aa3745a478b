import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/log/line-splitter.js';

function split(chunks: Buffer[], max = 1000) {
  const lines: { text: string; offset: number }[] = [];
  const overlong: { offset: number; bytes: number }[] = [];
  const s = new LineSplitter(
    {
      line: (c, a, b, offset) => lines.push({ text: c.toString('utf8', a, b), offset }),
      overlong: (offset, bytes) => overlong.push({ offset, bytes }),
    },
    max,
  );
  for (const c of chunks) s.push(c);
  const tail = s.finish();
  return { lines, overlong, tail };
}

describe('LineSplitter', () => {
  it('splits lines, reports offsets and the tail, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((s) => s.replace(/\n/g, '')), { maxLength: 20 }), fc.string({ maxLength: 10 }).map((s) => s.replace(/\n/g, '')), fc.array(fc.nat(50), { maxLength: 10 }), (lines, tail, cuts) => {
        const text = lines.map((l) => l + '\n').join('') + tail;
        const bytes = Buffer.from(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(from, p));
          from = p;
        }
        chunks.push(bytes.subarray(from));
        const out = split(chunks);
        expect(out.lines.map((l) => l.text)).toEqual(lines);
        let offset = 0;
        for (const [i, l] of lines.entries()) {
          expect(out.lines[i]!.offset).toBe(offset);
          offset += Buffer.byteLength(l) + 1;
        }
        expect(out.tail.offset).toBe(offset);
        expect(out.tail.bytes).toBe(Buffer.byteLength(tail));
        expect(out.tail.data!.toString()).toBe(tail);
      }),
      { seed: 20261122, numRuns: 300 },
    );
  });

  it('never buffers an over-long line: it reports it with its offset and length', () => {
    const long = 'x'.repeat(50);
    const out = split([Buffer.from('ok\n' + long.slice(0, 20)), Buffer.from(long.slice(20) + '\nnext\n')], 10);
    expect(out.lines.map((l) => l.text)).toEqual(['ok', 'next']);
    expect(out.overlong).toEqual([{ offset: 3, bytes: 50 }]);
    expect(out.lines[1]!.offset).toBe(3 + 51);
  });
});

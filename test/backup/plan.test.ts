/**
 * The backup planner (src/backup/plan.ts) on plain bytes: where the copied log is cut, which
 * snapshots and quarantine files are taken.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { completeEnd, quarantineToCopy, searchCheckpoint, snapshotsWithin } from '../../src/backup/plan.js';

const event = (seq: number, type: string) => `{"data":{"k":${seq}},"prev":"${'0'.repeat(64)}","seq":${seq},"ts":"2026-12-02T10:00:00.000Z","type":"${type}","v":1}`;
const checkpoint = (seq: number) => `{"data":{"logRoot":"${'a'.repeat(64)}","size":${seq},"stateRoot":"${'b'.repeat(64)}"},"prev":"${'0'.repeat(64)}","seq":${seq},"ts":"2026-12-02T10:00:00.000Z","type":"stele.checkpoint","v":1}`;

/** Runs the search over `text` in chunks of `chunk` bytes, the way src/backup/copy.ts reads the file. */
function lastCheckpoint(text: string, chunk: number): { start: number; end: number } | undefined {
  const bytes = Buffer.from(text);
  let end = completeEnd(bytes, 0);
  while (end !== undefined) {
    const start = Math.max(0, end - chunk);
    const step = searchCheckpoint(bytes.subarray(start, end), start, end);
    if (step.kind === 'found') return { start: step.start, end: step.end };
    if (step.kind === 'none') return undefined;
    expect(step.end).toBeLessThan(end + 1);
    if (step.end === end) throw new Error('no progress');
    end = step.end;
  }
  return undefined;
}

describe('searchCheckpoint', () => {
  it('finds the newest complete checkpoint line and cuts just after its newline', () => {
    const lines = [event(0, 'kv.put'), checkpoint(1), event(2, 'kv.put'), checkpoint(3), event(4, 'kv.put')];
    const text = lines.join('\n') + '\n';
    const found = lastCheckpoint(text, 1 << 20)!;
    expect(text.slice(found.start, found.end)).toBe(checkpoint(3) + '\n');
  });

  it('ignores a checkpoint in a torn tail (bytes after the last newline)', () => {
    const text = [event(0, 'kv.put'), checkpoint(1)].join('\n') + '\n' + checkpoint(2);
    const found = lastCheckpoint(text, 1 << 20)!;
    expect(text.slice(found.start, found.end)).toBe(checkpoint(1) + '\n');
  });

  it('is not fooled by a payload that names the checkpoint type', () => {
    const fake = `{"data":{"key":"x","value":{"type":"stele.checkpoint","v":1}},"prev":"${'0'.repeat(64)}","seq":1,"ts":"2026-12-02T10:00:00.000Z","type":"kv.put","v":1}`;
    const text = [checkpoint(0), fake].join('\n') + '\n';
    expect(text.slice(lastCheckpoint(text, 1 << 20)!.start).startsWith(checkpoint(0))).toBe(true);
  });

  it('reports none for a log without checkpoints, and for an empty one', () => {
    expect(lastCheckpoint([event(0, 'kv.put'), event(1, 'kv.put')].join('\n') + '\n', 1 << 20)).toBeUndefined();
    expect(searchCheckpoint(Buffer.alloc(0), 0, 0)).toEqual({ kind: 'none' });
    expect(completeEnd(Buffer.from('{"partial"'), 0)).toBeUndefined();
  });

  it('gives the same answer whatever the chunk size (lines across chunk borders)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), fc.integer({ min: 400, max: 5000 }), (kinds, chunk) => {
        const lines = kinds.map((isCheckpoint, seq) => (isCheckpoint ? checkpoint(seq) : event(seq, 'kv.put')));
        const text = lines.join('\n') + '\n';
        const last = kinds.lastIndexOf(true);
        const found = lastCheckpoint(text, chunk);
        if (last === -1) return found === undefined;
        const start = lines.slice(0, last).reduce((n, l) => n + l.length + 1, 0);
        return found !== undefined && found.start === start && found.end === start + lines[last]!.length + 1;
      }),
      { seed: 6, numRuns: 300 },
    );
  });
});

describe('what is copied besides the log', () => {
  it('takes the snapshots covering at most the copied size', () => {
    const s = [{ size: 0 }, { size: 10 }, { size: 11 }, { size: 50 }];
    expect(snapshotsWithin(s, 11)).toEqual([{ size: 0 }, { size: 10 }, { size: 11 }]);
    expect(snapshotsWithin(s, 9)).toEqual([{ size: 0 }]);
  });

  it('takes the torn files the copied log records and every tree-file copy, nothing else', () => {
    const named = 'events.ndjson.0000000000000123.0123456789abcdef.torn';
    const later = 'events.ndjson.0000000000009999.fedcba9876543210.torn';
    const tree = 'tree.hashes.1733140000000.leaf-differs';
    expect(quarantineToCopy([later, 'notes.txt', tree, named], new Set([named]))).toEqual([named, tree]);
    expect(quarantineToCopy([later], new Set())).toEqual([]);
  });
});

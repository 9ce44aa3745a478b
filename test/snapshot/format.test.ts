/** The snapshot format: what `formatSnapshot` writes, `SnapshotParser` reads back; anything else is refused with the line named. */
import { describe, expect, it } from 'vitest';
import { isSteleError } from '../../src/errors.js';
import type { SnapshotContent } from '../../src/snapshot/format.js';
import { SnapshotParser, formatSnapshot, snapshotFileName } from '../../src/snapshot/format.js';

const content: SnapshotContent = {
  size: 12,
  headHash: 'a'.repeat(64),
  headTs: '2026-11-22T10:00:00.000Z',
  logRoot: 'b'.repeat(64),
  stateRoot: 'c'.repeat(64),
  parts: [
    { module: 'kv', version: 1, state: null },
    { module: 'ledger', version: 1, state: { n: 1 } },
  ],
  entries: [
    ['account:a', { balance: '5' }],
    ['kv:x', [1, 'two']],
  ],
};

const prefixes = ['kv:', 'account:', 'transfer:'];

function text(c: SnapshotContent = content): string {
  return [...formatSnapshot(c)].join('');
}

function parse(t: string) {
  const parser = new SnapshotParser('snapshots/x.ndjson', prefixes);
  const lines = t.split('\n');
  const tail = lines.pop()!;
  for (const l of lines) parser.line(l);
  return parser.finish(Buffer.byteLength(tail));
}

function faultOf(t: string): { message: string; line: number | undefined } {
  try {
    parse(t);
  } catch (err) {
    if (isSteleError(err) && err.code === 'STELE_E_SNAPSHOT_INVALID') return { message: err.message, line: err.where.line };
    throw err;
  }
  throw new Error('expected STELE_E_SNAPSHOT_INVALID');
}

describe('snapshot format', () => {
  it('round trips and is deterministic', () => {
    const t = text();
    expect(text()).toBe(t);
    const parsed = parse(t);
    expect(parsed.header).toMatchObject({ format: 'stele.snapshot', version: 1, size: 12, entries: 2, modules: [['kv', 1], ['ledger', 1]] });
    expect(parsed.parts).toEqual(content.parts);
    expect(parsed.entries).toEqual(content.entries);
    expect(snapshotFileName(12)).toBe('0000000000000012.ndjson');
  });

  it('refuses what the formatter never writes, naming the line', () => {
    const t = text();
    const lines = t.split('\n');
    const swap = [...lines];
    [swap[3], swap[4]] = [swap[4]!, swap[3]!];
    expect(faultOf(swap.join('\n')).message).toMatch(/ascending|trailer/);
    expect(faultOf(t.replace('["kv:x"', '["zz:x"')).message).toMatch(/no registered module|trailer/);
    expect(faultOf(t.replace('{"balance":"5"}', '{ "balance":"5"}')).line).toBe(4);
    expect(faultOf(t.replace('"5"', '"6"')).message).toContain('trailer hash');
    expect(faultOf(t + '{}\n').message).toContain('after the trailer');
    expect(faultOf(t.slice(0, -1)).message).toContain('newline');
    expect(faultOf(lines.slice(0, 4).join('\n') + '\n').message).toContain('truncated');
    expect(faultOf('').message).toContain('truncated');
    expect(faultOf(t.replace('"format":"stele.snapshot"', '"format":"other"')).line).toBe(1);
    expect(faultOf(t.replace('{"module":"ledger"', '{"module":"kv"')).line).toBe(3);
  });
});

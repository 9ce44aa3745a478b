/**
 * Time travel (src/history/at.ts) against an independent derivation: the log cut at the same
 * position, copied into a fresh data directory without snapshots or tree file, and replayed
 * from genesis. Positions are random (fast-check); the history has snapshots and checkpoints
 * so the fast path (snapshot + tree file + bisection) is the one exercised.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';
import { Derivation, resolveAt, stateAt } from '../../src/history/at.js';
import { diffStates, mergeChanges } from '../../src/history/diff.js';
import { LogSeeker } from '../../src/log/seek.js';
import { limits } from '../../src/limits.js';
import { Engine } from '../../src/runtime/engine.js';
import type { StateMachine } from '../../src/runtime/machine.js';
import { replayDir } from '../../src/runtime/replay.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { takeCommands } from '../../src/workload/generate.js';
import { tempDir } from '../helpers.js';

const root = tempDir();
const data = path.join(root, 'data');
let lines: string[] = [];

async function runAll(engine: Engine, commands: readonly unknown[]): Promise<void> {
  for (const c of commands) {
    await engine.run(c).catch((err: unknown) => {
      if (!(isSteleError(err) && err.code === 'STELE_E_REJECTED')) throw err;
    });
  }
}

beforeAll(async () => {
  initDataDir(data);
  const commands = takeCommands(900, { seed: 21, accounts: 12, keys: 10 });
  const engine = await Engine.open(data, { checkpointEvery: 40 });
  await runAll(engine, commands.slice(0, 250));
  await engine.snapshot();
  await runAll(engine, commands.slice(250, 600));
  await engine.snapshot();
  await runAll(engine, commands.slice(600));
  await engine.close();
  lines = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n').slice(0, -1);
  return () => fs.rmSync(root, { recursive: true, force: true });
}, 120_000);

/** The independent derivation: the first `size` lines alone, replayed from genesis. */
const cuts = new Map<number, StateMachine>();
async function independent(size: number): Promise<StateMachine> {
  const cached = cuts.get(size);
  if (cached !== undefined) return cached;
  const dir = path.join(root, `cut-${size}`);
  initDataDir(dir);
  fs.writeFileSync(path.join(dir, 'events.ndjson'), lines.slice(0, size).map((l) => `${l}\n`).join(''));
  const r = await replayDir(dir, { snapshot: false, threads: 1 });
  expect(r.fault).toBeUndefined();
  cuts.set(size, r.machine);
  return r.machine;
}

function fingerprint(m: StateMachine): string {
  return canonicalize({ size: m.size, root: m.stateRoot(), entries: m.entries.entries(), parts: m.moduleParts() });
}

describe('stateAt', () => {
  it('the fixture has snapshots below the end and many checkpoints', () => {
    const snaps = fs.readdirSync(path.join(data, 'snapshots'));
    expect(snaps).toHaveLength(2);
    expect(lines.length).toBeGreaterThan(900);
  });

  it('equals an independent replay of the log cut at the same position, at random positions (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: lines.length }), async (size) => {
        const r = stateAt(data, { size });
        const m = await independent(size);
        expect(r.size).toBe(size);
        expect(fingerprint(r.machine)).toBe(fingerprint(m));
        expect(r.stateRoot).toBe(m.stateRoot());
        const cut = await replayDir(path.join(root, `cut-${size}`), { snapshot: false, threads: 1 });
        expect(r.logRoot).toBe(cut.stats.logRoot);
        expect(r.headHash).toBe(cut.stats.headHash);
        expect(r.seq).toBe(size === 0 ? null : size - 1);
      }),
      { numRuns: 25, seed: 5 },
    );
  }, 120_000);

  it('starts from the newest snapshot at or below the position and verifies only the lines after it', () => {
    const snaps = fs.readdirSync(path.join(data, 'snapshots')).map((f) => Number(f.slice(0, 16)));
    const r = stateAt(data, { size: snaps[1]! + 5 });
    expect(r.base?.size).toBe(snaps[1]);
    expect(r.replayed).toBe(5);
    expect(r.frontier).toBe('tree-file');
    const below = stateAt(data, { size: snaps[0]! - 1 });
    expect(below.base).toBeNull();
    expect(below.frontier).toBe('genesis');
    expect(stateAt(data, { seq: snaps[0]! - 1 }).base?.size).toBe(snaps[0]);
  });

  it('gives the same state with --no-snapshot, and the same state at a seq as at seq + 1 events', () => {
    const a = stateAt(data, { seq: 700 });
    const b = stateAt(data, { size: 701 }, { snapshot: false });
    expect(fingerprint(a.machine)).toBe(fingerprint(b.machine));
    expect(b.base).toBeNull();
  });

  it('--at-time picks the last event at or before the time', () => {
    const ts = lines.map((l) => (JSON.parse(l) as { ts: string }).ts);
    for (const i of [0, 1, 17, 400, lines.length - 1]) {
      const expected = ts.filter((t) => t <= ts[i]!).length;
      expect(resolveAt(data, { time: ts[i]! })).toBe(expected);
    }
    expect(resolveAt(data, { time: '2000-01-01' })).toBe(0);
    expect(resolveAt(data, { time: '2999-01-01T00:00:00Z' })).toBe(lines.length);
    expect(resolveAt(data, { time: ts[10]!.replace('Z', '+00:00') })).toBe(ts.filter((t) => t <= ts[10]!).length);
  });

  it('refuses positions outside the log and times that are not ISO 8601', () => {
    const outside = catchCode(() => stateAt(data, { seq: lines.length }));
    expect(outside).toBe('STELE_E_SIZE_OUT_OF_RANGE');
    expect(catchCode(() => stateAt(data, { time: 'yesterday' }))).toBe('STELE_E_USAGE');
    expect(catchCode(() => stateAt(data, { size: -1 }))).toBe('STELE_E_SIZE_OUT_OF_RANGE');
  });

  it('skips a damaged snapshot, says so, and still derives the right state', async () => {
    const copy = copyData('damaged-snapshot');
    const snaps = fs.readdirSync(path.join(copy, 'snapshots')).sort();
    const file = path.join(copy, 'snapshots', snaps[1]!);
    const bytes = fs.readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x01;
    fs.writeFileSync(file, bytes);
    const size = Number(snaps[1]!.slice(0, 16)) + 3;
    const r = stateAt(copy, { size });
    expect(r.skippedSnapshots.map((s) => s.file)).toEqual([`snapshots/${snaps[1]}`]);
    expect(r.base?.size).toBe(Number(snaps[0]!.slice(0, 16)));
    expect(fingerprint(r.machine)).toBe(fingerprint(await independent(size)));
  });

  it('re-hashes the prefix when the tree file is missing, with the same result', async () => {
    const copy = copyData('no-tree');
    fs.rmSync(path.join(copy, 'index'), { recursive: true });
    const r = stateAt(copy, { size: 800 });
    expect(r.frontier).toBe('rehashed');
    expect(fingerprint(r.machine)).toBe(fingerprint(await independent(800)));
  });

  it('stops at a damaged line between the snapshot and the position, naming it', () => {
    const copy = copyData('damaged-log');
    const snap = Number(fs.readdirSync(path.join(copy, 'snapshots')).sort()[1]!.slice(0, 16));
    const altered = lines.slice();
    altered[snap + 2] = altered[snap + 2]!.replace('"seq"', '"seq" ');
    fs.writeFileSync(path.join(copy, 'events.ndjson'), altered.map((l) => `${l}\n`).join(''));
    let err: unknown;
    try {
      stateAt(copy, { size: snap + 10 });
    } catch (e) {
      err = e;
    }
    expect(isSteleError(err) && err.code).toBe('STELE_E_NOT_CANONICAL');
    expect(isSteleError(err) && err.where?.seq).toBe(snap + 2);
    // Before the damage, time travel still works.
    expect(stateAt(copy, { size: snap + 2 }).size).toBe(snap + 2);
  });

  it('a derivation moves forward only', () => {
    const d = Derivation.open(data, 100);
    d.advance(100);
    expect(() => d.advance(50)).toThrow(/cannot go back/);
  });
});

describe('LogSeeker', () => {
  it('finds the byte offset of every line, including lines longer than one probe block (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: 1, maxLength: 40 }), (lengths) => {
        const dir = tempDir();
        try {
          const file = path.join(dir, 'events.ndjson');
          let text = '';
          const offsets: number[] = [];
          lengths.forEach((n, seq) => {
            offsets.push(Buffer.byteLength(text));
            const line = JSON.stringify({ data: { pad: 'x'.repeat(n) }, seq, ts: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z` });
            text += `${line}\n`;
          });
          fs.writeFileSync(file, text);
          const seeker = new LogSeeker(file);
          try {
            expect(seeker.count()).toBe(lengths.length);
            for (let seq = 0; seq < lengths.length; seq++) expect(seeker.offsetOfSeq(seq)).toBe(offsets[seq]);
            expect(seeker.offsetOfSeq(lengths.length)).toBe(Buffer.byteLength(text));
            expect(() => seeker.offsetOfSeq(lengths.length + 1)).toThrow(/fewer than/);
          } finally {
            seeker.close();
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 30, seed: 9 },
    );
  });

  it('names a line longer than the line limit instead of reading on', () => {
    const dir = tempDir();
    const file = path.join(dir, 'events.ndjson');
    fs.writeFileSync(file, `${JSON.stringify({ seq: 0, ts: 'a' })}\n${'x'.repeat(limits.lineBytesMax + 10)}\n`);
    const seeker = new LogSeeker(file);
    expect(() => seeker.count()).toThrow(/over/);
    seeker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ignores a torn last line', () => {
    const dir = tempDir();
    const file = path.join(dir, 'events.ndjson');
    fs.writeFileSync(file, `${JSON.stringify({ seq: 0, ts: 'a' })}\n{"seq":1,"ts":"b"`);
    const seeker = new LogSeeker(file);
    expect(seeker.count()).toBe(1);
    seeker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('diffStates', () => {
  it('lists exactly what differs between two independent replays, in both directions (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: lines.length }), fc.integer({ min: 0, max: lines.length }), async (a, b) => {
        const d = diffStates(data, { size: a }, { size: b });
        const expected = mergeChanges((await independent(a)).entries.entries(), (await independent(b)).entries.entries());
        expect(canonicalize(d.changes as never)).toBe(canonicalize(expected as never));
        expect(d.from.size).toBe(a);
        expect(d.to.size).toBe(b);
        expect(d.counts.added + d.counts.changed + d.counts.removed).toBe(d.changes.length);
      }),
      { numRuns: 12, seed: 3 },
    );
  }, 120_000);

  it('mergeChanges finds additions, removals and changes, and ignores equal values', () => {
    const x: [string, never][] = [['a', 1 as never], ['b', { v: 1 } as never], ['c', 3 as never]];
    const y: [string, never][] = [['b', { v: 2 } as never], ['c', 3 as never], ['d', 4 as never]];
    expect(mergeChanges(x, y)).toEqual([
      { change: 'removed', key: 'a', before: 1 },
      { change: 'changed', key: 'b', before: { v: 1 }, after: { v: 2 } },
      { change: 'added', key: 'd', after: 4 },
    ]);
    expect(mergeChanges(x, x)).toEqual([]);
  });

  it('restricts to a prefix', () => {
    const d = diffStates(data, { size: 0 }, { size: lines.length }, { prefix: 'account:' });
    expect(d.changes.length).toBeGreaterThan(0);
    expect(d.changes.every((c) => c.key.startsWith('account:'))).toBe(true);
    expect(d.counts.removed).toBe(0);
  });
});

function copyData(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(data, dir, { recursive: true });
  return dir;
}

function catchCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isSteleError(err) ? err.code : String(err);
  }
}

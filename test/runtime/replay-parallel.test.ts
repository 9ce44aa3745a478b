/**
 * Replay with worker threads verifying the log (src/log/scan-replay.ts) gives exactly what
 * the sequential replay gives: the same state, roots, counts, and the same first fault.
 * Worker threads run the compiled verifier, so this test imports the built code (dist/):
 * `npm test` builds before it runs the tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';
import { Engine } from '../../src/runtime/engine.js';
import type { Replayed, ReplayOptions } from '../../src/runtime/replay.js';
import { initDataDir } from '../../src/store/data-dir.js';
import { takeCommands } from '../../src/workload/generate.js';
import { repoRoot, tempDir } from '../helpers.js';

type ReplayDir = (dir: string, options?: ReplayOptions) => Promise<Replayed>;
let replayDir: ReplayDir;
let BuiltEngine: typeof Engine;
const root = tempDir();
const data = path.join(root, 'data');

beforeAll(async () => {
  const built = path.join(repoRoot, 'dist', 'src', 'runtime', 'replay.js');
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
  replayDir = ((await import(built)) as { replayDir: ReplayDir }).replayDir;
  BuiltEngine = ((await import(path.join(repoRoot, 'dist', 'src', 'runtime', 'engine.js'))) as { Engine: typeof Engine }).Engine;
  initDataDir(data);
  const engine = await Engine.open(data, { checkpointEvery: 100 });
  const commands = takeCommands(3000, { seed: 17, accounts: 60, keys: 40 });
  for (let i = 0; i < commands.length; i += 500) {
    await Promise.all(commands.slice(i, i + 500).map((c) => engine.run(c).catch((err: unknown) => {
      if (!(isSteleError(err) && err.code === 'STELE_E_REJECTED')) throw err;
    })));
    if (i === 1500) await engine.snapshot();
  }
  await engine.close();
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function summary(r: Replayed): string {
  const { ms: _ms, snapshot, ...stats } = r.stats;
  return canonicalize({ stats, snapshot: snapshot ?? null, parts: r.machine.moduleParts(), stats2: r.machine.view('audit', 'stats'), entries: r.machine.entries.entries().length, fault: r.fault?.toJSON() ?? null });
}

describe('replay with worker threads', () => {
  for (const snapshot of [false, true]) {
    it(`equals the sequential replay (${snapshot ? 'from the snapshot' : 'from genesis'})`, async () => {
      const one = await replayDir(data, { snapshot, threads: 1 });
      const two = await replayDir(data, { snapshot, threads: 2, parallelBytesMin: 0 });
      expect(one.scan.threads).toBe(1);
      expect(two.scan.threads).toBe(2);
      expect(one.fault).toBeUndefined();
      expect(summary(two)).toBe(summary(one));
      expect(two.stats.checkpoints.logRootsChecked).toBeGreaterThan(20);
    });
  }

  it('the writer opens with worker threads to the same state, and appends after it', async () => {
    const copy = path.join(root, 'writer');
    fs.cpSync(data, copy, { recursive: true });
    const sequential = await replayDir(copy, { threads: 1 });
    const engine = await BuiltEngine.open(copy, { threads: 2, parallelBytesMin: 0 });
    expect(engine.replay.stateRoot).toBe(sequential.stats.stateRoot);
    expect(engine.replay.size).toBe(sequential.stats.size);
    await engine.run({ cmd: 'kv.put', data: { key: 'after-parallel-open', value: 1 } });
    await engine.close();
    const after = await replayDir(copy, { threads: 1, snapshot: false });
    expect(after.fault).toBeUndefined();
    expect(after.machine.entries.get('kv:after-parallel-open')).toBe(1);
  });

  it('reports the same first fault for a wrong checkpoint', async () => {
    const copy = path.join(root, 'checkpoint');
    fs.cpSync(data, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'snapshots'), { recursive: true, force: true });
    const file = path.join(copy, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    // Re-chain the log after a checkpoint whose state root is altered: every link is valid,
    // only the checkpoint is wrong, so only replay can see it.
    const at = lines.findIndex((l, i) => i > lines.length / 2 && l.includes('"type":"stele.checkpoint"'));
    const { createHash } = await import('node:crypto');
    const rechained: string[] = lines.slice(0, at);
    let prev = createHash('sha256').update(rechained.at(-1)!).digest('hex');
    for (let i = at; i < lines.length - 1; i++) {
      const event = JSON.parse(lines[i]!) as Record<string, unknown> & { data: Record<string, unknown> };
      event.prev = prev;
      if (i === at) event.data.stateRoot = 'f'.repeat(64);
      const line = canonicalize(event);
      rechained.push(line);
      prev = createHash('sha256').update(line).digest('hex');
    }
    fs.writeFileSync(file, rechained.join('\n') + '\n');
    fs.rmSync(path.join(copy, 'index'), { recursive: true, force: true });
    const one = await replayDir(copy, { threads: 1 });
    const two = await replayDir(copy, { threads: 2, parallelBytesMin: 0 });
    expect(one.fault?.code).toBe('STELE_E_CHECKPOINT_MISMATCH');
    expect(two.fault?.code).toBe('STELE_E_CHECKPOINT_MISMATCH');
    expect(two.fault?.where.seq).toBe(at);
    expect(one.fault?.where.seq).toBe(at);
  });

  it('reports the same first fault for a damaged line', async () => {
    const copy = path.join(root, 'damaged');
    fs.cpSync(data, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'snapshots'), { recursive: true, force: true });
    const file = path.join(copy, 'events.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    // An amount changed in the middle of the log: the chain breaks at the next line.
    const at = lines.findIndex((l, i) => i > lines.length / 2 && l.includes('"amount":"'));
    lines[at] = lines[at]!.replace('"amount":"', '"amount":"1');
    fs.writeFileSync(file, lines.join('\n'));
    const one = await replayDir(copy, { threads: 1 });
    const two = await replayDir(copy, { threads: 2, parallelBytesMin: 0 });
    expect(one.fault).toBeDefined();
    expect(two.fault?.code).toBe(one.fault?.code);
    expect(two.fault?.where.seq).toBe(one.fault?.where.seq);
    expect(two.machine.size).toBe(one.machine.size);
    expect(two.machine.stateRoot()).toBe(one.machine.stateRoot());
  });
});

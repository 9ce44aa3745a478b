/**
 * The engine on real data directories: commands through deciders, durable acks, recorded
 * rejections, checkpoints, snapshots (identical bytes, snapshot + tail = full replay) and
 * every way a damaged snapshot or checkpoint must stop startup.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';
import { openWriter } from '../../src/log/open.js';
import { Engine } from '../../src/runtime/engine.js';
import type { StateMachine } from '../../src/runtime/machine.js';
import { replayDir } from '../../src/runtime/replay.js';
import { createSnapshot, verifySnapshots } from '../../src/runtime/snapshots.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { listSnapshots } from '../../src/store/snapshot-store.js';
import { takeCommands } from '../../src/workload/generate.js';
import { caughtSteleError, newDataDir } from '../helpers.js';




function lines(data: string): { seq: number; type: string; data: Record<string, unknown> }[] {
  return fs
    .readFileSync(path.join(data, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { seq: number; type: string; data: Record<string, unknown> });
}

function fingerprint(machine: StateMachine): string {
  return canonicalize({ root: machine.stateRoot(), size: machine.size, parts: machine.moduleParts(), stats: machine.view('audit', 'stats'), totals: machine.view('ledger', 'totals') });
}

async function runAll(engine: Engine, commands: readonly unknown[]): Promise<void> {
  await Promise.all(
    commands.map((c) =>
      engine.run(c).catch((err: unknown) => {
        if (!(isSteleError(err) && err.code === 'STELE_E_REJECTED')) throw err;
      }),
    ),
  );
}

describe('Engine', () => {
  it('runs commands through deciders, acknowledges durable events and records rejections', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data, { checkpointEvery: 1000 });
    const opened = await engine.run({ cmd: 'ledger.open', data: { account: 'alice' } });
    expect(opened.result).toEqual({ account: 'alice' });
    expect(opened.acks).toHaveLength(1);
    await engine.run({ cmd: 'ledger.open', data: { account: 'bob' } });
    await engine.run({ cmd: 'ledger.deposit', data: { id: 'd1', account: 'alice', amount: '100' } });
    const rejected = await caughtSteleError(engine.run({ cmd: 'ledger.transfer', data: { id: 't1', from: 'alice', to: 'bob', amount: '101' } }, {}));
    expect(rejected.code).toBe('STELE_E_REJECTED');
    expect(rejected.detail).toMatchObject({ reason: 'LEDGER_INSUFFICIENT_FUNDS', recorded: true });
    const sizeBefore = engine.status().size;
    // Malformed input is refused before anything is written.
    expect((await caughtSteleError(engine.run({ cmd: 'ledger.transfer', data: { id: 't2', from: 'alice', to: 'bob', amount: '1.5' } }))).code).toBe('STELE_E_SCHEMA');
    expect((await caughtSteleError(engine.run({ cmd: 'ledger.nope', data: {} }))).code).toBe('STELE_E_UNKNOWN_COMMAND');
    expect((await caughtSteleError(engine.append([{ type: 'ledger.deposited', data: { id: 'x', account: 'alice', amount: '5' } }]))).code).toBe('STELE_E_NOT_DIRECT');
    expect(engine.status().size).toBe(sizeBefore);
    // Direct appends of kv events reach the state.
    await engine.append([{ type: 'kv.put', data: { key: 'k', value: [1] } }]);
    expect(engine.machine.entries.get('kv:k')).toEqual([1]);
    // Optimistic concurrency.
    expect((await caughtSteleError(engine.run({ cmd: 'kv.put', data: { key: 'k', value: 2 } }, { expectedSize: 3 }))).code).toBe('STELE_E_CONFLICT');
    const root = engine.status().stateRoot;
    await engine.close();
    const types = lines(data).map((l) => l.type);
    expect(types).toEqual(['ledger.account_opened', 'ledger.account_opened', 'ledger.deposited', 'audit.command_rejected', 'kv.put', 'stele.checkpoint']);
    // Reopening replays to the same state root; the shutdown checkpoint committed to it.
    const replayed = await replayDir(data);
    expect(replayed.fault).toBeUndefined();
    expect(replayed.stats.stateRoot).toBe(root);
    expect(lines(data).at(-1)!.data).toMatchObject({ size: 5, stateRoot: root });
  });

  it('writes a checkpoint every checkpointEvery events; verify recomputes every one', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data, { checkpointEvery: 10 });
    await runAll(engine, takeCommands(95, { seed: 3, accounts: 8, keys: 8 }));
    await engine.close();
    const all = lines(data);
    const checkpoints = all.filter((l) => l.type === 'stele.checkpoint');
    // Between two checkpoints there are exactly 10 events (the last one: the shutdown checkpoint).
    const gaps = checkpoints.map((c, i) => c.seq - (i === 0 ? -1 : checkpoints[i - 1]!.seq) - 1);
    expect(gaps.slice(0, -1).every((g) => g === 10)).toBe(true);
    expect(all.at(-1)!.type).toBe('stele.checkpoint');
    const report = await verifyDir(data);
    expect(report.ok).toBe(true);
    expect(report.checkpoints.stateRootsChecked).toBe(checkpoints.length);
  });

  it('a checkpoint with a wrong state root is reported by verify and stops the writer (panic), reads still work', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data);
    await engine.run({ cmd: 'kv.put', data: { key: 'a', value: 1 } });
    await engine.close();
    // A chain-valid log whose checkpoint commits to a wrong state root.
    const opened = await openWriter(data);
    const status = opened.writer.status();
    await opened.writer.appendSystem({ type: 'stele.checkpoint', v: 1, data: { size: status.size, logRoot: status.logRoot, stateRoot: 'ab'.repeat(32) } });
    await opened.close();
    const report = await verifyDir(data);
    expect(report.ok).toBe(false);
    expect(report.fault).toMatchObject({ code: 'STELE_E_CHECKPOINT_MISMATCH', seq: 2, line: 3 });
    const err = await caughtSteleError(Engine.open(data));
    expect(err.code).toBe('STELE_E_PANIC');
    expect(err.where).toMatchObject({ seq: 2 });
    const replayed = await replayDir(data);
    expect(replayed.fault?.code).toBe('STELE_E_CHECKPOINT_MISMATCH');
    expect(replayed.machine.entries.get('kv:a')).toBe(1);
  });

  it('a checkpoint with a wrong log root is a mismatch too', async () => {
    const data = newDataDir();
    const opened = await openWriter(data);
    await opened.writer.append({ type: 'kv.put', data: { key: 'a', value: 1 } });
    await opened.writer.appendSystem({ type: 'stele.checkpoint', v: 1, data: { size: 1, logRoot: 'cd'.repeat(32), stateRoot: 'ab'.repeat(32) } });
    await opened.close();
    const report = await verifyDir(data);
    expect(report.fault).toMatchObject({ code: 'STELE_E_CHECKPOINT_MISMATCH', seq: 1 });
    expect(report.fault!.message).toContain('log root');
  });

  it('snapshot + tail gives exactly the state of a full replay; two snapshots of the same log are byte-identical', async () => {
    const data = newDataDir();
    const commands = takeCommands(400, { seed: 11, accounts: 20, keys: 15 });
    const engine = await Engine.open(data, { checkpointEvery: 50 });
    await runAll(engine, commands.slice(0, 250));
    const file = await engine.snapshot();
    await runAll(engine, commands.slice(250));
    const live = fingerprint(engine.machine);
    await engine.close();
    const fromSnapshot = await replayDir(data);
    expect(fromSnapshot.stats.snapshot?.file).toBe(path.join('snapshots', path.basename(file)));
    const fromGenesis = await replayDir(data, { snapshot: false });
    expect(fromGenesis.stats.snapshot).toBeUndefined();
    expect(fingerprint(fromSnapshot.machine)).toBe(fingerprint(fromGenesis.machine));
    // The live engine's state before the shutdown checkpoint equals both (the checkpoint changes no state).
    expect(JSON.parse(live).root).toBe(fromGenesis.stats.stateRoot);
    // A snapshot created again by another process path: byte-identical to the engine's.
    const bytes = fs.readFileSync(file);
    fs.rmSync(file);
    const other = newDataDir();
    fs.rmSync(other, { recursive: true });
    fs.cpSync(data, other, { recursive: true });
    // Cut the copy's log back to the snapshot's size, then snapshot it read-only.
    const size = Number(path.basename(file).slice(0, 16));
    const logLines = fs.readFileSync(path.join(other, 'events.ndjson'), 'utf8').split('\n').slice(0, size);
    fs.writeFileSync(path.join(other, 'events.ndjson'), logLines.join('\n') + '\n');
    fs.rmSync(path.join(other, 'index'), { recursive: true, force: true });
    const again = await createSnapshot(other, { snapshot: false });
    expect(fs.readFileSync(again.file).equals(bytes)).toBe(true);
    const verdicts = await verifySnapshots(other);
    expect(verdicts).toEqual([{ file: path.join('snapshots', path.basename(file)), size, ok: true }]);
  });

  describe('a damaged snapshot fails startup naming the file', () => {
    async function withSnapshot(): Promise<{ data: string; file: string }> {
      const data = newDataDir();
      const engine = await Engine.open(data);
      await runAll(engine, takeCommands(60, { seed: 5, accounts: 6, keys: 6 }));
      const file = await engine.snapshot();
      await engine.run({ cmd: 'kv.put', data: { key: 'after', value: true } });
      await engine.close();
      return { data, file };
    }

    const cases: [string, (file: string) => void][] = [
      ['truncated', (file) => fs.truncateSync(file, fs.statSync(file).size - 40)],
      ['one byte altered', (file) => {
        const bytes = fs.readFileSync(file);
        const at = bytes.indexOf('"balance":"') + 11;
        bytes[at] = bytes[at] === 0x31 ? 0x32 : 0x31;
        fs.writeFileSync(file, bytes);
      }],
      ['not JSON', (file) => fs.writeFileSync(file, 'hello\n')],
      ['empty', (file) => fs.writeFileSync(file, '')],
    ];
    for (const [name, damage] of cases) {
      it(name, async () => {
        const { data, file } = await withSnapshot();
        damage(file);
        const err = await caughtSteleError(Engine.open(data));
        expect(err.code).toBe('STELE_E_SNAPSHOT_INVALID');
        expect(err.where.file).toBe(path.join('snapshots', path.basename(file)));
        expect(err.fix).toContain('--no-snapshot');
        // Nothing was written, and --no-snapshot replays from genesis.
        const engine = await Engine.open(data, { snapshot: false });
        expect(engine.replay.snapshot).toBeUndefined();
        await engine.close();
      });
    }

    it('a valid snapshot of another log (same size) is a mismatch', async () => {
      const a = await withSnapshot();
      const b = newDataDir();
      const engine = await Engine.open(b);
      await runAll(engine, takeCommands(150, { seed: 99, accounts: 6, keys: 6 }));
      await engine.close();
      // Give b a snapshot of a's log at a size b also has.
      const size = Number(path.basename(a.file).slice(0, 16));
      expect(lines(b).length).toBeGreaterThanOrEqual(size);
      fs.mkdirSync(path.join(b, 'snapshots'), { recursive: true });
      fs.copyFileSync(a.file, path.join(b, 'snapshots', path.basename(a.file)));
      const err = await caughtSteleError(Engine.open(b));
      expect(err.code).toBe('STELE_E_SNAPSHOT_INVALID');
      expect(err.message).toContain('head hash');
      expect(err.where.file).toBe(path.join('snapshots', path.basename(a.file)));
    });

    it('a snapshot covering more events than the log has is refused', async () => {
      const { data, file } = await withSnapshot();
      const size = Number(path.basename(file).slice(0, 16));
      const logLines = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n').slice(0, size - 5);
      fs.writeFileSync(path.join(data, 'events.ndjson'), logLines.join('\n') + '\n');
      fs.rmSync(path.join(data, 'index'), { recursive: true, force: true });
      const err = await caughtSteleError(Engine.open(data));
      expect(err.code).toBe('STELE_E_SNAPSHOT_INVALID');
      expect(err.message).toContain('the log has only');
    });
  });

  it('writes automatic snapshots every snapshotEvery events', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data, { snapshotEvery: 40 });
    for (const c of takeCommands(100, { seed: 8, accounts: 5, keys: 5 })) await engine.run(c).catch(() => undefined);
    await engine.close();
    expect(listSnapshots(data).length).toBeGreaterThanOrEqual(2);
    expect((await verifySnapshots(data)).every((v) => v.ok)).toBe(true);
  });
});

describe('Engine.open cleans up', () => {
  it('removes temp files of interrupted snapshot and bundle writes', async () => {
    const data = newDataDir();
    fs.mkdirSync(path.join(data, 'snapshots'), { recursive: true });
    fs.writeFileSync(path.join(data, 'snapshots', '0000000000000007.ndjson.tmp-123'), 'partial');
    const engine = await Engine.open(data);
    await engine.close();
    expect(fs.readdirSync(path.join(data, 'snapshots'))).toEqual([]);
  });
});

describe('a failed batch', () => {
  it('leaves no trace in the state: the engine rebuilds it from the log before the next command', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data);
    await engine.run({ cmd: 'ledger.open', data: { account: 'a' } });
    await engine.run({ cmd: 'ledger.deposit', data: { id: 'd1', account: 'a', amount: '10' } });
    const rootBefore = engine.status().stateRoot;
    // The next write fails (as on a full disk): nothing is written, the caller gets the error.
    const store = engine.log.writer.store as { append: (...args: unknown[]) => Promise<void> };
    const original = store.append.bind(store);
    store.append = () => {
      store.append = original;
      return Promise.reject(new Error('injected write failure'));
    };
    await expect(engine.run({ cmd: 'ledger.deposit', data: { id: 'd2', account: 'a', amount: '5' } })).rejects.toThrow('injected write failure');
    // The machine had applied d2 when it was stamped; it must not survive the failure.
    const next = await engine.run({ cmd: 'ledger.withdraw', data: { id: 'w1', account: 'a', amount: '10' } });
    expect(next.acks).toHaveLength(1);
    expect(engine.machine.entries.get('account:a')).toMatchObject({ balance: '0' });
    expect(engine.machine.entries.get('transfer:d2')).toBeUndefined();
    // d2 can be retried as new, and the log replays to the engine's state.
    await engine.run({ cmd: 'ledger.deposit', data: { id: 'd2', account: 'a', amount: '5' } });
    const live = engine.status().stateRoot;
    expect(live).not.toBe(rootBefore);
    await engine.close();
    const replayed = await replayDir(data, { snapshot: false });
    expect(replayed.fault).toBeUndefined();
    expect(replayed.machine.entries.get('account:a')).toMatchObject({ balance: '5' });
    expect(lines(data).filter((l) => l.type === 'ledger.deposited').map((l) => l.data.id)).toEqual(['d1', 'd2']);
  });
});

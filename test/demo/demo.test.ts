/**
 * The demo workload on real data directories: a fill is deterministic (same seed, same event
 * types and data, same state root), its summary agrees with the log, it gives the dashboard
 * something to show (rejected overdrafts, bundles, executions, attacks, telemetry), it refuses
 * a log that is not empty; a trickle keeps appending until stopped and nothing after.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fillDemo, startTrickle } from '../../src/demo/demo.js';
import type { Trickle } from '../../src/demo/demo.js';
import { Engine } from '../../src/runtime/engine.js';
import { replayDir } from '../../src/runtime/replay.js';
import { verifyDir } from '../../src/runtime/verify.js';
import { VaultStore } from '../../src/store/vault-store.js';
import { caughtSteleError, newDataDir } from '../helpers.js';

const engines: Engine[] = [];
const trickles: Trickle[] = [];
afterEach(async () => {
  for (const t of trickles.splice(0)) await t.stop();
  for (const e of engines.splice(0)) await e.close();
});


async function openEngine(data: string): Promise<Engine> {
  const engine = await Engine.open(data);
  engines.push(engine);
  return engine;
}

interface Line {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

function lines(data: string): Line[] {
  return fs
    .readFileSync(path.join(data, 'events.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** What must not depend on the clock: every event's type and data; for a checkpoint, its size and state root (its log root hashes timestamps). */
function content(all: Line[]): unknown[] {
  return all.map((l) => (l.type === 'stele.checkpoint' ? { type: l.type, size: l.data['size'], stateRoot: l.data['stateRoot'] } : { type: l.type, data: l.data }));
}


/** Waits for `condition`, polling; fails after `timeoutMs` (a bound on a hang, not a timing assertion). */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

describe('fillDemo', () => {
  it('is deterministic: the same seed gives the same events and state root; another seed does not', async () => {
    const runs: { all: Line[]; stateRoot: string }[] = [];
    for (const seed of [7, 7, 8]) {
      const data = newDataDir();
      const engine = await openEngine(data);
      const summary = await fillDemo(engine, { seed, commands: 2_000, bundles: 5 });
      runs.push({ all: lines(data), stateRoot: summary.stateRoot });
    }
    const [a, b, c] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
    expect(a.all.length).toBeGreaterThan(1_500);
    expect(content(b.all)).toEqual(content(a.all));
    expect(b.stateRoot).toBe(a.stateRoot);
    // The seed is really used: another one tells another story.
    expect(c.stateRoot).not.toBe(a.stateRoot);
    expect(content(c.all)).not.toEqual(content(a.all));
  });

  it('reports counts that match the log, stores verifiable bundles (some deduplicated) and refuses a log that is not empty', async () => {
    const data = newDataDir();
    const engine = await openEngine(data);
    const progress: [number, number][] = [];
    const summary = await fillDemo(engine, { seed: 42, commands: 3_000, bundles: 8, onProgress: (done, total) => progress.push([done, total]) });
    const all = lines(data);

    // Eight bundles, every third uploaded twice: 10 uploads, each one vault.put command.
    expect(summary.commands).toBe(3_000 + 10);
    expect(summary.accepted + summary.rejected).toBe(summary.commands);
    expect(summary.size).toBe(all.length);
    expect(engine.status()).toMatchObject({ size: summary.size, logRoot: summary.logRoot, stateRoot: summary.stateRoot });
    expect(progress.at(-1)).toEqual([summary.commands, summary.commands]);
    expect(progress.map(([done]) => done)).toEqual([...progress.map(([done]) => done)].sort((x, y) => x - y));

    // Every rejection is recorded in the log with its reason; overdrafts are among them.
    const rejections = all.filter((l) => l.type === 'audit.command_rejected');
    expect(summary.rejected).toBe(rejections.length);
    expect(summary.rejectedByReason).toEqual(countBy(rejections, (l) => l.data['reason'] as string));
    expect(summary.rejectedByReason['LEDGER_INSUFFICIENT_FUNDS']).toBeGreaterThan(0);
    // Accepted commands append at most one event each (a deduplicated upload or a delete of an absent key appends none).
    const domainEvents = all.filter((l) => l.type !== 'audit.command_rejected' && l.type !== 'stele.checkpoint');
    expect(domainEvents.length).toBeLessThanOrEqual(summary.accepted);
    expect(domainEvents.length).toBeGreaterThan(summary.accepted * 0.9);

    // Bundles: recorded once each, bytes in the vault that re-hash to their names, in several formats.
    const stored = all.filter((l) => l.type === 'vault.bundle_stored');
    expect(stored).toHaveLength(summary.bundles);
    expect(summary.bundles).toBe(8);
    expect(new Set(stored.map((l) => l.data['sha256'])).size).toBe(8);
    expect(new Set(stored.map((l) => l.data['mediaType']))).toEqual(new Set(['application/json', 'text/csv', 'text/plain']));
    const vault = new VaultStore(data, { readOnly: true });
    for (const l of stored) {
      const size = l.data['size'] as number;
      expect(await vault.verify(l.data['sha256'] as string)).toEqual({ ok: true, size });
      expect(size).toBeGreaterThan(1_000);
      expect(engine.machine.entries.get(`bundle:${l.data['sha256'] as string}`)).toMatchObject({ size });
    }
    const json = stored.find((l) => l.data['mediaType'] === 'application/json')!;
    expect(JSON.parse((await vault.get(json.data['sha256'] as string)).toString('utf8'))).toMatchObject({ report: 'settlement' });

    // A second fill would pile made-up transfers onto real data: refused, nothing written.
    const again = await caughtSteleError(fillDemo(engine, { commands: 10 }));
    expect(again.code).toBe('STELE_E_DATA_DIR_NOT_EMPTY');
    expect(engine.status().size).toBe(summary.size);

    // The whole log verifies and replays to the reported state root.
    await engine.close();
    expect((await verifyDir(data)).ok).toBe(true);
    expect((await replayDir(data)).stats.stateRoot).toBe(summary.stateRoot);
  });

  it('gives the audit dashboard executions, attacks of several types and layers, telemetry and rejections', async () => {
    const engine = await openEngine(newDataDir());
    const summary = await fillDemo(engine, { commands: 2_000, bundles: 0 });
    expect(summary.bundles).toBe(0);
    const stats = engine.machine.view('audit', 'stats') as {
      executions: { total: number; byStatus: Record<string, number>; successRate: number };
      attacks: { total: number; byType: { name: string }[]; byLayer: { name: string }[] };
      telemetry: { samples: number; metrics: { metric: string }[] };
      rejections: { total: number };
    };
    expect(stats.executions.total).toBeGreaterThan(50);
    expect(stats.executions.byStatus['succeeded']).toBeGreaterThan(stats.executions.byStatus['failed']!);
    expect(stats.executions.byStatus['failed']).toBeGreaterThan(0);
    expect(stats.executions.byStatus['blocked']).toBeGreaterThan(0);
    expect(stats.executions.successRate).toBeGreaterThan(0.5);
    expect(stats.executions.successRate).toBeLessThan(1);
    expect(stats.attacks.total).toBeGreaterThan(20);
    expect(stats.attacks.byType.length).toBeGreaterThanOrEqual(3);
    expect(stats.attacks.byLayer.length).toBeGreaterThanOrEqual(3);
    expect(stats.telemetry.samples).toBeGreaterThan(50);
    expect(stats.telemetry.metrics.length).toBeGreaterThanOrEqual(3);
    expect(stats.rejections.total).toBe(summary.rejected);
  });

  it('refuses bad options before writing anything', async () => {
    const engine = await openEngine(newDataDir());
    for (const options of [{ commands: -1 }, { commands: 1.5 }, { bundles: 100_000 }, { seed: -3 }]) {
      expect((await caughtSteleError(fillDemo(engine, options))).code).toBe('STELE_E_USAGE');
    }
    expect(() => startTrickle(engine, { ratePerSecond: 0 })).toThrow(expect.objectContaining({ code: 'STELE_E_USAGE' }));
    expect(() => startTrickle(engine, { ratePerSecond: Number.NaN })).toThrow(expect.objectContaining({ code: 'STELE_E_USAGE' }));
    expect(engine.status().size).toBe(0);
  });
});

describe('startTrickle', () => {
  it('keeps appending to a filled log until stopped, without reusing its ids, and appends nothing after stop', async () => {
    const data = newDataDir();
    const engine = await openEngine(data);
    const filled = await fillDemo(engine, { commands: 500, bundles: 1 });

    // Two trickles one after the other, as two runs of `stele serve` would start them.
    for (let round = 0; round < 2; round++) {
      const from = engine.status().size;
      const trickle = startTrickle(engine, { ratePerSecond: 200 });
      trickles.push(trickle);
      await until(() => trickle.sent >= 60 && engine.status().size >= from + 60, 'the trickle to append 60 events');
      expect(trickle.running).toBe(true);
      await trickle.stop();
      expect(trickle.running).toBe(false);
      const sent = trickle.sent;
      const size = engine.status().size;
      // Several ticks' worth of waiting: a trickle that kept going would append meanwhile.
      await new Promise((r) => setTimeout(r, 300));
      expect(trickle.sent).toBe(sent);
      expect(engine.status().size).toBe(size);
    }

    const live = lines(data).slice(filled.size);
    expect(live.some((l) => l.type.startsWith('ledger.'))).toBe(true);
    expect(live.some((l) => l.type.startsWith('audit.') && l.type !== 'audit.command_rejected')).toBe(true);
    // Only overdrafts may be refused: no re-opened accounts, no reused movement or tx ids.
    const reasons = new Set(live.filter((l) => l.type === 'audit.command_rejected').map((l) => l.data['reason']));
    for (const reason of reasons) expect(reason).toBe('LEDGER_INSUFFICIENT_FUNDS');
  });

  it('stops by itself when the engine closes underneath it', async () => {
    const data = newDataDir();
    const engine = await Engine.open(data);
    const trickle = startTrickle(engine, { ratePerSecond: 200 });
    trickles.push(trickle);
    await until(() => trickle.sent >= 5, 'the trickle to send commands');
    await engine.close();
    await until(() => !trickle.running, 'the trickle to notice the closed engine');
    await trickle.stop();
    const size = lines(data).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(lines(data).length).toBe(size);
  });
});

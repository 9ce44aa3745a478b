/**
 * Time travel (issue #5): the time to answer `--at` for positions of the replay benchmark's
 * cached 1,000,000-event mixed log (bench/replay.ts), with snapshots every 100,000 events,
 * against a full derivation from genesis to the same position in the same run.
 *
 * The snapshots are made once into a copy of the cached directory (hard-linked log, so no
 * copy of 288 MB): one derivation walks the log and writes a snapshot at every multiple of
 * 100,000 (the format of src/store/snapshot-store.ts, exactly what the engine writes).
 *
 * Measured, each in this process with the page cache warm, median of 3: `stateAt` at the
 * middle (500,000: on a snapshot), at 550,000 (halfway between snapshots) and 599,999 (the
 * worst case: 99,999 events after the snapshot), its parts (bisection, snapshot load,
 * lines after it), and `stateAt` with `snapshot: false` at 550,000 (the full replay).
 * Target: `--at` anywhere in that log ≤ 500 ms.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Derivation, resolveAt, stateAt } from '../src/history/at.js';
import { loadSnapshotFile } from '../src/runtime/replay.js';
import { listSnapshots, writeSnapshot } from '../src/store/snapshot-store.js';
import { isQuick } from './environment.js';
import type { BenchResult, BenchTarget } from './result.js';
import { findResult } from './result.js';
import { median } from './stats.js';
import { ensureLog } from './replay.js';

const quick = isQuick();
const every = quick ? 10_000 : 100_000;
const rounds = quick ? 1 : 3;
const scenario = 'time-travel/mixed-1M';

export const about =
  `Time travel on the replay benchmark's cached mixed log (bench/replay.ts) with a snapshot every ${every.toLocaleString('en-US')} events: ` +
  `\`stateAt\` (what \`stele replay --at\`, \`--at\` on reads and \`?at=\` run) at positions on, between and just before snapshots, its parts, and the same position derived from genesis; median of ${rounds}, in one process, page cache warm.`;

function progress(text: string): void {
  process.stderr.write(`[time-travel] ${text}\n`);
}

/** A directory beside the cached log with snapshots every `every` events (made once). */
function withSnapshots(source: string, size: number): string {
  const dir = `${source}-snapshots-${every}`;
  const done = `${dir}.done`;
  if (fs.existsSync(done)) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'index'), { recursive: true });
  fs.linkSync(path.join(source, 'events.ndjson'), path.join(dir, 'events.ndjson'));
  fs.copyFileSync(path.join(source, 'stele.json'), path.join(dir, 'stele.json'));
  fs.copyFileSync(path.join(source, 'index', 'tree.hashes'), path.join(dir, 'index', 'tree.hashes'));
  const d = Derivation.open(dir, 0, { snapshot: false });
  for (let at = every; at < size; at += every) {
    const started = performance.now();
    d.advance(at);
    const r = d.result();
    writeSnapshot(dir, { size: r.size, headHash: r.headHash, headTs: r.ts ?? '', logRoot: r.logRoot, stateRoot: r.stateRoot, parts: d.machine.moduleParts(), entries: d.machine.entries.entries() });
    progress(`snapshot at ${at.toLocaleString('en-US')} (${d.machine.entries.size.toLocaleString('en-US')} entries) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(done, `${every}\n`);
  return dir;
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = fn();
  return { value, ms: performance.now() - started };
}

export async function run(): Promise<BenchResult[]> {
  const log = await ensureLog();
  const size = log.meta.size;
  const dir = withSnapshots(log.dir, size);
  const snapshots = listSnapshots(dir).filter((s) => s.size % every === 0);
  const middle = Math.floor(size / 2 / every) * every;
  const positions = [
    { label: `on a snapshot (size ${middle.toLocaleString('en-US')})`, size: middle },
    { label: `halfway between snapshots (size ${(middle + every / 2).toLocaleString('en-US')})`, size: middle + every / 2 },
    { label: `worst case, ${(every - 1).toLocaleString('en-US')} events after a snapshot (size ${(middle + every - 1).toLocaleString('en-US')})`, size: middle + every - 1 },
  ];
  const results: BenchResult[] = [];
  const note = `${snapshots.length} snapshots every ${every.toLocaleString('en-US')} events; log of ${size.toLocaleString('en-US')} events`;
  for (const p of positions) {
    const ms: number[] = [];
    let entries = 0;
    for (let r = 0; r < rounds; r++) {
      const t = timed(() => stateAt(dir, { size: p.size }));
      ms.push(t.ms);
      entries = t.value.machine.entries.size;
      progress(`${p.label}: ${t.ms.toFixed(0)} ms (base ${t.value.base?.size ?? 'genesis'}, ${t.value.replayed} replayed)`);
    }
    results.push({ scenario, name: `stele --at ${p.label}`, value: Math.round(median(ms)), unit: 'ms', note: `${note}; state of ${entries.toLocaleString('en-US')} entries` });
  }
  // The parts of the middle case.
  const bisect = timed(() => resolveAt(dir, { size: middle + every / 2 }));
  results.push({ scenario, name: 'part: bisection to the position (no index)', value: Math.round(bisect.ms * 10) / 10, unit: 'ms' });
  const snapFile = snapshots.find((s) => s.size === middle)!.file;
  const load = timed(() => loadSnapshotFile(snapFile, {}));
  results.push({ scenario, name: `part: load and verify the snapshot at ${middle.toLocaleString('en-US')} (${load.value!.machine.entries.size.toLocaleString('en-US')} entries, recomputed state root)`, value: Math.round(load.ms), unit: 'ms' });
  const d = Derivation.open(dir, middle);
  const advance = timed(() => d.advance(middle + every / 2));
  results.push({ scenario, name: `part: verify and reduce the ${(every / 2).toLocaleString('en-US')} lines after it`, value: Math.round(advance.ms), unit: 'ms', note: `${Math.round((every / 2) / (advance.ms / 1000)).toLocaleString('en-US')} events/s` });
  const full = timed(() => stateAt(dir, { size: middle + every / 2 }, { snapshot: false }));
  progress(`full derivation to ${(middle + every / 2).toLocaleString('en-US')}: ${full.ms.toFixed(0)} ms`);
  results.push({ scenario, name: `full replay from genesis to size ${(middle + every / 2).toLocaleString('en-US')} (snapshot: false)`, value: Math.round(full.ms), unit: 'ms', baseline: true });
  return results;
}

export function targets(results: readonly BenchResult[]): BenchTarget[] {
  const worst = results.filter((r) => r.scenario === scenario && r.unit === 'ms' && r.name.startsWith('stele --at')).reduce((m, r) => Math.max(m, r.value), 0);
  const full = findResult(results, scenario, results.find((r) => r.baseline === true && r.scenario === scenario)?.name ?? '', 'ms');
  return [{ scenario, target: '`--at` anywhere in a 1M-event log with snapshots every 100k ≤ 500 ms', measured: `${worst.toLocaleString('en-US')} ms at worst${full === undefined ? '' : ` (full replay to the middle: ${full.toLocaleString('en-US')} ms)`}`, met: worst <= 500 }];
}

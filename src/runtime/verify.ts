/**
 * `stele verify` (issues #2 and #3): everything that can be checked from the data directory
 * alone, in one pass from genesis — every line's canonical form, schema, seq, chain link
 * and ts order; the log root; the derived tree file; and, by reducing every event, every
 * checkpoint's log root and state root, its signature (against the keyring and the pinned
 * `publicKeys`, issue #5) and the modules' invariants (DESIGN.md §4). No
 * snapshot is used: verification trusts nothing derived.
 */
import type { Logger } from 'pino';
import { buildReport, openTreeReadOnly, TreeChecker } from '../log/read.js';
import type { VerifyReport } from '../log/read.js';
import { checkDataDir } from '../store/data-dir.js';
import type { MachineOptions } from './machine.js';
import { replayPaths } from './replay.js';
import type { ReplayOptions } from './replay.js';
import type { CheckpointSummary } from './replay-sink.js';

export interface FullVerifyReport extends VerifyReport {
  stateRoot: string;
  entries: number;
  checkpoints: CheckpointSummary;
  ms: number;
}

export async function verifyDir(dir: string, options: MachineOptions & Pick<ReplayOptions, 'publicKeys'> & { logger?: Logger; threads?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FullVerifyReport> {
  const paths = checkDataDir(dir, false);
  const tree = openTreeReadOnly(paths);
  const checker = new TreeChecker(tree);
  const started = performance.now();
  try {
    const replayed = await replayPaths(paths, {
      ...options,
      snapshot: false,
      afterLine: (checked) => checker.consume(checked.event.seq, checked.treeHashes),
    });
    // The replay's fault (chain, checkpoint, invariant) comes first: it is the first bad line.
    const scan = replayed.fault === undefined || replayed.scan.fault !== undefined ? replayed.scan : { ...replayed.scan, fault: replayed.fault };
    const report = buildReport(scan, checker, replayed.scan.threads);
    return { ...report, stateRoot: replayed.stats.stateRoot, entries: replayed.stats.entries, checkpoints: replayed.stats.checkpoints, ms: Math.round(performance.now() - started) };
  } finally {
    tree?.close();
  }
}

/**
 * Choosing the base a partial re-derivation trusts (`--from SEQ`): the newest snapshot at or
 * below SEQ that verifies on its own — it parses (canonical lines, header, trailer count and
 * hash), was made by the same module versions, its entries recompute its header's state
 * root, and its head hash is the hash of the log's event `size − 1`. Every newer candidate
 * that fails is a finding naming the file; with no candidate left, the base is genesis.
 *
 * The snapshot is loaded by the replay's own loader (`loadSnapshotFile`); the head hash is
 * read by bisection over the log (src/log/seek.ts), the line itself not checked: the audit's
 * scan verifies the whole chain afterwards, and checks the base's head hash and log root
 * again when it passes that line.
 */
import type { Logger } from 'pino';
import { isSteleError } from '../errors.js';
import { zeroHash64 } from '../hash/hex.js';
import { LogSeeker } from '../log/seek.js';
import type { MachineOptions } from '../runtime/machine.js';
import type { StateMachine } from '../runtime/machine.js';
import { loadSnapshotFile, snapshotLabel } from '../runtime/replay.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { snapshotFault } from '../snapshot/format.js';
import type { DataPaths } from '../store/data-dir.js';
import type { SnapshotFile } from '../store/snapshot-store.js';
import type { Finding } from './finding.js';
import { snapshotUnusable } from './compare.js';

export { snapshotLabel };

/** A snapshot verified on its own, restored into a machine positioned after its `size` events. */
export interface TrustedBase {
  /** `snapshots/<name>`, relative to the data directory. */
  file: string;
  header: SnapshotHeader;
  machine: StateMachine;
}

export interface BaseChoice {
  base: TrustedBase | undefined;
  /** Candidates newer than the base (at or below SEQ) that did not verify, with why. */
  rejected: { file: string; size: number; finding: Finding }[];
}

/** The newest snapshot of `snapshots` with size ≤ `from` that verifies on its own (see the file header). */
export function chooseBase(paths: DataPaths, options: MachineOptions & { logger?: Logger }, from: number, snapshots: readonly SnapshotFile[]): BaseChoice {
  const rejected: BaseChoice['rejected'] = [];
  const candidates = snapshots.filter((s) => s.size <= from).sort((a, b) => b.size - a.size);
  const seeker = candidates.length === 0 ? undefined : new LogSeeker(paths.log);
  try {
    for (const { file, size } of candidates) {
      const label = snapshotLabel(file);
      const reject = (finding: Finding): void => {
        rejected.push({ file: label, size, finding });
        options.logger?.warn({ file: label, reason: finding.message }, 'snapshot not trusted as a base');
      };
      try {
        // Trailer, canonical lines, module versions, recomputed state root: the replay's own loader.
        const loaded = loadSnapshotFile(file, options);
        if (loaded === undefined) {
          reject({ kind: 'snapshot', severity: 'warning', message: `snapshot ${label} was made by other module versions: not a base for this code`, size, where: { file: label, line: 1 }, field: 'header.modules' });
          continue;
        }
        const header = loaded.base.header;
        const head = size === 0 ? zeroHash64 : seeker!.lineHash(size - 1);
        if (head === undefined) throw snapshotFault(label, `it covers ${size} events but the log has fewer`);
        if (head !== header.headHash) throw snapshotFault(label, `its head hash is not the hash of the log's event ${size - 1}`, 1, head, header.headHash);
        return { base: { file: label, header, machine: loaded.machine }, rejected };
      } catch (err) {
        if (!isSteleError(err)) throw err;
        reject(snapshotUnusable(label, size, err));
      }
    }
    return { base: undefined, rejected };
  } finally {
    seeker?.close();
  }
}

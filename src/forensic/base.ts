/**
 * Choosing the base a partial re-derivation trusts (`--from SEQ`): the newest snapshot at or
 * below SEQ that verifies on its own — it parses (canonical lines, header, trailer count and
 * hash), was made by the same module versions, its entries recompute its header's state
 * root, and its head hash is the hash of the log's event `size − 1`. Every newer candidate
 * that fails is a finding naming the file; with no candidate left, the base is genesis.
 *
 * The head hash is read from the log prefix without parsing it (one sequential read up to
 * the line): the audit's scan verifies the whole chain afterwards, and checks the base's
 * head hash and log root again when it passes that line.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { isSteleError } from '../errors.js';
import { sha256Hex } from '../hash/sha256.js';
import { zeroHash64 } from '../hash/hex.js';
import { limits } from '../limits.js';
import { LineSplitter } from '../log/line-splitter.js';
import type { MachineOptions } from '../runtime/machine.js';
import { StateMachine } from '../runtime/machine.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { snapshotFault } from '../snapshot/format.js';
import type { DataPaths } from '../store/data-dir.js';
import { ioError, openFile, readChunkBytes } from '../store/file-store.js';
import type { SnapshotFile } from '../store/snapshot-store.js';
import { readSnapshot } from '../store/snapshot-store.js';
import type { Finding } from './finding.js';
import { snapshotUnusable } from './compare.js';
import path from 'node:path';

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

export function snapshotLabel(file: string): string {
  return path.join('snapshots', path.basename(file));
}

/** The newest snapshot of `snapshots` with size ≤ `from` that verifies on its own (see the file header). */
export function chooseBase(paths: DataPaths, options: MachineOptions & { logger?: Logger }, from: number, snapshots: readonly SnapshotFile[]): BaseChoice {
  const probe = new StateMachine(options);
  const wanted = JSON.stringify(probe.modules.map((m) => [m.name, m.version]));
  const prefixes = probe.modules.flatMap((m) => m.keyPrefixes);
  const rejected: BaseChoice['rejected'] = [];
  const candidates = snapshots.filter((s) => s.size <= from).sort((a, b) => b.size - a.size);
  for (const { file, size } of candidates) {
    const label = snapshotLabel(file);
    const reject = (finding: Finding): void => {
      rejected.push({ file: label, size, finding });
      options.logger?.warn({ file: label, reason: finding.message }, 'snapshot not trusted as a base');
    };
    try {
      const parsed = readSnapshot(file, prefixes);
      const found = JSON.stringify(parsed.header.modules);
      if (found !== wanted) {
        reject({ kind: 'snapshot', severity: 'warning', message: `snapshot ${label} was made by other module versions: not a base for this code`, size, where: { file: label, line: 1 }, field: 'header.modules', recorded: found, derived: wanted });
        continue;
      }
      let machine: StateMachine;
      try {
        machine = StateMachine.restore(options, parsed.header.size, parsed.parts, parsed.entries, parsed.valueHashes);
      } catch (err) {
        if (isSteleError(err)) throw snapshotFault(label, err.message);
        throw err;
      }
      const stateRoot = machine.stateRoot();
      if (stateRoot !== parsed.header.stateRoot) throw snapshotFault(label, 'the state root recomputed from its entries differs from its header', 1, stateRoot, parsed.header.stateRoot);
      const head = size === 0 ? zeroHash64 : lineHashAt(paths, size - 1);
      if (head === undefined) throw snapshotFault(label, `it covers ${size} events but the log has fewer`);
      if (head !== parsed.header.headHash) throw snapshotFault(label, `its head hash is not the hash of the log's event ${size - 1}`, 1, head, parsed.header.headHash);
      return { base: { file: label, header: parsed.header, machine }, rejected };
    } catch (err) {
      if (!isSteleError(err)) throw err;
      reject(snapshotUnusable(label, size, err));
    }
  }
  return { base: undefined, rejected };
}

/** SHA-256 (hex) of the log's line `seq` (0-based), or undefined when the log has fewer complete lines. */
export function lineHashAt(paths: DataPaths, seq: number): string | undefined {
  let index = 0;
  let found: string | undefined;
  const splitter = new LineSplitter(
    {
      line: (chunk, start, end) => {
        if (index++ === seq) found = sha256Hex(chunk.subarray(start, end));
      },
      overlong: () => {
        // An over-long line is not an event: it is counted, and the scan reports it.
        index++;
      },
    },
    limits.lineBytesMax,
  );
  const fd = openFile(paths.log, 'r');
  try {
    const chunk = Buffer.allocUnsafe(readChunkBytes);
    let position = 0;
    while (found === undefined) {
      let n: number;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, position);
      } catch (err) {
        throw ioError(err, paths.log, 'read', position);
      }
      if (n === 0) break;
      splitter.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      position += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return found;
}

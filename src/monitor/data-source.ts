/**
 * The monitor's data-directory source (`stele monitor --data DIR`): a copy of a log, or the
 * live directory of a writer, read without a lock and without writing (it works on a
 * read-only copy, DESIGN.md §1.6).
 *
 * Two ways to compute, one answer format:
 * - `tree-file` (every look): the head from `readStatus` (the tree file's root, accepted only
 *   when its last leaf is the log's last line), the newest checkpoint line read backwards
 *   from the end of the log, proofs from `index/tree.hashes`: a few reads, whatever the size.
 * - `log` (before any `rewritten` alarm is raised, src/monitor/monitor.ts): the tree rebuilt
 *   from the log's own bytes by a full verifying scan (64 bytes of memory per event), so that
 *   an alarm is about the log and never about a damaged derived file.
 * Either way the monitor hashes the checkpoint line itself and checks every proof.
 */
import path from 'node:path';
import { findKeyringKey } from '../crypto/keys.js';
import { createRegistry } from '../events/builtin.js';
import { toHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { latestCheckpoint } from '../log/checkpoints.js';
import { openTreeReadOnly, proveEvent, proveLogConsistency, readStatus } from '../log/read.js';
import { scanLogFile } from '../log/scan.js';
import { LogSeeker } from '../log/seek.js';
import type { HashReader } from '../merkle/log-tree.js';
import { MemoryHashStore, proveConsistency, proveInclusion, storedHashCount, treeHash } from '../merkle/log-tree.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import { formatConsistencyProof, formatInclusionProof } from '../proof/format.js';
import { checkDataDir } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import type { MonitorSource } from './source.js';
import type { Latest } from './verdict.js';
import { parseCheckpointLine } from './verdict.js';

export class DataDirSource implements MonitorSource {
  readonly kind = 'data' as const;
  readonly location: string;
  readonly proofsFrom: 'tree-file' | 'log';
  /** The tree rebuilt from the log (`log` mode), once per source object. */
  #rebuilt: Promise<{ tree: MemoryHashStore; size: number }> | undefined;

  constructor(dir: string, proofsFrom: 'tree-file' | 'log' = 'tree-file') {
    this.location = path.resolve(dir);
    this.proofsFrom = proofsFrom;
  }

  #paths(): DataPaths {
    return checkDataDir(this.location, false);
  }

  /** The log's own tree: a full verifying scan; a damaged log fails with its fault (kind integrity). */
  #rebuild(paths: DataPaths): Promise<{ tree: MemoryHashStore; size: number }> {
    this.#rebuilt ??= (async () => {
      const tree = new MemoryHashStore();
      const scan = await scanLogFile(paths.log, createRegistry(), { onLine: (checked) => tree.append(checked.treeHashes) });
      if (scan.fault !== undefined) throw scan.fault;
      return { tree, size: scan.verifier.head.size };
    })();
    return this.#rebuilt;
  }

  async latest(): Promise<Latest> {
    const paths = this.#paths();
    let head: Latest['head'];
    if (this.proofsFrom === 'log') {
      const { tree, size } = await this.#rebuild(paths);
      head = { size, logRoot: toHex(treeHash(sha256, size, tree)) };
    } else {
      const status = await readStatus(this.location);
      head = { size: status.size, logRoot: status.logRoot };
    }
    const found = latestCheckpoint(paths.log, head.size);
    const latest: Latest = { head, checkpoint: found === undefined ? undefined : parseCheckpointLine(sha256, found.line) };
    const keyId = found?.data.keyId;
    const key = typeof keyId === 'string' ? findKeyringKey(this.location, keyId) : undefined;
    if (key !== undefined) latest.offeredKey = key.publicKey;
    return latest;
  }

  async consistency(size1: number, size2: number): Promise<ConsistencyProof> {
    const paths = this.#paths();
    if (this.proofsFrom === 'tree-file') return proveLogConsistency(this.location, size1, size2);
    const { tree } = await this.#rebuild(paths);
    return formatConsistencyProof(size1, size2, toHex(treeHash(sha256, size1, tree)), toHex(treeHash(sha256, size2, tree)), proveConsistency(sha256, size1, size2, tree));
  }

  async inclusion(seq: number, size: number): Promise<InclusionProof> {
    const paths = this.#paths();
    if (this.proofsFrom === 'log') return inclusionFrom((await this.#rebuild(paths)).tree, paths, seq, size);
    const file = openTreeReadOnly(paths);
    try {
      if (file !== undefined && file.count >= storedHashCount(size)) return inclusionFrom(file, paths, seq, size);
    } finally {
      file?.close();
    }
    // No usable tree file: read.ts rebuilds the tree from the log.
    return proveEvent(this.location, seq, size);
  }
}

/** The inclusion proof of event `seq` in the tree of `size`, the event hash read from the log at `seq` (found by bisection). */
function inclusionFrom(tree: HashReader, paths: DataPaths, seq: number, size: number): InclusionProof {
  const seeker = new LogSeeker(paths.log);
  let line: Buffer | undefined;
  try {
    line = seeker.lineAt(seeker.offsetOfSeq(seq));
  } finally {
    seeker.close();
  }
  const eventHash = line === undefined ? '' : toHex(sha256(line));
  return formatInclusionProof(seq, size, eventHash, toHex(treeHash(sha256, size, tree)), proveInclusion(sha256, seq, size, tree));
}

/**
 * Snapshot operations over a data directory: create one from a read-only replay, list them,
 * and verify them against a full replay from genesis (DESIGN.md §5: a snapshot plus the
 * tail must give exactly the state of a full replay — same roots, same module states).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { canonicalize } from '../canonical/json.js';
import { isSteleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { toHex, zeroHash64 } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { emptyRoot } from '../merkle/log-tree.js';
import { checkDataDir } from '../store/data-dir.js';
import { listSnapshots, readSnapshot, writeSnapshot } from '../store/snapshot-store.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { snapshotFault } from '../snapshot/format.js';
import type { MachineOptions } from './machine.js';
import { StateMachine } from './machine.js';
import { replayPaths } from './replay.js';
import type { ReplayOptions } from './replay.js';

export interface CreatedSnapshot {
  file: string;
  size: number;
  stateRoot: string;
  logRoot: string;
  entries: number;
  bytes: number;
}

/**
 * Replays read-only and writes a snapshot of the whole current log. Refuses a damaged log
 * (a snapshot of a damaged prefix would hide the damage).
 */
export async function createSnapshot(dir: string, options: MachineOptions & Pick<ReplayOptions, 'publicKeys'> & { logger?: Logger; snapshot?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<CreatedSnapshot> {
  const paths = checkDataDir(dir, true);
  const replayed = await replayPaths(paths, options);
  if (replayed.fault !== undefined) throw replayed.fault;
  const head = replayed.scan.verifier.head;
  const file = writeSnapshot(paths.dir, {
    size: head.size,
    headHash: head.headHash,
    headTs: head.lastTs,
    logRoot: replayed.stats.logRoot,
    stateRoot: replayed.stats.stateRoot,
    parts: replayed.machine.moduleParts(),
    entries: replayed.machine.entries.entries(),
  });
  return { file, size: head.size, stateRoot: replayed.stats.stateRoot, logRoot: replayed.stats.logRoot, entries: replayed.machine.entries.size, bytes: fs.statSync(file).size };
}

export interface SnapshotInfo {
  file: string;
  size: number;
  bytes: number;
  header?: SnapshotHeader;
  error?: ReturnType<SteleError['toJSON']>;
}

/** Every snapshot with its verified header (or the error that makes it unusable). */
export function listSnapshotInfo(dir: string, options: MachineOptions = {}): SnapshotInfo[] {
  const paths = checkDataDir(dir, false);
  const prefixes = new StateMachine(options).modules.flatMap((m) => m.keyPrefixes);
  return listSnapshots(paths.dir).map(({ file, size }) => {
    const info: SnapshotInfo = { file: path.relative(paths.dir, file), size, bytes: fs.statSync(file).size };
    try {
      info.header = readSnapshot(file, prefixes).header;
    } catch (err) {
      if (!isSteleError(err)) throw err;
      info.error = err.toJSON();
    }
    return info;
  });
}

export interface SnapshotVerdict {
  file: string;
  size: number;
  ok: boolean;
  error?: ReturnType<SteleError['toJSON']>;
}

/**
 * Verifies snapshots (all, or those named): each file on its own (trailer, canonical lines,
 * recomputed state root), then against one replay from genesis: at each snapshot's size the
 * log's head hash and root, the replayed state root and every module's private state must
 * equal the snapshot's. Returns one verdict per snapshot; the replay's own fault, if any,
 * marks the snapshots after it unverifiable.
 */
export async function verifySnapshots(dir: string, options: MachineOptions & Pick<ReplayOptions, 'publicKeys'> & { files?: string[]; logger?: Logger; onProgress?: (done: number, total: number) => void } = {}): Promise<SnapshotVerdict[]> {
  const paths = checkDataDir(dir, false);
  const probe = new StateMachine(options);
  const prefixes = probe.modules.flatMap((m) => m.keyPrefixes);
  let files = listSnapshots(paths.dir);
  if (options.files !== undefined && options.files.length > 0) {
    const wanted = new Set(options.files.map((f) => path.resolve(f)));
    files = files.filter((f) => wanted.has(f.file) || wanted.has(path.resolve(paths.dir, 'snapshots', path.basename(f.file))));
  }
  const verdicts: SnapshotVerdict[] = [];
  const pending = new Map<number, { verdict: SnapshotVerdict; header: SnapshotHeader; parts: string }[]>();
  for (const { file, size } of files) {
    const label = path.join('snapshots', path.basename(file));
    const verdict: SnapshotVerdict = { file: label, size, ok: false };
    verdicts.push(verdict);
    try {
      const parsed = readSnapshot(file, prefixes);
      const restored = StateMachine.restore(options, parsed.header.size, parsed.parts, parsed.entries, parsed.valueHashes);
      const root = restored.stateRoot();
      if (root !== parsed.header.stateRoot) throw snapshotFault(label, 'the state root recomputed from its entries differs from its header', undefined, root, parsed.header.stateRoot);
      const list = pending.get(size) ?? [];
      list.push({ verdict, header: parsed.header, parts: canonicalize(parsed.parts.map((p) => [p.module, p.version, p.state])) });
      pending.set(size, list);
    } catch (err) {
      if (!isSteleError(err)) throw err;
      verdict.error = err.toJSON();
    }
  }
  const compare = (size: number, headHash: string, logRoot: string, machine: StateMachine): void => {
    for (const p of pending.get(size) ?? []) {
      const label = p.verdict.file;
      try {
        if (p.header.headHash !== headHash) throw snapshotFault(label, `its head hash differs from the log's event ${size - 1}`, undefined, headHash, p.header.headHash);
        if (p.header.logRoot !== logRoot) throw snapshotFault(label, `its log root differs from the log's at size ${size}`, undefined, logRoot, p.header.logRoot);
        const stateRoot = machine.stateRoot();
        if (p.header.stateRoot !== stateRoot) throw snapshotFault(label, `its state root differs from a full replay of the first ${size} events`, undefined, stateRoot, p.header.stateRoot);
        const parts = canonicalize(machine.moduleParts().map((m) => [m.module, m.version, m.state]));
        if (parts !== p.parts) throw snapshotFault(label, `its module states differ from a full replay of the first ${size} events`);
        p.verdict.ok = true;
      } catch (err) {
        if (!isSteleError(err)) throw err;
        p.verdict.error = err.toJSON();
      }
    }
    pending.delete(size);
  };
  if (pending.size > 0) {
    const empty = new StateMachine(options);
    compare(0, zeroHash64, toHex(emptyRoot(sha256)), empty);
    const replayed = await replayPaths(paths, {
      ...options,
      snapshot: false,
      afterLine: (checked, machine, frontier) => {
        if (pending.has(checked.event.seq + 1)) compare(checked.event.seq + 1, checked.hash, toHex(frontier.root()), machine);
      },
    });
    for (const list of pending.values()) {
      for (const p of list) {
        p.verdict.error = (replayed.fault ?? snapshotFault(p.verdict.file, `it covers ${p.header.size} events but the log has only ${replayed.stats.size}`)).toJSON();
      }
    }
  }
  return verdicts;
}


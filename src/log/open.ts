/**
 * Opening a data directory for writing (DESIGN.md §6): check the directory, take the
 * single-writer lock, scan and verify the whole log, repair the derived tree file, move a
 * torn last line to quarantine and record it, then hand out a LogWriter.
 *
 * Corruption anywhere but a torn last line makes the open fail with STELE_E_PANIC carrying
 * the first fault: it is never repaired silently.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { createRegistry } from '../events/builtin.js';
import type { EventRegistry } from '../events/registry.js';
import { sha256 } from '../hash/sha256.js';
import { storedHashCount } from '../merkle/log-tree.js';
import { checkDataDir, cleanDurableTemps, fsyncDir, writeFileDurable } from '../store/data-dir.js';
import type { DataPaths } from '../store/data-dir.js';
import { FileStore, ioError, openFile } from '../store/file-store.js';
import type { FileOps } from '../store/file-ops.js';
import { acquireWriterLock } from '../store/lock.js';
import type { WriterLock } from '../store/lock.js';
import { TreeFile } from '../store/tree-file.js';
import type { TornTail } from './scan.js';
import { scanForReplay } from './scan-replay.js';
import { ChainVerifier } from './chain.js';
import type { Ack, WriterHooks } from './writer.js';
import type { CheckedLine } from './chain.js';
import { LogWriter } from './writer.js';
import { TreeSync } from './tree-sync.js';

export interface OpenWriterOptions {
  registry?: EventRegistry;
  clock?: () => number;
  logger?: Logger;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /** The scan's verifier, when the caller needs its tree frontier (replay). */
  verifier?: ChainVerifier;
  /** Called for every verified line of the startup scan; a SteleError thrown stops the open with STELE_E_PANIC. */
  onLine?: (checked: CheckedLine, offset: number, lineBytes: number) => void;
  /** A state machine's hooks, installed before the writer appends anything (stele.recovered). */
  hooks?: WriterHooks;
  /** Worker threads for the startup scan (large logs of the built-in registry only; see scan-replay.ts). */
  threads?: number;
  builtinRegistry?: boolean;
  parallelBytesMin?: number;
  /** With worker threads: the lines `onLine` needs (the others are verified but not parsed here). */
  wants?: (seq: number, bytes: Buffer) => boolean;
  /** The log file's operations (node:fs unless a test injects faults). */
  fileOps?: FileOps;
}

const recoveredMarker = Buffer.from('"type":"stele.recovered","v":');

export interface OpenedLog {
  writer: LogWriter;
  paths: DataPaths;
  lock: WriterLock;
  /** Acks of the stele.recovered events written by this open, if any. */
  recovered: Ack[];
  /** What the open did to the derived tree file. */
  treeRepair: { fromIndex: number; reason: string } | undefined;
  close(): Promise<void>;
}

export async function openWriter(dir: string, options: OpenWriterOptions = {}): Promise<OpenedLog> {
  const registry = options.registry ?? createRegistry();
  const paths = checkDataDir(dir, true);
  // If the lock is lost (deleted, or taken over after a long stall), another writer may be
  // appending: stop acknowledging at once rather than interleave two writers.
  let writerRef: LogWriter | undefined;
  const lock = await acquireWriterLock(paths.dir, (err) => {
    options.logger?.error({ err }, 'writer lock lost; refusing appends');
    writerRef?.stop(
      steleError('STELE_E_LOCKED', `the writer lock was lost (${err.message}); appends are refused`, {
        where: { file: path.join(paths.dir, 'writer.lock') },
        fix: 'stop this writer and start it again; check that no other writer runs on this directory',
      }),
    );
  });
  try {
    fs.mkdirSync(paths.indexDir, { recursive: true });
    fs.mkdirSync(paths.quarantineDir, { recursive: true });
    // A crash while quarantining a torn tail (below) or installing a key leaves the temp file
    // of the durable write; the bytes are still in the log (the truncate comes after), so the
    // temp is only litter: remove it now that this process holds the lock.
    const temps = [...cleanDurableTemps(paths.quarantineDir).map((n) => `quarantine/${n}`), ...cleanDurableTemps(path.join(paths.dir, 'keys')).map((n) => `keys/${n}`)];
    if (temps.length > 0) options.logger?.warn({ temps }, 'removed temp files left by an interrupted write');
    const tree = TreeFile.open(paths.treeFile, { readOnly: false });
    // The tree file is derived and rebuilt when wrong, but a wrong one may be evidence (a
    // log altered after it was written): keep a copy in quarantine before rebuilding.
    const sync = new TreeSync(tree, (fromIndex, reason) => {
      const copy = path.join(paths.quarantineDir, `tree.hashes.${Date.now()}.${reason.replace(/\W+/g, '-')}`);
      fs.copyFileSync(paths.treeFile, copy);
      options.logger?.error({ fromIndex, reason, copy }, 'derived tree file disagrees with the log; a copy was kept, rebuilding');
    });
    // Quarantine files already recorded by a stele.recovered event.
    const recorded = new Set<string>();
    const verifier = options.verifier ?? new ChainVerifier(registry, { file: 'events.ndjson' });
    const scan = await scanForReplay(paths.log, registry, {
      sequential: verifier,
      frontier: verifier.frontier,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      ...(options.builtinRegistry === undefined ? {} : { builtinRegistry: options.builtinRegistry }),
      ...(options.parallelBytesMin === undefined ? {} : { parallelBytesMin: options.parallelBytesMin }),
      // stele.recovered lines are always needed (the quarantine files they record).
      wants: (seq, bytes) => bytes.includes(recoveredMarker) || (options.wants?.(seq, bytes) ?? true),
      onTreeHashes: (_seq, treeHashes) => sync.consume(treeHashes),
      onLine: (checked, offset, lineBytes) => {
        options.onLine?.(checked, offset, lineBytes);
        if (checked.event.type === 'stele.recovered') {
          const file = checked.event.data.file;
          if (typeof file === 'string') recorded.add(path.basename(file));
        }
      },
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    if (scan.fault !== undefined) throw scan.fault.code === 'STELE_E_SNAPSHOT_INVALID' ? scan.fault : panic(scan.fault);
    if (scan.tornTail !== undefined) {
      quarantineTail(paths, scan.tornTail);
      options.logger?.warn({ offset: scan.tornTail.offset, bytes: scan.tornTail.bytes }, 'torn last line moved to quarantine');
    }
    const treeRepair = sync.finish(storedHashCount(scan.verifier.head.size));
    if (treeRepair !== undefined) options.logger?.warn(treeRepair, 'derived tree file repaired');
    const store = FileStore.open(paths.log, { size: scan.verifier.head.size, endOffset: scan.endOffset, sparseOffsets: scan.sparseOffsets }, { readOnly: false, ...(options.fileOps === undefined ? {} : { ops: options.fileOps }) });
    const writer = new LogWriter({
      store,
      registry,
      head: scan.verifier.head,
      frontier: scan.verifier.frontier,
      tree,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    });
    writerRef = writer;
    const recovered: Ack[] = [];
    for (const q of unrecordedQuarantine(paths, recorded)) {
      recovered.push(await writer.appendSystem({ type: 'stele.recovered', v: 1, data: q }));
      options.logger?.warn({ file: q.file, bytes: q.bytes }, 'recorded stele.recovered');
    }
    return {
      writer,
      paths,
      lock,
      recovered,
      treeRepair,
      async close() {
        await writer.close();
        tree.close();
        await lock.release();
      },
    };
  } catch (err) {
    await lock.release().catch(() => undefined);
    throw err;
  }
}

function panic(fault: SteleError): SteleError {
  return steleError('STELE_E_PANIC', `the log is damaged and the writer refuses to open: ${fault.message}`, {
    where: fault.where,
    ...(fault.expected === undefined ? {} : { expected: fault.expected }),
    ...(fault.found === undefined ? {} : { found: fault.found }),
    fix: `nothing was changed. Inspect with: stele verify; then restore the log from a backup. (${fault.fix ?? ''})`,
    detail: { fault: fault.toJSON() },
  });
}

/** Quarantine file name: offset and hash prefix make it unique and the operation idempotent. */
function quarantineName(offset: number, sha: string): string {
  return `events.ndjson.${String(offset).padStart(16, '0')}.${sha.slice(0, 16)}.torn`;
}

const quarantinePattern = /^events\.ndjson\.(\d{16})\.([0-9a-f]{16})\.torn$/;

function quarantineTail(paths: DataPaths, tail: TornTail): void {
  const fd = openFile(paths.log, 'r+');
  try {
    const bytes = Buffer.alloc(tail.bytes);
    fs.readSync(fd, bytes, 0, tail.bytes, tail.offset);
    const sha = Buffer.from(sha256(bytes)).toString('hex');
    // 1. the bytes go to quarantine durably, 2. only then are they cut from the log.
    writeFileDurable(path.join(paths.quarantineDir, quarantineName(tail.offset, sha)), bytes);
    fs.ftruncateSync(fd, tail.offset);
    fs.fsyncSync(fd);
    fsyncDir(paths.dir);
  } catch (err) {
    throw ioError(err, paths.log, 'quarantine the torn tail of');
  } finally {
    fs.closeSync(fd);
  }
}

interface RecoveredData {
  bytes: number;
  sha256: string;
  offset: number;
  file: string;
}

function unrecordedQuarantine(paths: DataPaths, recorded: Set<string>): RecoveredData[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(paths.quarantineDir);
  } catch {
    return [];
  }
  const out: RecoveredData[] = [];
  for (const name of entries.sort()) {
    const m = quarantinePattern.exec(name);
    if (m === null || recorded.has(name)) continue;
    const bytes = fs.readFileSync(path.join(paths.quarantineDir, name));
    out.push({ bytes: bytes.length, sha256: Buffer.from(sha256(bytes)).toString('hex'), offset: Number(m[1]), file: `quarantine/${name}` });
  }
  return out;
}

/**
 * Snapshot files in `<data>/snapshots/` (DESIGN.md §5): listing, durable writing (temp file,
 * fsync, rename, directory fsync) and streaming reading through the verifying parser of
 * src/snapshot/format.ts. Older snapshots are kept; a temp file left by a crash while
 * writing is never read (its name does not match) and is removed by `cleanSnapshotTemp`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { limits } from '../limits.js';
import { LineSplitter } from '../log/line-splitter.js';
import type { ParsedSnapshot, SnapshotContent } from '../snapshot/format.js';
import { SnapshotParser, formatSnapshot, snapshotFault, snapshotFileName, snapshotFilePattern } from '../snapshot/format.js';
import { fsyncDir } from './data-dir.js';
import { nodeFileOps, writeAll } from './file-ops.js';
import type { FileOps } from './file-ops.js';
import { ioError, openFile, readChunkBytes } from './file-store.js';

export interface SnapshotFile {
  /** Absolute path. */
  file: string;
  /** Log size the snapshot covers (from its name; the header must agree). */
  size: number;
}

export function snapshotsDir(dataDir: string): string {
  return path.join(dataDir, 'snapshots');
}

/** Every snapshot file, sorted by size ascending. A missing directory means none. */
export function listSnapshots(dataDir: string): SnapshotFile[] {
  const dir = snapshotsDir(dataDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, dir, 'list');
  }
  const out: SnapshotFile[] = [];
  for (const name of names) {
    const m = snapshotFilePattern.exec(name);
    if (m !== null) out.push({ file: path.join(dir, name), size: Number(m[1]) });
  }
  return out.sort((a, b) => a.size - b.size);
}

/**
 * Writes a snapshot durably; returns its path. Writing the same content again gives the same
 * bytes. On any failure (disk full, I/O error, the data directory gone) the temp file is
 * removed and a typed error names the snapshot; no snapshot file is left half written.
 * `ops` injects faults in tests.
 */
export function writeSnapshot(dataDir: string, content: SnapshotContent, ops: FileOps = nodeFileOps): string {
  const dir = snapshotsDir(dataDir);
  const file = path.join(dir, snapshotFileName(content.size));
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    // Not recursive: a data directory removed under the writer must not be recreated here.
    try {
      fs.mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      // Positional writes looped over short ones: a short write on a filling disk must fail
      // the snapshot, not silently drop the rest of a chunk.
      let position = 0;
      for (const chunk of formatSnapshot(content)) {
        const bytes = Buffer.from(chunk, 'utf8');
        writeAll(ops, fd, bytes, position);
        position += bytes.length;
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(dir);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw ioError(err, file, 'write the snapshot');
  }
  return file;
}

/** Removes temp files of snapshot writes a crash interrupted. Returns their names. */
export function cleanSnapshotTemp(dataDir: string): string[] {
  const dir = snapshotsDir(dataDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed = names.filter((n) => /\.ndjson\.tmp-\d+$/.test(n));
  for (const n of removed) fs.rmSync(path.join(dir, n), { force: true });
  return removed;
}

/**
 * Reads and verifies a snapshot file: every line canonical, header, module lines, sorted
 * entries under known prefixes, trailer count and hash. The caller recomputes the state root
 * and checks the head against the log. Memory O(state).
 */
export function readSnapshot(file: string, prefixes: readonly string[]): ParsedSnapshot {
  const label = path.join('snapshots', path.basename(file));
  const parser = new SnapshotParser(label, prefixes);
  const splitter = new LineSplitter(
    {
      line: (chunk, start, end) => parser.line(chunk.toString('utf8', start, end)),
      overlong: () => {
        throw snapshotFault(label, `a line is longer than ${limits.snapshotLineBytesMax} bytes`);
      },
    },
    limits.snapshotLineBytesMax,
  );
  const fd = openFile(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(readChunkBytes);
    let position = 0;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, position);
      } catch (err) {
        throw ioError(err, file, 'read', position);
      }
      if (n === 0) break;
      splitter.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      position += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const parsed = parser.finish(splitter.finish().bytes);
  const expectedName = snapshotFileName(parsed.header.size);
  if (path.basename(file) !== expectedName) throw snapshotFault(label, 'the file name does not match the size in its header', undefined, expectedName, path.basename(file));
  return parsed;
}

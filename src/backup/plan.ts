/**
 * What a backup or a restore copies, decided over plain data (no I/O): where to cut the log,
 * which snapshots and quarantine files to take. The copying is src/backup/copy.ts.
 *
 * The cut: a backup of a live log copies the log up to and including the newest
 * `stele.checkpoint` line that is complete when it starts. A checkpoint is written between two
 * requests, never inside one (docs/file-format.md), so the copy never splits a request, and its
 * roots are committed in the log itself (signed when the writer signs). A log without any
 * checkpoint is copied up to its last complete line, and the summary says it has no
 * checkpoint (docs/decisions.md). A restore `--at SEQ` cuts right after event SEQ.
 *
 * Invariants: a cut is always just after a `\n` (or 0), so the copy is a sequence of complete
 * lines; a torn tail (bytes after the last `\n`) is never copied.
 */
import { isCheckpointLine } from '../log/scan-parallel.js';
import { limits } from '../limits.js';

/** Bytes read per step of the backward search for the newest checkpoint. */
export const cutSearchChunkBytes = 1024 * 1024;
// A chunk must always hold one whole line and the `\n` before it, or the search cannot move.
if (cutSearchChunkBytes < 2 * limits.lineBytesMax + 2) throw new Error('stele bug in src/backup/plan.ts: the cut search chunk must hold a maximal line');

/** One step of the backward search for the newest checkpoint line. */
export type CheckpointSearch =
  /** The line `[start, end)` (with its `\n`) is a checkpoint. */
  | { kind: 'found'; start: number; end: number }
  /** No checkpoint among the complete lines of the chunk: search the bytes before `end`. */
  | { kind: 'more'; end: number }
  /** No checkpoint in the whole file. */
  | { kind: 'none' };

/**
 * Searches `bytes` (the file's bytes from offset `start`) backwards for the last checkpoint
 * line ending at or before `end` (an offset just after a `\n`). A line is taken only when the
 * `\n` before it (or the start of the file) is inside the chunk.
 */
export function searchCheckpoint(bytes: Uint8Array, start: number, end: number): CheckpointSearch {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lineEnd = end;
  while (lineEnd > start) {
    const before = lineEnd - 2 - start;
    const nl = before < 0 ? -1 : buf.lastIndexOf(10, before);
    if (nl === -1 && start > 0) return { kind: 'more', end: lineEnd };
    const lineStart = nl === -1 ? 0 : start + nl + 1;
    if (isCheckpointLine(buf.subarray(lineStart - start, lineEnd - 1 - start))) return { kind: 'found', start: lineStart, end: lineEnd };
    lineEnd = lineStart;
  }
  return lineEnd === 0 ? { kind: 'none' } : { kind: 'more', end: lineEnd };
}

/** The offset just after the last `\n` of `bytes` (the file's bytes from offset `start`), or undefined when it holds none. */
export function completeEnd(bytes: Uint8Array, start: number): number | undefined {
  const nl = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf(10);
  return nl === -1 ? undefined : start + nl + 1;
}

/** Where a copy of the log ends. */
export interface LogCut {
  /** Events copied. */
  size: number;
  /** Bytes copied: the offset just after the last copied line's `\n`. */
  bytes: number;
  /** The checkpoint the copy ends with, if it ends with one. */
  checkpoint: { seq: number; size: number; logRoot: string; stateRoot: string } | null;
  /** The last copied line (without `\n`), hashed: checked again in the source before the copy is installed. */
  last: { start: number; sha256: string } | null;
}

/** The fields of a checkpoint line the summary shows (the copy's verification checks them all). */
export function checkpointOf(line: string): NonNullable<LogCut['checkpoint']> {
  const event = JSON.parse(line) as { seq: number; data: { size: number; logRoot: string; stateRoot: string } };
  return { seq: event.seq, size: event.data.size, logRoot: event.data.logRoot, stateRoot: event.data.stateRoot };
}

/** Snapshot files to copy: those covering at most `size` events (a larger one belongs to a longer log). */
export function snapshotsWithin<T extends { size: number }>(snapshots: readonly T[], size: number): T[] {
  return snapshots.filter((s) => s.size <= size);
}

/** Quarantine files: torn tails the copied log records (`stele.recovered`), and copies of disagreeing tree files. */
export const tornFilePattern = /^events\.ndjson\.\d{16}\.[0-9a-f]{16}\.torn$/;
export const treeCopyPattern = /^tree\.hashes\.\d+\.[\w-]+$/;

/**
 * The quarantine files to copy. A torn file is taken only when a `stele.recovered` event of
 * the copied log names it: a writer opening the copy records every torn file no event names
 * (src/log/open.ts), so an unnamed one would add an event the source never had. Tree-file
 * copies are evidence no event names, and nothing acts on them: all are taken.
 */
export function quarantineToCopy(names: readonly string[], recorded: ReadonlySet<string>): string[] {
  return names.filter((n) => (tornFilePattern.test(n) && recorded.has(n)) || treeCopyPattern.test(n)).sort();
}

/** Public keys (`keys/<keyId>.pub`): every key file; a secret key never belongs there. */
export const publicKeyFilePattern = /^[0-9a-f]{64}\.pub$/;

/**
 * Finding `stele.checkpoint` lines in a log file without replaying it: the newest at or below
 * a size (read backwards from there), or the first at or after a seq (read forwards). Used by
 * proof bundles and the monitor, which then check what they found cryptographically (the
 * signature, and inclusion/consistency proofs against the tree), so these readers only
 * parse: they verify nothing else.
 */
import fs from 'node:fs';
import { steleError } from '../errors.js';
import type { CheckpointData } from '../crypto/checkpoint-sig.js';
import { sha256Hex } from '../hash/sha256.js';
import { LogSeeker } from './seek.js';

/** A checkpoint line found in the log. */
export interface FoundCheckpoint {
  /** Its seq (= data.size: it covers the events before it). */
  seq: number;
  /** The exact line, without `\n`. */
  line: string;
  /** SHA-256 of the line (its event hash). */
  hash: string;
  ts: string;
  data: CheckpointData;
}

const marker = Buffer.from('"type":"stele.checkpoint"');
const blockBytes = 256 * 1024;

function parseCheckpoint(line: Buffer, offset: number): FoundCheckpoint | undefined {
  if (line.indexOf(marker) < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    throw steleError('STELE_E_LINE_UNREADABLE', `the line at byte ${offset} is not JSON`, { where: { file: 'events.ndjson', offset }, fix: 'run stele verify: the log is damaged' });
  }
  const e = value as { type?: unknown; seq?: unknown; ts?: unknown; data?: unknown };
  if (e.type !== 'stele.checkpoint') return undefined; // the marker was inside a payload string
  const d = e.data as CheckpointData | undefined;
  if (typeof e.seq !== 'number' || typeof e.ts !== 'string' || typeof d !== 'object' || d === null || typeof d.size !== 'number' || typeof d.logRoot !== 'string' || typeof d.stateRoot !== 'string') {
    throw steleError('STELE_E_EVENT_INVALID', `the checkpoint at byte ${offset} is malformed`, { where: { file: 'events.ndjson', offset }, fix: 'run stele verify: the log is damaged' });
  }
  const data: CheckpointData = { size: d.size, logRoot: d.logRoot, stateRoot: d.stateRoot, ...(d.sig === undefined ? {} : { sig: d.sig }), ...(d.keyId === undefined ? {} : { keyId: d.keyId }) };
  return { seq: e.seq, line: line.toString('utf8'), hash: sha256Hex(line), ts: e.ts, data };
}

/**
 * The newest checkpoint among the first `size` events (default: the whole file's complete
 * lines), reading backwards in 256 KiB blocks. Undefined when there is none.
 */
export function latestCheckpoint(logFile: string, size?: number): FoundCheckpoint | undefined {
  const seeker = new LogSeeker(logFile);
  let end: number;
  try {
    end = size === undefined ? seeker.bytes : seeker.offsetOfSeq(size);
  } finally {
    seeker.close();
  }
  const fd = fs.openSync(logFile, 'r');
  try {
    // Only complete lines: cut anything after the last `\n` before `end`.
    let carry = Buffer.alloc(0);
    let position = end;
    let first = true;
    while (position > 0) {
      const from = Math.max(0, position - blockBytes);
      const block = Buffer.allocUnsafe(position - from);
      fs.readSync(fd, block, 0, block.length, from);
      let buf = carry.length === 0 ? block : Buffer.concat([block, carry]);
      if (first) {
        const last = buf.lastIndexOf(10);
        buf = last < 0 ? Buffer.alloc(0) : buf.subarray(0, last + 1);
        first = false;
      }
      // Lines wholly inside buf, newest first; the bytes before its first `\n` belong to a
      // line that starts before this block (unless it is the file's start): carried over.
      let stop = buf.length - 1; // index of the `\n` ending the current line
      while (stop >= 0) {
        const nl = stop === 0 ? -1 : buf.lastIndexOf(10, stop - 1);
        if (nl < 0 && from > 0) break;
        const found = parseCheckpoint(buf.subarray(nl + 1, stop), from + nl + 1);
        if (found !== undefined) return found;
        stop = nl;
      }
      if (from === 0) break;
      carry = stop >= 0 ? Buffer.from(buf.subarray(0, stop + 1)) : Buffer.alloc(0);
      position = from;
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The first checkpoint at or after `seq`, reading forwards; undefined when none follows. */
export function checkpointAtOrAfter(logFile: string, seq: number): FoundCheckpoint | undefined {
  const seeker = new LogSeeker(logFile);
  try {
    let at = seeker.offsetOfSeq(seq);
    while (at < seeker.bytes) {
      const line = seeker.lineAt(at);
      if (line === undefined) return undefined;
      const found = parseCheckpoint(line, at);
      if (found !== undefined) return found;
      at += line.length + 1;
    }
    return undefined;
  } finally {
    seeker.close();
  }
}

/**
 * Line-by-line verification of the event log (DESIGN.md §2): the pure core shared by the
 * writer's startup scan, `stele verify` and every reader.
 *
 * For each line, in order, `ChainVerifier.check` verifies: the line is within the size
 * limit, valid UTF-8, JSON, in RFC 8785 canonical form, a well-formed envelope, the next
 * `seq`, linked to the previous line's hash by `prev`, with a `ts` not before the previous
 * one, and a payload valid for its registered `(type, v)`. It then extends the RFC 6962
 * log tree by the line's hash. The first fault is thrown as a SteleError carrying the
 * line number, byte offset, seq and expected vs found; the verifier's state is unchanged by
 * a faulty line, so a caller can report it and stop.
 *
 * Invariants: no I/O, no clock. Memory is O(log n) (the tree frontier), never O(log).
 */
import { isUtf8 } from 'node:buffer';
import { canonicalize } from '../canonical/json.js';
import type { SteleError } from '../errors.js';
import { steleError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import { envelopeSchema, isEnvelope } from '../events/envelope.js';
import type { EventRegistry } from '../events/registry.js';
import { toHex, zeroHash64 } from '../hash/hex.js';
import { sha256, sha256Hex } from '../hash/sha256.js';
import { LogTreeFrontier } from '../merkle/log-tree.js';
import { limits } from '../limits.js';

/** The head of a verified log prefix: everything needed to check and append the next line. */
export interface ChainHead {
  /** Number of events verified. */
  size: number;
  /** Hash of the last event, or 64 zeros for the empty log. */
  headHash: string;
  /** `ts` of the last event, or '' for the empty log. */
  lastTs: string;
}

const noHashes: Uint8Array[] = [];
const checkpointType = 'stele.checkpoint';
const noBytes = new Uint8Array(0);

export const emptyHead: ChainHead = { size: 0, headHash: zeroHash64, lastTs: '' };

export interface CheckedLine {
  event: EventEnvelope;
  /** SHA-256 of the line bytes, hex. */
  hash: string;
  /** The same hash as bytes (the log tree's leaf input); empty when the verifier keeps no tree. */
  hashBytes: Uint8Array;
  /** Stored hashes this line added to the log tree (for the derived tree file). */
  treeHashes: Uint8Array[];
  /**
   * For a `stele.checkpoint` line (when the verifier keeps the tree): the log root over the
   * events before it, which the checkpoint must state (DESIGN.md §4).
   */
  logRootBefore?: Uint8Array;
}

export class ChainVerifier {
  head: ChainHead;
  readonly frontier: LogTreeFrontier;
  /** File name used in fault locations. */
  readonly file: string;

  constructor(
    private readonly registry: EventRegistry,
    options: { file: string; head?: ChainHead; frontier?: LogTreeFrontier; tree?: boolean } = { file: 'events.ndjson' },
  ) {
    this.file = options.file;
    this.head = options.head ?? emptyHead;
    this.frontier = options.frontier ?? new LogTreeFrontier(sha256);
    this.#tree = options.tree ?? true;
  }

  /** False in verification workers: the main thread builds the tree from their hashes. */
  readonly #tree: boolean;

  /** The RFC 6962 root of the verified prefix. */
  logRoot(): string {
    return toHex(this.frontier.root());
  }

  /**
   * Verifies the next line, `buf[start..end)` without its `\n`, found at byte `offset`.
   * Throws the first fault; on success advances the head and the log tree.
   */
  check(buf: Buffer, start: number, end: number, offset: number): CheckedLine {
    const seq = this.head.size;
    const where = { file: this.file, line: seq + 1, seq, offset };
    const length = end - start;
    if (length > limits.lineBytesMax) throw this.overlong(offset, length);
    const bytes = buf.subarray(start, end);
    if (!isUtf8(bytes)) {
      throw steleError('STELE_E_NOT_CANONICAL', 'the line is not valid UTF-8', {
        where,
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    const text = bytes.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw steleError('STELE_E_LINE_UNREADABLE', `the line is not JSON: ${(err as Error).message}`, {
        where,
        found: excerpt(text),
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    let canonical: string;
    try {
      canonical = canonicalize(parsed);
    } catch (err) {
      throw steleError('STELE_E_NOT_CANONICAL', `the line cannot be canonical JSON: ${(err as Error).message}`, {
        where,
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    // Byte equality with the canonical form also rejects duplicate keys (JSON.parse keeps the
    // last one, so the re-serialisation is shorter), whitespace, escapes and number forms.
    if (canonical !== text) {
      const at = firstDifference(canonical, text);
      throw steleError('STELE_E_NOT_CANONICAL', `the line is not in RFC 8785 canonical form (first difference at character ${at})`, {
        where,
        expected: excerpt(canonical, at),
        found: excerpt(text, at),
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    const envelope = isEnvelope(parsed, this.head.headHash) ? { success: true as const, data: parsed } : envelopeSchema.safeParse(parsed);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      throw steleError('STELE_E_EVENT_INVALID', `the event envelope is invalid: ${issue?.message ?? 'invalid'} at ${issue?.path.join('.') || '(root)'}`, {
        where: { ...where, path: issue?.path.join('.') },
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    const event: EventEnvelope = envelope.data;
    if (event.seq !== seq) {
      throw steleError('STELE_E_SEQ_GAP', `expected seq ${seq}, found ${event.seq}`, {
        where,
        expected: String(seq),
        found: String(event.seq),
        fix: 'events are missing or repeated before this line; restore the log from a backup',
      });
    }
    if (event.prev !== this.head.headHash) {
      throw steleError('STELE_E_CHAIN_BROKEN', `prev does not match the hash of the previous line`, {
        where,
        expected: this.head.headHash,
        found: event.prev,
        fix: seq === 0 ? 'the first event must have 64 zeros as prev' : `line ${seq} or this line was altered; restore the log from a backup`,
      });
    }
    if (event.ts < this.head.lastTs) {
      throw steleError('STELE_E_TS_DECREASED', `ts goes back in time`, {
        where,
        expected: `>= ${this.head.lastTs}`,
        found: event.ts,
        fix: 'a log line was altered; restore the log from a backup',
      });
    }
    const def = this.registry.get(event.type, event.v);
    if (def === undefined) {
      throw steleError('STELE_E_EVENT_INVALID', `unknown event type ${event.type}@${event.v}`, {
        where: { ...where, path: 'type' },
        fix: 'register the module that defines this event type, or restore the log from a backup',
      });
    }
    const payload = def.schema.safeParse(event.data);
    if (!payload.success) {
      const issue = payload.error.issues[0];
      throw steleError('STELE_E_EVENT_INVALID', `${event.type}@${event.v} payload is invalid: ${issue?.message ?? 'invalid'}`, {
        where: { ...where, path: ['data', ...(issue?.path ?? []).map(String)].join('.') },
        fix: 'restore the log from a backup; a log line was altered',
      });
    }
    // Fast case: node:crypto's hex digest is ~2× faster than its Buffer digest, and the hex
    // form is what the chain compares; the bytes (the tree's leaf input) come from it natively.
    const hash = sha256Hex(bytes);
    const hashBytes = this.#tree ? Buffer.from(hash, 'hex') : noBytes;
    // Checkpoints are rare (one per checkpointEvery events), so an O(log n) root here is cheap.
    const logRootBefore = this.#tree && event.type === checkpointType ? this.frontier.root() : undefined;
    const treeHashes = this.#tree ? this.frontier.append(hashBytes) : noHashes;
    this.head = { size: seq + 1, headHash: hash, lastTs: event.ts };
    return logRootBefore === undefined ? { event, hash, hashBytes, treeHashes } : { event, hash, hashBytes, treeHashes, logRootBefore };
  }

  overlong(offset: number, bytes: number): SteleError {
    const seq = this.head.size;
    return steleError('STELE_E_LINE_TOO_LARGE', `the line is ${bytes} bytes, over the limit of ${limits.lineBytesMax}`, {
      where: { file: this.file, line: seq + 1, seq, offset },
      expected: `<= ${limits.lineBytesMax} bytes`,
      found: `${bytes} bytes`,
      fix: 'restore the log from a backup; stele never writes such a line',
    });
  }
}

function firstDifference(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return i;
  return n;
}

/** Up to 80 characters around `at`, for expected/found in faults. */
function excerpt(text: string, at = 0): string {
  const from = Math.max(0, at - 20);
  const out = text.slice(from, from + 80);
  return (from > 0 ? '…' : '') + out + (from + 80 < text.length ? '…' : '');
}

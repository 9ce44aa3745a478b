/**
 * The snapshot file format (DESIGN.md §5): `format` writes it, `SnapshotParser` reads and
 * verifies it line by line, in one place. Pure: no I/O (the files are in
 * src/store/snapshot-store.ts).
 *
 * A snapshot is NDJSON, every line RFC 8785 canonical JSON:
 *
 *   1. header   {"entries":E,"format":"stele.snapshot","headHash":hex,"headTs":ts,"logRoot":hex,
 *                "modules":[["kv",1],["ledger",1],…],"size":N,"stateRoot":hex,"version":1}
 *   2. one line per module, in the header's module order: {"module":"kv","state":<json>}
 *   3. E entry lines, strictly ascending by key (UTF-16 order): ["account:alice",{"balance":"5",…}]
 *   4. trailer  {"lines":L,"sha256":hex}  L = lines before the trailer, sha256 = SHA-256 of all
 *               bytes before the trailer line (lowercase hex)
 *
 * Determinism: nothing in a snapshot depends on when or where it was made (no creation
 * time, no host), so two snapshots of the same log are byte-identical (DESIGN.md §1.3).
 * The file is named by `size` (zero-padded to 16 digits), e.g. 0000000000010000.ndjson.
 *
 * The parser rejects what the formatter would never write: non-canonical lines, unknown
 * fields, unsorted or duplicate keys, keys outside the modules' prefixes, a count or hash
 * mismatch in the trailer, bytes after the trailer, a missing trailer (truncated file).
 * It recomputes the state root from the entries (the caller, holding the entries) and the
 * caller checks `headHash`/`logRoot` against the log itself.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { z } from 'zod';
import type { JsonValue } from '../canonical/json.js';
import { canonicalize } from '../canonical/json.js';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { hash64Pattern, tsPattern } from '../events/envelope.js';
import { sha256Utf8 } from '../hash/sha256.js';
import type { ModulePart } from '../runtime/machine.js';

export const snapshotFormat = { format: 'stele.snapshot', version: 1 } as const;

/** File name of the snapshot covering `size` events. */
export function snapshotFileName(size: number): string {
  return `${String(size).padStart(16, '0')}.ndjson`;
}

export const snapshotFilePattern = /^(\d{16})\.ndjson$/;

const hex64 = z.string().regex(hash64Pattern);

export const snapshotHeaderSchema = z
  .object({
    format: z.literal(snapshotFormat.format),
    version: z.literal(snapshotFormat.version),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    headHash: hex64,
    /** `ts` of the last event covered ('' for an empty log). */
    headTs: z.union([z.literal(''), z.string().regex(tsPattern)]),
    logRoot: hex64,
    stateRoot: hex64,
    /** `[name, version]` of every module, in the order of the module lines. */
    modules: z.array(z.tuple([z.string().min(1), z.number().int().min(1)])),
    entries: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

export type SnapshotHeader = z.infer<typeof snapshotHeaderSchema>;

const moduleLineSchema = z.object({ module: z.string(), state: z.unknown() }).strict();
const trailerSchema = z.object({ lines: z.number().int().min(2), sha256: hex64 }).strict();

/** What the writer has at a batch boundary: the machine's contents and the log head. */
export interface SnapshotContent {
  size: number;
  headHash: string;
  headTs: string;
  logRoot: string;
  stateRoot: string;
  parts: readonly ModulePart[];
  entries: readonly (readonly [string, JsonValue])[];
}

/**
 * Formats a snapshot as a sequence of text chunks (each one or more whole lines), so a
 * large state is written in pieces instead of one string the size of the file.
 */
export function* formatSnapshot(content: SnapshotContent): Generator<string> {
  const header: SnapshotHeader = {
    format: snapshotFormat.format,
    version: snapshotFormat.version,
    size: content.size,
    headHash: content.headHash,
    headTs: content.headTs,
    logRoot: content.logRoot,
    stateRoot: content.stateRoot,
    modules: content.parts.map((p) => [p.module, p.version]),
    entries: content.entries.length,
  };
  const hash = createHash('sha256');
  let lines = 0;
  let chunk = '';
  const emit = (line: string): void => {
    chunk += line + '\n';
    lines++;
  };
  emit(canonicalize(header));
  for (const part of content.parts) emit(canonicalize({ module: part.module, state: part.state }));
  for (const entry of content.entries) {
    emit(canonicalize(entry));
    // ~1 MiB pieces: few writes, bounded memory.
    if (chunk.length >= 1 << 20) {
      hash.update(chunk);
      yield chunk;
      chunk = '';
    }
  }
  hash.update(chunk);
  yield chunk + canonicalize({ lines, sha256: hash.digest('hex') }) + '\n';
}

/** What a verified snapshot holds. */
export interface ParsedSnapshot {
  header: SnapshotHeader;
  parts: ModulePart[];
  entries: [string, JsonValue][];
  /**
   * SHA-256 of each entry's value in JCS form, taken from the line's own (verified
   * canonical) text: the state tree is rebuilt without canonicalising every value again.
   */
  valueHashes: Uint8Array[];
}

/**
 * Reads a snapshot line by line (`line` for each `\n`-terminated line's text, then `finish`),
 * verifying as it goes. Every fault is a STELE_E_SNAPSHOT_INVALID naming the file and line.
 */
export class SnapshotParser {
  readonly #file: string;
  readonly #prefixes: readonly string[];
  readonly #hash: Hash = createHash('sha256');
  #lineNo = 0;
  #header: SnapshotHeader | undefined;
  readonly #parts: ModulePart[] = [];
  readonly #entries: [string, JsonValue][] = [];
  readonly #valueHashes: Uint8Array[] = [];
  #lastKey: string | undefined;
  #trailer: { lines: number; sha256: string } | undefined;

  constructor(file: string, prefixes: readonly string[]) {
    this.#file = file;
    this.#prefixes = prefixes;
  }

  /** One line, without its `\n`. */
  line(text: string): void {
    this.#lineNo++;
    if (this.#trailer !== undefined) throw this.#fault('there are lines after the trailer', 'the file ends with the trailer line');
    const value = this.#parse(text);
    const header = this.#header;
    if (header === undefined) {
      const parsed = snapshotHeaderSchema.safeParse(value);
      if (!parsed.success) throw this.#fault(`the header is invalid: ${parsed.error.issues[0]?.message ?? ''} at ${parsed.error.issues[0]?.path.join('.') ?? ''}`);
      this.#header = parsed.data;
    } else if (this.#parts.length < header.modules.length) {
      const parsed = moduleLineSchema.safeParse(value);
      const expected = header.modules[this.#parts.length]!;
      if (!parsed.success || parsed.data.module !== expected[0]) throw this.#fault('a module line is invalid or out of order', `{"module":"${expected[0]}","state":…}`);
      this.#parts.push({ module: expected[0], version: expected[1], state: parsed.data.state as JsonValue });
    } else if (this.#entries.length < header.entries) {
      if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string') throw this.#fault('an entry line is not ["key", value]');
      const key = value[0];
      if (this.#lastKey !== undefined && !(this.#lastKey < key)) throw this.#fault(`entry keys are not strictly ascending (${JSON.stringify(key)} after ${JSON.stringify(this.#lastKey)})`);
      if (!this.#prefixes.some((p) => key.startsWith(p))) throw this.#fault(`entry key ${JSON.stringify(key)} belongs to no registered module`);
      this.#lastKey = key;
      this.#entries.push([key, value[1] as JsonValue]);
      // The line is canonical (checked above), so it is `[<key JSON>,<value JCS>]` exactly.
      const valueText = text.slice(JSON.stringify(key).length + 2, -1);
      this.#valueHashes.push(sha256Utf8(valueText));
    } else {
      const parsed = trailerSchema.safeParse(value);
      if (!parsed.success) throw this.#fault('expected the trailer {"lines":…,"sha256":…} after the last entry');
      this.#trailer = parsed.data;
      const lines = this.#lineNo - 1;
      const digest = this.#hash.digest('hex');
      if (parsed.data.lines !== lines) throw this.#fault('the trailer line count does not match', String(lines), String(parsed.data.lines));
      if (parsed.data.sha256 !== digest) throw this.#fault('the trailer hash does not match the bytes before it', digest, parsed.data.sha256);
      return;
    }
    this.#hash.update(text + '\n');
  }

  /** Ends the file; the trailer must have been the last line. */
  finish(tailBytes = 0): ParsedSnapshot {
    if (tailBytes > 0) throw this.#fault('the file does not end with a newline (truncated or altered)');
    if (this.#header === undefined || this.#trailer === undefined) throw this.#fault('the file is truncated: no trailer line');
    return { header: this.#header, parts: this.#parts, entries: this.#entries, valueHashes: this.#valueHashes };
  }

  #parse(text: string): unknown {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw this.#fault('the line is not JSON');
    }
    let canonical: string;
    try {
      canonical = canonicalize(value);
    } catch {
      throw this.#fault('the line cannot be canonical JSON');
    }
    if (canonical !== text) throw this.#fault('the line is not in RFC 8785 canonical form');
    return value;
  }

  #fault(message: string, expected?: string, found?: string): SteleError {
    return snapshotFault(this.#file, message, this.#lineNo, expected, found);
  }
}

/** A snapshot that cannot be used; it names the file and how to get going again. */
export function snapshotFault(file: string, message: string, line?: number, expected?: string, found?: string): SteleError {
  return steleError('STELE_E_SNAPSHOT_INVALID', `snapshot ${file}: ${message}`, {
    where: line === undefined ? { file } : { file, line },
    ...(expected === undefined ? {} : { expected }),
    ...(found === undefined ? {} : { found }),
    fix: `snapshots are only speed-ups: move ${file} out of snapshots/ (or start with --no-snapshot) and replay from the log`,
  });
}

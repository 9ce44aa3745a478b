/**
 * Operating errors of stele: one class, stable codes, the place, and the fix.
 *
 * Invariants:
 * - A code is API. It is never renamed and never reused for another meaning.
 * - Every error says what went wrong (`message`), where (`where`: file, line, seq, byte
 *   offset) and what to do about it (`fix`). Expected vs found are carried separately so
 *   tools can compare them without parsing prose.
 * - HTTP statuses and process exit codes are mapped at the edges (CLI, service), never here.
 *   `kind` is the coarse class those edges map from.
 *
 * Programmer errors (a broken invariant inside stele) are not SteleErrors: they are
 * `assert` failures and crash, as TigerBeetle's style asks.
 */

/** Every stable error code, with the coarse kind the edges map to exit codes / statuses. */
export const errorCodes = {
  // Input and usage: exit 2, HTTP 400/413.
  STELE_E_USAGE: 'input',
  STELE_E_JSON_INVALID: 'input',
  STELE_E_JSON_DUPLICATE_KEY: 'input',
  STELE_E_JSON_LONE_SURROGATE: 'input',
  STELE_E_JSON_NUMBER: 'input',
  STELE_E_JSON_TOO_DEEP: 'limit',
  STELE_E_JSON_UNSUPPORTED: 'input',
  STELE_E_SCHEMA: 'input',
  STELE_E_UNKNOWN_TYPE: 'input',
  STELE_E_RESERVED_TYPE: 'input',
  STELE_E_LINE_TOO_LARGE: 'limit',
  STELE_E_BATCH_TOO_LARGE: 'limit',
  STELE_E_INPUT_TOO_LARGE: 'limit',
  STELE_E_PROOF_FORMAT: 'input',
  STELE_E_SIZE_OUT_OF_RANGE: 'input',
  STELE_E_UNKNOWN_COMMAND: 'input',
  STELE_E_NOT_FOUND: 'input',
  STELE_E_NOT_DIRECT: 'input',
  /** A key file (stele keygen) or public key that cannot be read or parsed (issue #5). */
  STELE_E_KEY_INVALID: 'input',
  // HTTP edge (issue #4).
  /** No bearer token, or a malformed Authorization header, on a writing route: HTTP 401. */
  STELE_E_UNAUTHORIZED: 'auth',
  /** A bearer token that is not the service's: HTTP 403. */
  STELE_E_FORBIDDEN: 'auth',
  /** A method the route does not allow (every non-GET/HEAD on an observer): HTTP 405. */
  STELE_E_METHOD_NOT_ALLOWED: 'input',
  /** A request body or header over its named limit: HTTP 413 (431 for headers). */
  STELE_E_BODY_TOO_LARGE: 'limit',
  /** A request content type the route does not take: HTTP 415. */
  STELE_E_MEDIA_TYPE: 'input',
  // Conflicts: exit 2, HTTP 409.
  STELE_E_CONFLICT: 'conflict',
  /** A command refused by its module's guard; `detail.reason` is the module's reason code. */
  STELE_E_REJECTED: 'conflict',
  /** An idempotency key already used with a different request. */
  STELE_E_IDEMPOTENCY_MISMATCH: 'conflict',
  // Verification faults: exit 1.
  STELE_E_NOT_CANONICAL: 'integrity',
  STELE_E_EVENT_INVALID: 'integrity',
  STELE_E_SEQ_GAP: 'integrity',
  STELE_E_CHAIN_BROKEN: 'integrity',
  STELE_E_TS_DECREASED: 'integrity',
  STELE_E_LINE_UNREADABLE: 'integrity',
  STELE_E_PROOF_INVALID: 'integrity',
  STELE_E_TREE_MISMATCH: 'integrity',
  STELE_E_CHECKPOINT_MISMATCH: 'integrity',
  STELE_E_INVARIANT: 'integrity',
  STELE_E_SNAPSHOT_INVALID: 'integrity',
  STELE_E_BUNDLE_CORRUPT: 'integrity',
  /** A checkpoint signature (DESIGN.md §4) that does not verify under its key, or a sig without keyId (issue #5). */
  STELE_E_SIGNATURE_INVALID: 'integrity',
  /** A monitor found the log's history rewritten or forked: the new checkpoint is not consistent with the one it remembers. */
  STELE_E_HISTORY_REWRITTEN: 'integrity',
  /** A monitor found the log smaller than a checkpoint it had verified. */
  STELE_E_TRUNCATED: 'integrity',
  /** `stele forensic`: what the log re-derives differs from a checkpoint, snapshot or bundle on disk. */
  STELE_E_DIVERGENCE: 'integrity',
  /** An observer saw the log shrink, be replaced, or change bytes it had already read; or a backup/restore saw it under its copy (src/backup). */
  STELE_E_INTEGRITY_ALARM: 'integrity',
  // The writer refuses to write: exit 3, HTTP 503.
  STELE_E_PANIC: 'unavailable',
  STELE_E_LOCKED: 'unavailable',
  STELE_E_DATA_DIR_MISSING: 'unavailable',
  STELE_E_DATA_DIR_NOT_INITIALIZED: 'unavailable',
  STELE_E_DATA_DIR_UNWRITABLE: 'unavailable',
  STELE_E_DATA_DIR_NOT_EMPTY: 'unavailable',
  STELE_E_DISK_FULL: 'unavailable',
  STELE_E_IO: 'unavailable',
  STELE_E_CLOSED: 'unavailable',
  /** Too many stream clients, or a stream client too slow to keep up (dropped). */
  STELE_E_BUSY: 'unavailable',
  /** A bug inside stele met while serving a request (HTTP 500); the process logs it with its stack. */
  STELE_E_INTERNAL: 'unavailable',
} as const;

export type ErrorCode = keyof typeof errorCodes;
export type ErrorKind = (typeof errorCodes)[ErrorCode];

/** Where a fault is. Lines are 1-based (as editors and `sed -n Np` count), offsets 0-based bytes. */
export interface ErrorWhere {
  file?: string;
  line?: number;
  seq?: number;
  offset?: number;
  /** For input errors: the 1-based line of the caller's input (stdin NDJSON, request body). */
  inputLine?: number;
  /** JSON path inside a value, e.g. `data.key`. */
  path?: string;
}

export interface SteleErrorInit {
  where?: ErrorWhere;
  fix?: string;
  expected?: string;
  found?: string;
  cause?: unknown;
  /** Extra machine-readable detail (e.g. zod issues, the lock holder's pid). */
  detail?: Record<string, unknown>;
}

/** The JSON shape of an error, as the CLI's `--json` and the HTTP API print it. */
export interface SteleErrorJson {
  code: ErrorCode;
  message: string;
  where?: ErrorWhere;
  fix?: string;
  expected?: string;
  found?: string;
  detail?: Record<string, unknown>;
}

export class SteleError extends Error {
  override readonly name = 'SteleError';
  readonly code: ErrorCode;
  readonly where: ErrorWhere;
  readonly fix: string | undefined;
  readonly expected: string | undefined;
  readonly found: string | undefined;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, init: SteleErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.where = init.where ?? {};
    this.fix = init.fix;
    this.expected = init.expected;
    this.found = init.found;
    this.detail = init.detail;
  }

  get kind(): ErrorKind {
    return errorCodes[this.code];
  }

  /** A copy of this error with more location filled in (fields already set win). */
  at(where: ErrorWhere): SteleError {
    const copy = new SteleError(this.code, this.message, {
      where: { ...where, ...this.where },
      fix: this.fix,
      expected: this.expected,
      found: this.found,
      detail: this.detail,
      cause: this.cause,
    });
    return copy;
  }

  toJSON(): SteleErrorJson {
    const out: SteleErrorJson = { code: this.code, message: this.message };
    if (Object.keys(this.where).length > 0) out.where = this.where;
    if (this.fix !== undefined) out.fix = this.fix;
    if (this.expected !== undefined) out.expected = this.expected;
    if (this.found !== undefined) out.found = this.found;
    if (this.detail !== undefined) out.detail = this.detail;
    return out;
  }
}

export function isSteleError(e: unknown): e is SteleError {
  return e instanceof SteleError;
}

/** Shorthand constructor, so call sites read `throw steleError('STELE_E_…', '…', {…})`. */
export function steleError(code: ErrorCode, message: string, init?: SteleErrorInit): SteleError {
  return new SteleError(code, message, init);
}

/** Formats the place of an error for people: `events.ndjson line 12 (seq 11, byte 3051)`. */
export function formatWhere(where: ErrorWhere): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.file);
  if (where.line !== undefined) parts.push(`line ${where.line}`);
  if (where.inputLine !== undefined) parts.push(`input line ${where.inputLine}`);
  const paren: string[] = [];
  if (where.seq !== undefined) paren.push(`seq ${where.seq}`);
  if (where.offset !== undefined) paren.push(`byte ${where.offset}`);
  if (where.path !== undefined) paren.push(`at ${where.path}`);
  let out = parts.join(' ');
  if (paren.length > 0) out += `${out.length > 0 ? ' ' : ''}(${paren.join(', ')})`;
  return out;
}

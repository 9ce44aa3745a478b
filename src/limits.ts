/**
 * Every limit of stele, in one place, named quantity-unit-Max with the reason for its value.
 * Limits are checked at the edge (before parsing, before writing) and exceeding one is a
 * typed error that writes nothing. Related limits are asserted against each other at load,
 * so a bad edit fails at startup instead of in production.
 */

/**
 * The load-time checks below. Not node:assert: this file is imported by the canonical JSON
 * codec, which the browser loads to verify proof bundles (src/proof/bundle.ts), and a
 * browser has no `node:` modules.
 */
const assert = {
  ok(condition: boolean, message: string): void {
    if (!condition) throw new Error(`stele bug in src/limits.ts: ${message}`);
  },
};

export const limits = {
  /** One event line, without its `\n`. Large enough for a bundle descriptor with generous
   * metadata, small enough that a line is always one cheap read and one cheap hash. */
  lineBytesMax: 64 * 1024,
  /** Events coalesced into one write + fdatasync. Bounds the memory of one group commit and
   * the latency a late joiner of a batch can add to the others. */
  batchEventsMax: 4096,
  /** Bytes of one group-commit write. A batch is cut when either limit is reached. */
  batchBytesMax: 8 * 1024 * 1024,
  /** Nesting depth of any JSON value (objects + arrays). Deep nesting is an attack on
   * recursive parsers and canonicalizers, never a real payload. */
  jsonDepthMax: 64,
  /** Length of a kv key in UTF-8 bytes (issue #2, kv.put@1 / kv.delete@1). */
  kvKeyBytesMax: 512,
  /** Length of an event type name, `module.name`. */
  typeNameBytesMax: 128,
  /** Highest schema version number of a type. */
  versionMax: 1_000_000,
  /** Events of one `stele append --stdin` batch: all are written together or none is. */
  stdinEventsMax: 100_000,
  /** Bytes of one input document read by the CLI (a JSON argument, a proof file). */
  inputBytesMax: 16 * 1024 * 1024,
  /** Hashes in a proof: a log of 2^64 events needs at most 2*64 consistency hashes. */
  proofHashesMax: 128,

  // Modules (issue #3).
  /** Length of a ledger account id, transfer id or audit tx id, in UTF-8 bytes. Ids are
   * names, not documents; 128 bytes holds a UUID, a ULID or a path-like name with room. */
  idBytesMax: 128,
  /** Length of a transfer memo in UTF-8 bytes: a reference, not a document. */
  memoBytesMax: 512,
  /** Transfers in one `ledger.batch`: the whole batch is one event, so it must fit one line
   * (100 transfers with maximal ids ≈ 46 KiB; with long memos the line limit decides). */
  ledgerBatchTransfersMax: 100,
  /** UTF-8 bytes of an attack snippet kept in a blocked-attack record; longer snippets are
   * truncated (attack payloads can be arbitrarily large, the record must fit a line). */
  attackSnippetBytesMax: 1024,
  /** Distinct names tracked per audit statistic (metrics, attack types, layers, statuses,
   * rejection reasons): bounds the memory of the views; further names count as `other`. */
  auditDistinctNamesMax: 1000,
  /** Tags of one telemetry sample, and per-layer results of one execution record. */
  auditTagsMax: 32,
  /** Bytes of one vault bundle. Bundles are read into memory to hash and serve them. */
  bundleBytesMax: 64 * 1024 * 1024,
  /** One line of a snapshot file: a module's private state is one line (the audit
   * statistics with auditDistinctNamesMax names per map are the largest, well under this). */
  snapshotLineBytesMax: 16 * 1024 * 1024,
  /** Largest `checkpointEvery` / `snapshotEvery`: beyond it a checkpoint would be so rare
   * that a divergence could hide among a hundred million events. */
  everyEventsMax: 100_000_000,
  /** Length of a bundle's media type (RFC 6838 allows 127 + '/' + 127). */
  mediaTypeBytesMax: 255,

  // Service and observer (issue #4).
  /** Body of one HTTP request but a bundle upload: a full NDJSON batch of stdinEventsMax
   * small commands fits; anything bigger is a bulk import, not a request. */
  requestBodyBytesMax: 32 * 1024 * 1024,
  /** Commands of one NDJSON request body (same bound as a CLI stdin batch). */
  requestCommandsMax: 100_000,
  /** Total bytes of a request's headers (Node's default is 16 KiB; a bearer token and an
   * idempotency key need far less). */
  requestHeaderBytesMax: 16 * 1024,
  /** An idempotency key, in bytes of printable ASCII: holds a UUID or ULID with room. */
  idempotencyKeyBytesMax: 128,
  /** Events in one page of `GET /v1/events` and items in one page of an account history. */
  pageItemsMax: 1000,
  /** Lines one `GET /v1/events` request may read to fill a filtered page before it
   * returns a cursor instead (a rare type in a large log must not pin a core). */
  eventsScanMax: 200_000,
  /** Minutes of per-type event counts kept in memory for the time series (7 days). */
  seriesMinutesMax: 7 * 24 * 60,
  /** Concurrent Server-Sent Events clients of one process. */
  sseClientsMax: 1000,
  /** Unsent bytes a stream client may have queued before it is dropped (it resumes with
   * Last-Event-ID): bounds memory per slow client; at least one full group-commit batch, so
   * a healthy client is not dropped by one large batch. */
  sseClientBufferBytesMax: 16 * 1024 * 1024,
  /** Events sent to a resuming stream client from the log before it catches up; a client
   * further behind reconnects again from where it got (each resume is bounded). */
  sseResumeEventsMax: 100_000,
  /** Time-travel reads (`?at=`) derived at once by one service; more get 503 STELE_E_BUSY (issue #5). */
  timeTravelConcurrencyMax: 1,
  /** Time-travel answers a service keeps (the log below a position never changes). */
  timeTravelCacheEntries: 16,

  // Signed checkpoints (issue #5).
  /** Public keys a replay checks checkpoint signatures against (the data directory's keyring
   * plus pinned ones): one per key rotation; hundreds would be a misconfiguration, and each is
   * a file read and a SHA-256 at every startup. */
  keyringKeysMax: 256,
  /** Distinct keyIds a replay lists in its checkpoint summary (unknown keys, keys not pinned):
   * enough to name a rotation's keys; beyond it they are counted, not listed, so a log signed
   * by a key per checkpoint cannot grow the summary. */
  keyIdsListedMax: 16,

  // Forensic audit (issue #5).
  /** Findings a forensic report lists (the earliest by log position); the rest are counted.
   * A reducer change can make every later checkpoint and snapshot differ: the first few
   * name the cause, thousands more would only bury it. */
  forensicFindingsMax: 1000,
  /** Characters of a recorded or derived value shown in a finding (canonical JSON, cut with
   * `…`): an entry value or a module state can be megabytes; the path of the first
   * difference inside it is always given in full. */
  forensicValueCharsMax: 2048,

  // Monitor (issue #5).
  /** Bytes of one HTTP answer `stele monitor` reads (a checkpoint with its line, an event with
   * its proof): a line is at most lineBytesMax, sent twice and JSON-escaped, and a proof at
   * most proofHashesMax hashes; anything larger is not a stele answer and is not buffered. */
  monitorResponseBytesMax: 1024 * 1024,
  /** Bytes of the monitor's state file: a checkpoint, a head and a learned key take under
   * 2 KiB; checked before parsing. */
  monitorStateBytesMax: 64 * 1024,
  /** Longest `stele monitor --interval`, in seconds (a day): polling less often leaves a
   * rewrite unnoticed for longer than an alarm is useful. */
  monitorIntervalSecondsMax: 86_400,

  // Proof bundles (issue #5).
  /** Bytes of one proof bundle file (`stele prove`, checked before parsing, also in the
   * browser): an event line escaped as a JSON string is at most 2 × lineBytesMax and the
   * proofs are a few KiB; a state bundle carries the entry's value, which the built-in
   * modules keep under a line but an application's reducer may grow, so 4 MiB (a parse of
   * tens of milliseconds in a browser). */
  proofBundleBytesMax: 4 * 1024 * 1024,
  /** Ed25519 verdicts a bundle verifier remembers, per (checkpoint commitment, signature,
   * key): a batch of bundles against one checkpoint costs one verification. Each entry is
   * about 0.5 KiB, so the cache stays under 2 MiB; when full it is emptied and refilled. */
  signatureCacheEntriesMax: 4096,
} as const;

export type Limits = typeof limits;

assert.ok(limits.lineBytesMax <= limits.batchBytesMax, 'a single maximal line must fit in one batch');
assert.ok(limits.kvKeyBytesMax < limits.lineBytesMax, 'a maximal kv key must fit in a line');
assert.ok(limits.typeNameBytesMax < limits.lineBytesMax, 'a maximal type name must fit in a line');
assert.ok(limits.batchEventsMax >= 256, 'group commit must be able to coalesce 256 appenders');
assert.ok(limits.ledgerBatchTransfersMax * (3 * limits.idBytesMax + 2 * 40) <= limits.lineBytesMax, 'a maximal ledger batch without memos must fit in a line');
assert.ok(limits.requestBodyBytesMax >= limits.lineBytesMax * 2, 'a request must hold at least two maximal lines');
assert.ok(limits.requestCommandsMax <= limits.stdinEventsMax, 'an NDJSON request is never larger than a CLI batch');
assert.ok(limits.sseClientBufferBytesMax >= limits.batchBytesMax, 'a stream client must be able to queue one full batch');
assert.ok(limits.attackSnippetBytesMax * 4 < limits.lineBytesMax, 'an attack record with a maximal snippet must fit in a line');
assert.ok(limits.proofBundleBytesMax >= 4 * limits.lineBytesMax, 'a bundle must hold a maximal event line escaped as a JSON string, with its proofs');
assert.ok(limits.monitorResponseBytesMax >= 8 * limits.lineBytesMax, 'a monitor must read an event answer: a maximal line twice, JSON-escaped, with its proof');

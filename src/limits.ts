/**
 * Every limit of stele, in one place, named quantity-unit-Max with the reason for its value.
 * Limits are checked at the edge (before parsing, before writing) and exceeding one is a
 * typed error that writes nothing. Related limits are asserted against each other at load,
 * so a bad edit fails at startup instead of in production.
 */
import assert from 'node:assert/strict';

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
} as const;

export type Limits = typeof limits;

assert.ok(limits.lineBytesMax <= limits.batchBytesMax, 'a single maximal line must fit in one batch');
assert.ok(limits.kvKeyBytesMax < limits.lineBytesMax, 'a maximal kv key must fit in a line');
assert.ok(limits.typeNameBytesMax < limits.lineBytesMax, 'a maximal type name must fit in a line');
assert.ok(limits.batchEventsMax >= 256, 'group commit must be able to coalesce 256 appenders');

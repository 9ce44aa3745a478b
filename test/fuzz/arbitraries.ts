/**
 * Shared configuration and arbitraries of the hostile-input fuzz tests (issue #6, item 3).
 *
 * Reproducible: every property runs with `fuzzSeed` (default below, or `STELE_FUZZ_SEED`),
 * and fast-check prints the seed and the counterexample's path on failure; the describe
 * titles carry the seed too. Case counts are named constants, larger under `STELE_SOAK=1`.
 *
 * The arbitraries come in two families:
 * - *clearly invalid* inputs: each one carries a fault that no layer may accept (malformed
 *   JSON, a number beyond doubles, a duplicate key, nesting past `jsonDepthMax`, invalid
 *   UTF-8, a schema violation, an unknown command), wrapped in otherwise hostile structure
 *   (`__proto__` keys, huge strings). Properties over them assert that nothing is written;
 * - *arbitrary* inputs, which may well be valid: properties over them assert only a typed
 *   answer and a log that still verifies.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { errorCodes } from '../../src/errors.js';
import { limits } from '../../src/limits.js';

/** The default seed of every fuzz property; override with STELE_FUZZ_SEED=<n>. */
export const fuzzSeedDefault = 20_261_206;
export const fuzzSeed = Number(process.env['STELE_FUZZ_SEED'] ?? fuzzSeedDefault);
export const soak = process.env['STELE_SOAK'] === '1';
/** Per-test timeout: the default, or 15 minutes for the soak's case counts. */
export const fuzzTimeoutMs = soak ? 900_000 : 60_000;

/** fast-check parameters: the seed, `runs` cases (`soakRuns` under STELE_SOAK=1), and the seed on failure. */
export function fuzzParams(runs: number, soakRuns: number): fc.Parameters<unknown> {
  return { seed: fuzzSeed, numRuns: Math.max(1, Math.floor(soak ? soakRuns : runs)), endOnFailure: true };
}

/** Whether `code` is one of stele's stable error codes. */
export function isErrorCode(code: unknown): boolean {
  return typeof code === 'string' && Object.hasOwn(errorCodes, code);
}

/** heapUsed after a full garbage collection (V8's gc exposed for the call): what is still reachable. */
export function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  return process.memoryUsage().heapUsed;
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** Percent-encodes every UTF-8 byte of `text` that is not unreserved (lone surrogates as U+FFFD, unlike encodeURIComponent, which throws). */
export function pct(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

// ---------------------------------------------------------------------------------------
// Hostile building blocks.

/** Keys that reach JavaScript's prototype machinery when code uses plain objects as maps. */
export const protoKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'] as const;

/** A JSON object text with a prototype key holding a "pollution" payload. */
export const protoObjectText = fc.constantFrom(...protoKeys).map((k) => `{${JSON.stringify(k)}:{"polluted":"yes","isAdmin":true}}`);

/** Path traversal and escape attempts, as raw strings (URL-encode them to put them in a path). */
export const traversal = fc.constantFrom(
  '../',
  '../../etc/passwd',
  '..\\..\\windows',
  '%2e%2e/',
  '%2e%2e%2f',
  '..%2f..%2f',
  '%252e%252e%252f',
  '/etc/passwd',
  '/',
  '\\',
  '\u0000',
  'ab\u0000cd',
  '..',
  '.',
  'ab/../..',
  'C:\\Windows',
  '//server/share',
  'vault/ab/../../events.ndjson',
  '....//',
  '\u2025/',
  '.%00.',
);

/** Strings chosen to break parsers and printers: controls, surrogates, RTL, huge. */
export const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  traversal,
  fc.constantFrom('', ' ', '\t', '\r\n', '\u0000', '\u001b[2J', '\ud800', '\udfff', '\u202e', '\ufeff', 'NaN', 'Infinity', '-0', 'null', 'true', '0x10', '1e400'),
  fc.constantFrom(...protoKeys),
);

/** Number tokens as JSON text: the ones the strict parser must refuse and legal but odd ones. */
export const badNumberToken = fc.constantFrom('1e400', '-1e400', 'NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '5.', '0x10', '1_000', '1e', '--1', '١');

/** Nesting deeper than any layer allows. */
export const tooDeepText = fc.integer({ min: limits.jsonDepthMax + 1, max: limits.jsonDepthMax * 4 }).chain((d) =>
  fc.constantFrom(`${'['.repeat(d)}${']'.repeat(d)}`, `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`, `${'[{"x":'.repeat(Math.ceil(d / 2))}0${'}]'.repeat(Math.ceil(d / 2))}`),
);

/** Byte sequences that are not UTF-8. */
export const invalidUtf8 = fc.constantFrom(
  Buffer.from([0xff]),
  Buffer.from([0xc0, 0xaf]), // overlong '/'
  Buffer.from([0xe0, 0x80, 0xaf]), // overlong '/'
  Buffer.from([0xed, 0xa0, 0x80]), // encoded surrogate
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
  Buffer.from([0x80]),
  Buffer.from([0xc3]), // truncated
  Buffer.from([0xfe, 0xfe]),
);

// ---------------------------------------------------------------------------------------
// Commands.

/** Valid commands (their data), each of which would write an event. */
export const validCommandTexts = [
  '{"cmd":"kv.put","data":{"key":"fz","value":{"n":1}}}',
  '{"cmd":"ledger.open","data":{"account":"fz"}}',
  '{"cmd":"ledger.deposit","data":{"id":"fz-d","account":"fz","amount":"5"}}',
  '{"cmd":"kv.delete","data":{"key":"fz"}}',
];

/**
 * A JSON-level fault spliced into a command text: every result must fail the strict parser
 * (and so can never reach a decider), whatever else it holds.
 */
export const jsonFaultBody: fc.Arbitrary<Buffer> = fc.oneof(
  // Truncation of a valid command (never the whole of it).
  fc.tuple(fc.constantFrom(...validCommandTexts), fc.nat()).map(([t, n]) => utf8(t.slice(0, n % t.length))),
  // A bad number token as a value.
  badNumberToken.map((tok) => utf8(`{"cmd":"kv.put","data":{"key":"fz","value":${tok}}}`)),
  badNumberToken.map((tok) => utf8(`{"cmd":"kv.put","data":{"key":"fz","value":1},"expectedSeq":${tok}}`)),
  // Duplicate keys at the top and nested, with prototype keys among them.
  fc.constantFrom('cmd', 'data', '__proto__', 'key', 'constructor').map((k) =>
    utf8(k === 'key' ? '{"cmd":"kv.put","data":{"key":"a","key":"b","value":1}}' : `{${JSON.stringify(k)}:1,"cmd":"kv.put","data":{"key":"fz","value":1},${JSON.stringify(k)}:2}`),
  ),
  fc.constant(utf8('{"cmd":"kv.put","data":{"key":"fz","value":{"__proto__":{"polluted":1},"__proto__":{"polluted":2}}}}')),
  // Lone surrogates, escaped and raw (raw ones come out of Buffer.from as U+FFFD, so escape).
  fc.constantFrom('\\ud800', '\\udfff', '\\ud800\\u0041', 'a\\udc00b').map((s) => utf8(`{"cmd":"kv.put","data":{"key":"${s}","value":1}}`)),
  // Too deep, in the value and as the whole body.
  tooDeepText.map((d) => utf8(`{"cmd":"kv.put","data":{"key":"fz","value":${d}}}`)),
  tooDeepText.map(utf8),
  // Invalid UTF-8 bytes inside a string or between tokens; a BOM.
  fc.tuple(invalidUtf8, fc.boolean()).map(([bad, inString]) =>
    inString ? Buffer.concat([utf8('{"cmd":"kv.put","data":{"key":"f'), bad, utf8('z","value":1}}')]) : Buffer.concat([utf8('{"cmd":"kv.put",'), bad, utf8('"data":{"key":"fz","value":1}}')]),
  ),
  fc.constantFrom(...validCommandTexts).map((t) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(t)])),
  // Trailing garbage, two documents, comments, single quotes, unescaped controls.
  fc.constantFrom(...validCommandTexts).chain((t) => fc.constantFrom(`${t}x`, `${t}${t}`, `${t} // c`, `/*c*/${t}`, t.replaceAll('"', "'"), t.replace('fz', 'f\u0001z'), t.replace('fz', 'f\nz'))).map(utf8),
  // Empty and whitespace bodies, bare tokens.
  fc.constantFrom('', ' ', '\n', 'nul', 'tru', '{', '[', '"', '{"cmd"}', '{"cmd":}', '{,}', '[,]', '{"a":1,}').map(utf8),
);

/** A string of `n` bytes beyond a limit, of a kind that can hide (multi-byte UTF-8). */
const overLimit = (limit: number): fc.Arbitrary<string> =>
  fc.constantFrom('x', 'é', '€', '😀').chain((c) => fc.integer({ min: 1, max: 64 }).map((extra) => c.repeat(Math.ceil((limit + extra) / Buffer.byteLength(c)))));

/**
 * Well-formed JSON commands that no layer may accept: a schema violation, an unknown command,
 * a bad expectedSeq, an over-long field, wrapped in prototype keys where the schema is strict.
 */
export const schemaFaultCommand: fc.Arbitrary<unknown> = fc.oneof(
  // cmd of the wrong type, or a name that is a prototype key, or unknown.
  fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}), fc.constantFrom(...protoKeys), fc.constantFrom('kv', 'kv.', '.put', 'KV.PUT', 'kv.put ', ' kv.put', 'kv.put\u0000', 'kv.frob', 'ledger.__proto__', 'kv.constructor', 'audit.command_rejected', 'stele.checkpoint'), nastyString)
    .map((cmd) => ({ cmd, data: { key: 'fz', value: 1 } })),
  // Extra top-level fields, prototype keys among them.
  fc.constantFrom(...protoKeys, 'extra', 'type', 'v').map((k) => JSON.parse(`{"cmd":"kv.put","data":{"key":"fz","value":1},${JSON.stringify(k)}:{"polluted":1}}`) as unknown),
  // data of the wrong type.
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.constant([])).map((data) => ({ cmd: 'kv.put', data })),
  fc.constant({ cmd: 'kv.put' }),
  // meta of the wrong type.
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.constant([1])).map((meta) => ({ cmd: 'kv.put', data: { key: 'fz', value: 1 }, meta })),
  // kv keys: empty, over kvKeyBytesMax, wrong type.
  fc.oneof(fc.constant(''), overLimit(limits.kvKeyBytesMax), fc.integer(), fc.constant(null)).map((key) => ({ cmd: 'kv.put', data: { key, value: 1 } })),
  // Strict ledger payloads: prototype keys as unknown fields, bad ids, bad amounts.
  fc.constantFrom(...protoKeys).map((k) => JSON.parse(`{"cmd":"ledger.deposit","data":{"id":"fz-d","account":"fz","amount":"5",${JSON.stringify(k)}:{"polluted":1}}}`) as unknown),
  fc.oneof(
    fc.constantFrom('', '-1', '-0', '01', '1.5', '1e3', '0x10', ' 5', '5 ', '+5', '340282366920938463463374607431768211456', '9'.repeat(60), 'NaN', 'Infinity', '١'),
    fc.constantFrom(5, 0, -0, 2 ** 53 + 1, 1e300, 2 ** 128),
    fc.constant(null),
  ).map((amount) => ({ cmd: 'ledger.deposit', data: { id: 'fz-d', account: 'fz', amount } })),
  fc.oneof(fc.constant(''), overLimit(limits.idBytesMax), fc.integer()).map((account) => ({ cmd: 'ledger.open', data: { account } })),
  fc.record({ extra: nastyString }).map((r) => ({ cmd: 'ledger.close', data: { account: 'fz', [r.extra === 'account' ? 'x' : r.extra]: 1 } })),
  // expectedSeq: negative, fractional, unsafe, of the wrong type.
  fc.constantFrom(-1, -0.5, 0.5, 2 ** 53 + 1, 2 ** 64, 1e300, -(2 ** 53), '0', null, true, [], {}).map((expectedSeq) => ({ cmd: 'kv.put', data: { key: 'fz', value: 1 }, expectedSeq })),
  // idempotencyKey in a single JSON command (it belongs in the header).
  fc.constant({ cmd: 'kv.put', data: { key: 'fz', value: 1 }, idempotencyKey: 'k-1' }),
  // A whole command that is not an object.
  fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.constant({ cmd: 'kv.put', data: { key: 'fz', value: 1 } }), { minLength: 1, maxLength: 3 })),
);

/** Values for headers that must be refused, by the check the header goes through. */
export const badIdempotencyKey = fc.oneof(
  fc.constantFrom('', ' ', 'has space', 'tab\there', 'del\u007f', 'é', 'k'.repeat(limits.idempotencyKeyBytesMax + 1)),
  fc.integer({ min: 0, max: 31 }).filter((c) => c !== 0x09).map((c) => `key${String.fromCharCode(c)}x`),
);

/** Authorization header values that are not the token. */
export const badAuthorization = fc.oneof(
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer', 'Bearer  x', 'Token abc', 'Bearer ' + 'x'.repeat(8000)),
  fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((s) => `Bearer ${s}`),
);

/** Content types POST /v1/commands must refuse (415). */
export const badCommandType = fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/x-www-form-urlencoded', 'json', '*/*', 'application/ndjson');

/** A query-string value: hostile numbers, strings and traversal. */
export const hostileQueryValue = fc.oneof(
  fc.constantFrom('-1', '-0', '1e400', '1e99', '9007199254740993', '18446744073709551616', 'NaN', 'Infinity', '0x10', '1.5', '', ' ', 'abc', 'null', '[]', '{}', '1,2', '%00', '%ff', '%', '%zz', '0'.repeat(400), '1'.repeat(400)),
  nastyString.map(pct),
  traversal,
);

export const queryNames = ['after', 'before', 'limit', 'type', 'fromSeq', 'toSeq', 'fromTs', 'toTs', 'order', 'size', 'from', 'to', 'at', 'atTime', 'minutes', 'lastEventId', '__proto__', 'constructor', 'x'] as const;

/** A whole query string of 1–4 hostile parameters (some repeated). */
export const hostileQuery = fc
  .array(fc.tuple(fc.constantFrom(...queryNames), hostileQueryValue), { minLength: 1, maxLength: 4 })
  .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`);

/** A path segment that is not a bundle hash, a seq or a sane key: traversal, encodings, junk. */
export const hostileSegment = fc.oneof(
  traversal.map(pct),
  traversal.map((t) => t.replaceAll('/', '%2F').replaceAll('.', '%2e')),
  fc.constantFrom('%00', '%ff%fe', '%c0%af', '%', '%zz', '%252e%252e', '..%2F..%2Fevents.ndjson', 'A'.repeat(64), 'a'.repeat(63), 'a'.repeat(65), 'g'.repeat(64), '-1', '1e400', '9007199254740993', 'NaN', '0x10', ' '),
  nastyString.map(pct),
  // Over the router's maxParamLength (kvKeyBytesMax × 4) and just under it.
  fc.constantFrom(limits.kvKeyBytesMax * 4 + 1, limits.kvKeyBytesMax * 4, limits.kvKeyBytesMax * 2 + 1).map((n) => 'k'.repeat(n)),
);

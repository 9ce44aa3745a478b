/**
 * The canonical JSON codec of stele: RFC 8785 (JSON Canonicalization Scheme, JCS) output and a
 * strict RFC 8259 parser. Every event line, every state value hash and every signed
 * checkpoint goes through `canonicalize`, so its output is a byte-level contract
 * (DESIGN.md §2, §3): anyone re-deriving the log with another JCS implementation must
 * produce the same bytes.
 *
 * Invariants:
 * - `canonicalize` accepts exactly the JSON data model: null, booleans, finite numbers,
 *   well-formed strings (no lone surrogates), arrays and plain objects (prototype
 *   `Object.prototype` or `null`), at most `limits.jsonDepthMax` levels deep. Anything else
 *   is a typed SteleError naming the JSON path of the offending value, never a silent
 *   coercion (JSON.stringify would drop `undefined`, turn NaN into `null`, call `toJSON`).
 * - `parseJson` accepts exactly RFC 8259 text and additionally rejects what
 *   canonicalization cannot represent faithfully: duplicate keys, lone surrogates, numbers
 *   that are not finite doubles, nesting deeper than the limit. So for every text it
 *   accepts with the default depth limit, `canonicalize(parseJson(text))` succeeds.
 * - Objects returned by `parseJson` are ordinary objects (prototype `Object.prototype`,
 *   like `JSON.parse`); a `"__proto__"` member becomes an own data property, never a
 *   prototype change, and `canonicalize` writes it back as a member.
 * - Neither function recurses deeper than the depth limit: `canonicalize` counts depth
 *   before descending, `parseJson` keeps an explicit stack and never recurses. `parseJson`
 *   is linear in its input; `canonicalize` is linear apart from sorting each object's keys.
 * - Error paths (`where.path`) are relative to the value passed in; a caller that
 *   canonicalizes `event.data` prefixes `data.` itself.
 *
 * No I/O, no clock, no Node-only API: the codec runs in the browser as well.
 */
import { isSteleError, steleError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { limits } from '../limits.js';
import { utf8ByteLength } from './utf8.js';

/** A JSON value in the I-JSON data model that RFC 8785 §3.1 requires. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object: string keys, JSON values. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Options of `parseJson` and `parseJsonBytes`. */
export interface ParseJsonOptions {
  /** Deepest nesting of objects and arrays accepted; default `limits.jsonDepthMax`. */
  depthMax?: number;
}

// ---------------------------------------------------------------------------------------
// Paths. A path is built only when an error is thrown, never on the success path.

type PathSegment = string | number;

const identifierPattern = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `data.items[3].name`; keys that are not identifiers are written `["a key"]`. */
function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (identifierPattern.test(segment)) out += out.length === 0 ? segment : `.${segment}`;
    // JSON.stringify escapes lone surrogates (ES2019), so a bad key still prints readably.
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// canonicalize (RFC 8785 §3.2)

/**
 * A fault found while serialising, with the path collected on the way out of the recursion
 * (innermost segment first). Each container level has one try/catch around its whole loop
 * and pushes the key or index it was at, so the success path does no path bookkeeping.
 */
class CanonicalFault extends Error {
  readonly segmentsReversed: PathSegment[] = [];
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** `String.prototype.isWellFormed` (ES2024, Node ≥ 20), absent from the ES2023 lib types. */
interface WellFormedCheck {
  isWellFormed(): boolean;
}

/**
 * Code units that keep a string off the fast path: those JSON.stringify escapes (`"`, `\`,
 * C0 controls) and surrogates, which need the well-formedness check (most strings have none).
 */
// eslint-disable-next-line no-control-regex -- matching the C0 controls is the point.
const slowPathChar = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Objects with more keys than this are sorted by Array.prototype.sort, fewer by insertion. */
const insertionSortKeysMax = 16;

/**
 * Keys of one object in UTF-16 code unit order (RFC 8785 §3.2.3). The relational operators
 * and `Array.prototype.sort` without a comparator both compare strings by UTF-16 code units,
 * which is exactly the order the RFC asks for (not locale, not code points).
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  const length = keys.length;
  for (let i = 1; i < length; i++) {
    if ((keys[i - 1] as string) <= (keys[i] as string)) continue;
    // Unsorted from i on. Event objects have a handful of keys, where an inline insertion
    // sort (relational operators compare by UTF-16 code units too) is cheaper than entering
    // the generic sort, which converts and compares through its default comparator.
    if (length > insertionSortKeysMax) return keys.sort();
    for (let j = i; j < length; j++) {
      const key = keys[j] as string;
      let k = j - 1;
      while (k >= 0 && (keys[k] as string) > key) {
        keys[k + 1] = keys[k] as string;
        k--;
      }
      keys[k + 1] = key;
    }
    return keys;
  }
  // Fast case: already in order (envelopes and objects parsed from canonical text are):
  // one linear pass and no sort at all.
  return keys;
}

/** RFC 8785 §3.2.2.2: strings are serialised exactly as ES JSON.stringify does. */
function serializeString(value: string): string {
  // Fast case: most strings (ids, timestamps, type names, amounts, hex hashes) need no
  // escape and hold no surrogate; quoting them by concatenation is about twice as fast as
  // JSON.stringify.
  if (!slowPathChar.test(value)) return `"${value}"`;
  // Lone surrogates cannot be encoded as UTF-8 (RFC 8785 §3.2.2.2 rejects them).
  if (!(value as unknown as WellFormedCheck).isWellFormed()) {
    throw new CanonicalFault(
      'STELE_E_JSON_LONE_SURROGATE',
      'a string contains a lone surrogate (an unpaired UTF-16 code unit in U+D800..U+DFFF)',
      'replace the unpaired surrogate, e.g. with U+FFFD, or pair it',
    );
  }
  return JSON.stringify(value);
}

/** Keys longer than this are not cached: real keys are short, and the cache must stay small. */
const keyCacheKeyLengthMax = 64;
/** Entries of the key cache; when full it is cleared, so it follows a changing workload. */
const keyCacheEntriesMax = 4096;
/** Key → its serialised form followed by `:`. */
const keyCache = new Map<string, string>();

/**
 * The serialised key and its `:`. Fast case: the same few keys recur in every event, so
 * their serialisation (check, escape, concatenation) is done once and then looked up; this
 * also saves allocating a fresh quoted string per member. Memory stays bounded by the two
 * limits above.
 */
function serializeKey(key: string): string {
  let serialized = keyCache.get(key);
  if (serialized !== undefined) return serialized;
  serialized = `${serializeString(key)}:`;
  if (key.length <= keyCacheKeyLengthMax) {
    if (keyCache.size >= keyCacheEntriesMax) keyCache.clear();
    keyCache.set(key, serialized);
  }
  return serialized;
}

function serialize(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return serializeString(value);
    case 'number':
      // RFC 8785 §3.2.2.3: ES Number::toString, which already writes -0 as "0".
      if (Number.isFinite(value)) return `${value}`;
      throw new CanonicalFault(
        'STELE_E_JSON_NUMBER',
        `${value} is not a JSON number (RFC 8785 §3.2.2.3 allows finite numbers only)`,
        'send a finite number, or a string if the value can be NaN or infinite',
      );
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (depth >= limits.jsonDepthMax) {
        throw new CanonicalFault(
          'STELE_E_JSON_TOO_DEEP',
          `the value is nested more than ${limits.jsonDepthMax} levels deep (or contains a cycle)`,
          'flatten the value; deep nesting is never a real payload',
        );
      }
      if (Array.isArray(value)) return serializeArray(value as unknown[], depth + 1);
      {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto === Object.prototype || proto === null) return serializeObject(value, depth + 1);
      }
      throw unsupported(value);
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw unsupported(value);
  }
}

function serializeArray(value: readonly unknown[], depth: number): string {
  const length = value.length;
  if (length === 0) return '[]';
  let index = 0;
  try {
    let out = `[${serialize(value[0], depth)}`;
    for (index = 1; index < length; index++) out += `,${serialize(value[index], depth)}`;
    return `${out}]`;
  } catch (err) {
    if (err instanceof CanonicalFault) err.segmentsReversed.push(index);
    throw err;
  }
}

function serializeObject(value: object, depth: number): string {
  const keys = sortedKeys(value);
  const length = keys.length;
  if (length === 0) return '{}';
  const record = value as Record<string, unknown>;
  let key = keys[0] as string;
  try {
    let out = `{${serializeKey(key)}${serialize(record[key], depth)}`;
    for (let i = 1; i < length; i++) {
      key = keys[i] as string;
      out += `,${serializeKey(key)}${serialize(record[key], depth)}`;
    }
    return `${out}}`;
  } catch (err) {
    if (err instanceof CanonicalFault) err.segmentsReversed.push(key);
    throw err;
  }
}

function unsupported(value: unknown): CanonicalFault {
  let what: string = typeof value;
  if (typeof value === 'object' && value !== null) {
    const ctor: unknown = (value as { constructor?: unknown }).constructor;
    what = typeof ctor === 'function' && ctor.name !== '' ? `a ${ctor.name} instance` : 'a non-plain object';
  } else if (value === undefined) what = 'undefined';
  return new CanonicalFault(
    'STELE_E_JSON_UNSUPPORTED',
    `${what} is not a JSON value (only null, booleans, finite numbers, strings, arrays and plain objects are)`,
    'convert the value to plain JSON first (e.g. a Date to an ISO string, a bigint to a decimal string, a Map to an object)',
  );
}

/**
 * The RFC 8785 canonical JSON text of `value` (RFC 8785 §3.2): object members sorted by the
 * UTF-16 code units of their keys (§3.2.3), no whitespace (§3.2.1), numbers in ES
 * Number::toString form with -0 written as `0` (§3.2.2.3), strings escaped exactly as ES
 * JSON.stringify does (§3.2.2.2). Objects contribute their own enumerable string-keyed
 * properties; symbol keys are ignored, as JSON.stringify ignores them.
 *
 * Throws a SteleError, with `where.path` the JSON path of the offending value (absent for
 * the root): `STELE_E_JSON_NUMBER` for NaN and ±Infinity, `STELE_E_JSON_LONE_SURROGATE` for
 * a string or key with an unpaired surrogate, `STELE_E_JSON_TOO_DEEP` beyond
 * `limits.jsonDepthMax` levels (also what a cycle produces), `STELE_E_JSON_UNSUPPORTED` for
 * undefined, functions, symbols, bigints and non-plain objects (Date, Map, Buffer, class
 * instances). Getters run once each; an exception they throw propagates unchanged.
 */
export function canonicalize(value: unknown): string {
  try {
    return serialize(value, 0);
  } catch (err) {
    if (!(err instanceof CanonicalFault)) throw err;
    const segments = err.segmentsReversed.reverse();
    const path = formatPath(segments);
    return throwCanonicalFault(err, path);
  }
}

function throwCanonicalFault(fault: CanonicalFault, path: string): never {
  const message = path === '' ? fault.message : `${fault.message}, at ${path}`;
  throw steleError(fault.code, message, path === '' ? { fix: fault.fix } : { where: { path }, fix: fault.fix });
}

// ---------------------------------------------------------------------------------------
// parseJson (RFC 8259)

// Code units the parser dispatches on.
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const UPPER_I = 0x49;
const UPPER_N = 0x4e;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** One open container on the parser's explicit stack. */
interface Frame {
  /** The array being filled, or undefined for an object frame. */
  array: JsonValue[] | undefined;
  /** The object being filled, or undefined for an array frame. */
  object: JsonObject | undefined;
  /** The key of the member being parsed (object frames); undefined while the key itself is
   * being read, so a fault inside a key points at its object, not at the previous member. */
  key: string | undefined;
  /** Offset of the key's opening quote, for duplicate-key errors. */
  keyOffset: number;
}

/** A syntax or content fault at `offset` (UTF-16 code units into the text). */
class ParseFault extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly offset: number,
    readonly path: string | undefined,
    readonly detail: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

function describeChar(text: string, offset: number): string {
  if (offset >= text.length) return 'end of input';
  const c = text.charCodeAt(offset);
  const cp = text.codePointAt(offset) as number;
  const u = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (c < 0x20 || c === 0x7f) return `control character ${u}`;
  // A lone surrogate would make the message itself ill-formed text.
  if (cp >= 0xd800 && cp <= 0xdfff) return `lone surrogate ${u}`;
  return `'${String.fromCodePoint(cp)}'`;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * The strict parser. One instance parses one text; it is a plain loop over an explicit
 * stack of open containers, so a deep document costs heap, never native stack, and the
 * depth check happens before a container is opened.
 */
class Parser {
  private i = 0;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly text: string,
    private readonly depthMax: number,
  ) {}

  parse(): JsonValue {
    const text = this.text;
    const stack = this.stack;
    this.skipWhitespace();
    let value: JsonValue;
    outer: for (;;) {
      // Parse one value starting at this.i; containers push a frame and loop back here
      // for their first element.
      const c = text.charCodeAt(this.i);
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (stack.length >= this.depthMax) {
          throw new ParseFault(
            'STELE_E_JSON_TOO_DEEP',
            `the value is nested more than ${this.depthMax} levels deep`,
            this.i,
            this.path(),
            undefined,
          );
        }
        this.i++;
        this.skipWhitespace();
        if (c === OPEN_BRACE) {
          const object: JsonObject = {};
          if (text.charCodeAt(this.i) === CLOSE_BRACE) {
            this.i++;
            value = object;
          } else {
            const frame: Frame = { array: undefined, object, key: '', keyOffset: 0 };
            stack.push(frame);
            this.parseKey(frame, "expected a string key or '}' after '{'");
            continue outer;
          }
        } else {
          const array: JsonValue[] = [];
          if (text.charCodeAt(this.i) === CLOSE_BRACKET) {
            this.i++;
            value = array;
          } else {
            stack.push({ array, object: undefined, key: '', keyOffset: 0 });
            continue outer;
          }
        }
      } else if (c === QUOTE) {
        value = this.parseString();
      } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
        value = this.parseNumber();
      } else if (c === LOWER_T) {
        value = this.parseLiteral('true', true);
      } else if (c === LOWER_F) {
        value = this.parseLiteral('false', false);
      } else if (c === LOWER_N) {
        value = this.parseLiteral('null', null);
      } else {
        throw this.syntax(this.unexpectedValueMessage(c), this.i);
      }

      // Attach the finished value to its container; close containers as long as their
      // closing bracket follows, then either start the next element or finish.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) break outer;
        this.skipWhitespace();
        const next = text.charCodeAt(this.i);
        if (top.array !== undefined) {
          top.array.push(value);
          if (next === COMMA) {
            this.i++;
            this.skipWhitespace();
            if (text.charCodeAt(this.i) === CLOSE_BRACKET) {
              throw this.syntax("trailing comma before ']' (not allowed in JSON)", this.i);
            }
            continue outer;
          }
          if (next === CLOSE_BRACKET) {
            this.i++;
            value = top.array;
            stack.pop();
            continue;
          }
          throw this.syntax(`expected ',' or ']' after array element, found ${describeChar(text, this.i)}`, this.i);
        }
        const object = top.object as JsonObject;
        defineMember(object, top.key as string, value);
        if (next === COMMA) {
          this.i++;
          this.skipWhitespace();
          if (text.charCodeAt(this.i) === CLOSE_BRACE) {
            throw this.syntax("trailing comma before '}' (not allowed in JSON)", this.i);
          }
          this.parseKey(top, "expected a string key after ','");
          continue outer;
        }
        if (next === CLOSE_BRACE) {
          this.i++;
          value = object;
          stack.pop();
          continue;
        }
        throw this.syntax(`expected ',' or '}' after object member, found ${describeChar(text, this.i)}`, this.i);
      }
    }
    this.skipWhitespace();
    if (this.i < text.length) {
      throw this.syntax(`unexpected ${describeChar(text, this.i)} after the JSON value`, this.i);
    }
    return value;
  }

  /** Parses `"key" :` into `frame`, rejecting a key the object already has. */
  private parseKey(frame: Frame, expectation: string): void {
    const text = this.text;
    if (text.charCodeAt(this.i) !== QUOTE) {
      throw this.syntax(`${expectation}, found ${describeChar(text, this.i)}`, this.i);
    }
    const keyOffset = this.i;
    frame.key = undefined;
    const key = this.parseString();
    // Own-property lookup, so keys like "constructor" or "__proto__" are not confused with
    // what Object.prototype provides. Hash lookup: linear time overall.
    if (Object.hasOwn(frame.object as JsonObject, key)) {
      frame.key = key;
      throw new ParseFault(
        'STELE_E_JSON_DUPLICATE_KEY',
        `duplicate key ${JSON.stringify(key)} in one object (RFC 8785 §3.1 requires unique keys)`,
        keyOffset,
        this.path(),
        { key },
      );
    }
    frame.key = key;
    frame.keyOffset = keyOffset;
    this.skipWhitespace();
    if (text.charCodeAt(this.i) !== COLON) {
      throw this.syntax(`expected ':' after object key, found ${describeChar(text, this.i)}`, this.i);
    }
    this.i++;
    this.skipWhitespace();
  }

  /**
   * RFC 8259 §7 string. Lone surrogates, raw or written as \u escapes, are rejected
   * (RFC 8785 §3.2.2.2 cannot encode them): a high surrogate must be followed by a low one,
   * and a low one must follow a high one, whatever mix of raw and escaped they are written in.
   */
  private parseString(): string {
    const text = this.text;
    const start = this.i;
    let i = start + 1;
    let out = '';
    let runStart = i;
    // Offset of a high surrogate that still waits for its low half, or -1.
    let pendingHigh = -1;
    for (;;) {
      if (i >= text.length) throw this.syntax('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        if (pendingHigh >= 0) throw this.loneSurrogate(pendingHigh);
        out += text.slice(runStart, i);
        this.i = i + 1;
        return out;
      }
      if (c === BACKSLASH) {
        out += text.slice(runStart, i);
        const e = text.charCodeAt(i + 1);
        let unit: number;
        switch (e) {
          case QUOTE:
            unit = 0x22;
            break;
          case BACKSLASH:
            unit = 0x5c;
            break;
          case SLASH:
            unit = 0x2f;
            break;
          case 0x62: // b
            unit = 0x08;
            break;
          case LOWER_F:
            unit = 0x0c;
            break;
          case LOWER_N:
            unit = 0x0a;
            break;
          case 0x72: // r
            unit = 0x0d;
            break;
          case LOWER_T:
            unit = 0x09;
            break;
          case 0x75: {
            // u
            unit = 0;
            for (let k = 2; k < 6; k++) {
              const h = hexValue(text.charCodeAt(i + k));
              if (h < 0) throw this.syntax('expected 4 hex digits after \\u', i);
              unit = unit * 16 + h;
            }
            break;
          }
          default:
            throw this.syntax(
              `invalid escape \\${i + 1 < text.length ? text[i + 1] : ''} (JSON allows \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`,
              i,
            );
        }
        pendingHigh = this.checkSurrogate(unit, i, pendingHigh);
        out += String.fromCharCode(unit);
        i += e === 0x75 ? 6 : 2;
        runStart = i;
        continue;
      }
      if (c < 0x20) {
        throw this.syntax(`unescaped ${describeChar(text, i)} in string (control characters must be escaped)`, i);
      }
      if (pendingHigh >= 0 || (c >= 0xd800 && c <= 0xdfff)) pendingHigh = this.checkSurrogate(c, i, pendingHigh);
      i++;
    }
  }

  /** Advances the surrogate-pairing state by one code unit at `offset`; returns the new state. */
  private checkSurrogate(unit: number, offset: number, pendingHigh: number): number {
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      if (pendingHigh < 0) throw this.loneSurrogate(offset);
      return -1;
    }
    if (pendingHigh >= 0) throw this.loneSurrogate(pendingHigh);
    return unit >= 0xd800 && unit <= 0xdbff ? offset : -1;
  }

  private loneSurrogate(offset: number): ParseFault {
    return new ParseFault(
      'STELE_E_JSON_LONE_SURROGATE',
      'a string contains a lone surrogate (an unpaired UTF-16 code unit in U+D800..U+DFFF)',
      offset,
      this.path(),
      undefined,
    );
  }

  /** RFC 8259 §6 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. */
  private parseNumber(): number {
    const text = this.text;
    const start = this.i;
    let i = start;
    if (text.charCodeAt(i) === MINUS) i++;
    const first = text.charCodeAt(i);
    if (first === ZERO) {
      i++;
      const after = text.charCodeAt(i);
      if (after >= ZERO && after <= NINE) throw this.syntax('leading zeros are not allowed in JSON numbers', start);
    } else if (first >= ZERO && first <= NINE) {
      i = this.skipDigits(i);
    } else {
      throw this.syntax(`expected a digit after '-', found ${describeChar(text, i)}`, i);
    }
    if (text.charCodeAt(i) === DOT) {
      i++;
      const digitsStart = i;
      i = this.skipDigits(i);
      if (i === digitsStart) throw this.syntax(`expected a digit after '.', found ${describeChar(text, i)}`, i);
    }
    const e = text.charCodeAt(i);
    if (e === LOWER_E || e === UPPER_E) {
      i++;
      const sign = text.charCodeAt(i);
      if (sign === PLUS || sign === MINUS) i++;
      const digitsStart = i;
      i = this.skipDigits(i);
      if (i === digitsStart) throw this.syntax(`expected a digit in the exponent, found ${describeChar(text, i)}`, i);
    }
    const literal = text.slice(start, i);
    const value = Number(literal);
    if (!Number.isFinite(value)) {
      throw new ParseFault(
        'STELE_E_JSON_NUMBER',
        `the number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} is out of the range of a double (RFC 8785 §3.2.2.3)`,
        start,
        this.path(),
        undefined,
      );
    }
    this.i = i;
    return value;
  }

  private skipDigits(from: number): number {
    const text = this.text;
    let i = from;
    for (;;) {
      const c = text.charCodeAt(i);
      // Written so that NaN (charCodeAt past the end) also stops the loop.
      if (!(c >= ZERO && c <= NINE)) return i;
      i++;
    }
  }

  private parseLiteral<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.i)) {
      throw this.syntax(`invalid literal, expected '${word}'`, this.i);
    }
    this.i += word.length;
    return value;
  }

  private unexpectedValueMessage(c: number): string {
    const found = describeChar(this.text, this.i);
    if (c === SLASH) return 'comments are not allowed in JSON';
    if (c === UPPER_N || c === UPPER_I) return `expected a value, found ${found} (NaN and Infinity are not JSON)`;
    if (c === PLUS || c === DOT) return `expected a value, found ${found} (JSON numbers start with '-' or a digit)`;
    if (c === 0x27) return "expected a value, found ''' (JSON strings use double quotes)";
    return `expected a value, found ${found}`;
  }

  /** RFC 8259 §2: whitespace is space, tab, line feed and carriage return, nothing else. */
  private skipWhitespace(): void {
    const text = this.text;
    let i = this.i;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== SPACE && c !== LINE_FEED && c !== CARRIAGE_RETURN && c !== TAB) break;
      i++;
    }
    this.i = i;
  }

  /** The JSON path of the value being parsed, from the open frames. */
  private path(): string {
    const segments: PathSegment[] = [];
    for (const frame of this.stack) {
      if (frame.array !== undefined) segments.push(frame.array.length);
      else if (frame.key !== undefined) segments.push(frame.key);
    }
    return formatPath(segments);
  }

  private syntax(message: string, offset: number): ParseFault {
    return new ParseFault('STELE_E_JSON_INVALID', message, offset, this.path(), undefined);
  }
}

/**
 * Adds a member as an own, enumerable, writable data property, as JSON.parse does
 * (CreateDataProperty). Plain assignment would be wrong for exactly one key: `__proto__`,
 * which would call the Object.prototype setter and replace the prototype.
 */
function defineMember(object: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

function faultToError(fault: ParseFault): never {
  const offset = fault.offset;
  const where: { offset: number; path?: string } = { offset };
  if (fault.path !== undefined && fault.path !== '') where.path = fault.path;
  const fixes: Record<string, string> = {
    STELE_E_JSON_INVALID: 'send RFC 8259 JSON: double-quoted strings, no comments, no trailing commas',
    STELE_E_JSON_DUPLICATE_KEY: 'keep one member per key in each object',
    STELE_E_JSON_LONE_SURROGATE: 'replace the unpaired surrogate, e.g. with U+FFFD, or pair it',
    STELE_E_JSON_NUMBER: 'send a number within the range of an IEEE-754 double, or a string',
    STELE_E_JSON_TOO_DEEP: 'flatten the value; deep nesting is never a real payload',
  };
  throw steleError(fault.code, `${fault.message} (at offset ${offset})`, {
    where,
    fix: fixes[fault.code],
    ...(fault.detail === undefined ? {} : { detail: fault.detail, found: String(fault.detail['key']) }),
  });
}

/**
 * Parses RFC 8259 JSON text strictly: exactly the grammar of RFC 8259 §2–§7 (no comments,
 * no trailing commas, no leading zeros, no NaN or Infinity, only the escapes of §7, no
 * unescaped control characters), plus the I-JSON restrictions RFC 8785 §3.1 relies on:
 * unique keys in each object (`STELE_E_JSON_DUPLICATE_KEY`, `detail.key` the key), no lone
 * surrogates raw or escaped (`STELE_E_JSON_LONE_SURROGATE`), numbers that are finite
 * doubles (`STELE_E_JSON_NUMBER`, e.g. `1e400`; `1e-400` underflows to 0 and is accepted),
 * at most `opts.depthMax` (default `limits.jsonDepthMax`) levels of nesting
 * (`STELE_E_JSON_TOO_DEEP`). Other faults are `STELE_E_JSON_INVALID`. Every error carries
 * `where.offset`, the 0-based offset in UTF-16 code units of `text`, and `where.path` when
 * inside a container.
 *
 * Objects are ordinary objects (prototype Object.prototype, as JSON.parse returns); a
 * `"__proto__"` member is an own data property, never a prototype change.
 */
export function parseJson(text: string, opts?: ParseJsonOptions): JsonValue {
  const depthMax = opts?.depthMax ?? limits.jsonDepthMax;
  try {
    return new Parser(text, depthMax).parse();
  } catch (err) {
    if (err instanceof ParseFault) faultToError(err);
    throw err;
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes `bytes` as strict UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8,
 * and a byte order mark must not be added) and parses the text with `parseJson`. Invalid
 * UTF-8 and a leading BOM are `STELE_E_JSON_INVALID`. Here `where.offset` is a byte offset
 * into `bytes` (as `ErrorWhere` documents), converted from `parseJson`'s code-unit offset.
 */
export function parseJsonBytes(bytes: Uint8Array, opts?: ParseJsonOptions): JsonValue {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw steleError('STELE_E_JSON_INVALID', 'the input starts with a byte order mark (RFC 8259 §8.1 forbids it)', {
      where: { offset: 0 },
      fix: 'remove the leading bytes EF BB BF',
    });
  }
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch (err) {
    const offset = firstInvalidUtf8(bytes);
    throw steleError('STELE_E_JSON_INVALID', `the input is not valid UTF-8 (at byte ${offset})`, {
      where: { offset },
      fix: 'encode the input as UTF-8',
      cause: err,
    });
  }
  try {
    return parseJson(text, opts);
  } catch (err) {
    if (!isSteleError(err) || err.where.offset === undefined) throw err;
    // The text is well-formed (the decoder guaranteed it), so its UTF-8 length is exact.
    const byteOffset = utf8ByteLength(text.slice(0, err.where.offset));
    throw steleError(err.code, err.message.replace(/\(at offset \d+\)$/, `(at byte ${byteOffset})`), {
      where: { ...err.where, offset: byteOffset },
      fix: err.fix,
      found: err.found,
      detail: err.detail,
    });
  }
}

/**
 * Offset of the first byte that is not part of a well-formed UTF-8 sequence (Unicode §3.9
 * Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). Only called after
 * TextDecoder rejected the input, to say where.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < lo || c > hi) return i;
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return bytes.length;
}

/**
 * True when `text` is exactly the RFC 8785 canonical form of a JSON value: it parses with
 * `parseJson` and `canonicalize` gives back the same text. False for any JSON fault
 * (SteleError); other exceptions are bugs and propagate.
 */
export function isCanonical(text: string): boolean {
  let parsed: JsonValue;
  try {
    parsed = parseJson(text);
    return canonicalize(parsed) === text;
  } catch (err) {
    if (isSteleError(err)) return false;
    throw err;
  }
}

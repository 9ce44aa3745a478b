/**
 * Property tests of src/canonical/json.ts with fast-check. Every property runs with a fixed
 * seed so a failure is reproducible; fast-check prints the seed and the counterexample's path
 * on failure. Override the seed with STELE_FC_SEED=<n> to explore further.
 *
 * The properties check the codec against independent references: an ad-hoc scanner of the
 * output (whitespace, key order with a hand-written UTF-16 comparison), JSON.parse (values),
 * and JSON.stringify (ES6 serialisation identity on already-sorted values).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize, isCanonical, parseJson } from '../../src/canonical/json.js';
import type { JsonValue } from '../../src/canonical/json.js';
import { isSteleError } from '../../src/errors.js';

const seed = Number(process.env['STELE_FC_SEED'] ?? 42);
const numRuns = 400;
const params = { seed, numRuns };

/** Keys and strings from the whole of Unicode, plus integer-like keys that JS reorders. */
const unicodeKey = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.nat(1000).map(String), fc.constant('__proto__'));

const unicodeObject: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(unicodeKey, tie('value'), { maxKeys: 6 }),
  ),
})).value;

const anyJson: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<JsonValue>,
  fc.jsonValue({ stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>,
  unicodeObject,
);

/** `value` with every -0 replaced by 0: JSON text cannot carry the sign of zero through JCS. */
function withoutNegativeZero(value: JsonValue): JsonValue {
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, { value: withoutNegativeZero(value[key] as JsonValue), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** UTF-16 code unit comparison written out, independent of the relational operators. */
function compareUtf16(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Scans JSON text as a token stream (independently of the parser under test) and returns
 * whether any whitespace lies outside strings, and the key sequence of every object.
 */
function scan(text: string): { whitespaceOutsideStrings: boolean; keyLists: string[][] } {
  let whitespaceOutsideStrings = false;
  const keyLists: string[][] = [];
  // For each open container: the key list of an object, or null for an array.
  const open: (string[] | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const token = text.slice(i, j + 1);
      const top = open[open.length - 1];
      if (expectKey && top) top.push(JSON.parse(token) as string);
      expectKey = false;
      i = j;
    } else if (c === '{') {
      const keys: string[] = [];
      keyLists.push(keys);
      open.push(keys);
      expectKey = true;
    } else if (c === '[') {
      open.push(null);
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectKey = Array.isArray(open[open.length - 1]);
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      whitespaceOutsideStrings = true;
    }
  }
  return { whitespaceOutsideStrings, keyLists };
}

/** A copy of `value` whose objects have their keys inserted in UTF-16 order, -0 made 0. */
function sortedCopy(value: JsonValue): JsonValue {
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const key of Object.keys(value).sort(compareUtf16)) {
      Object.defineProperty(out, key, { value: sortedCopy(value[key] as JsonValue), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** True when Object.keys (the order JSON.stringify uses) is UTF-16 sorted at every level. */
function enumeratesSorted(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.every(enumeratesSorted);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    for (let i = 1; i < keys.length; i++) if (compareUtf16(keys[i - 1] as string, keys[i] as string) >= 0) return false;
    return keys.every((k) => enumeratesSorted(value[k] as JsonValue));
  }
  return true;
}

describe(`canonicalize / parseJson properties (seed ${seed})`, () => {
  it('canonical text is a fixed point: canonicalize(parseJson(c)) === c', () => {
    fc.assert(
      fc.property(anyJson, (x) => {
        const c = canonicalize(x);
        expect(canonicalize(parseJson(c))).toBe(c);
        expect(isCanonical(c)).toBe(true);
      }),
      params,
    );
  });

  it('parseJson(canonicalize(x)) deep-equals x, with -0 read back as 0', () => {
    fc.assert(
      fc.property(anyJson, (x) => {
        expect(parseJson(canonicalize(x))).toEqual(withoutNegativeZero(x));
      }),
      params,
    );
  });

  it('writes no whitespace outside strings', () => {
    fc.assert(
      fc.property(anyJson, (x) => {
        expect(scan(canonicalize(x)).whitespaceOutsideStrings).toBe(false);
      }),
      params,
    );
  });

  it('writes the keys of every object in UTF-16 code unit order, each once', () => {
    fc.assert(
      fc.property(anyJson, (x) => {
        for (const keys of scan(canonicalize(x)).keyLists) {
          for (let i = 1; i < keys.length; i++) expect(compareUtf16(keys[i - 1] as string, keys[i] as string)).toBeLessThan(0);
        }
      }),
      params,
    );
  });

  it('equals JSON.stringify on values whose keys already enumerate sorted and hold no -0', () => {
    fc.assert(
      fc.property(anyJson, (x) => {
        const sorted = sortedCopy(x);
        // Integer-like keys enumerate first in numeric order whatever the insertion order,
        // so some sorted copies still do not enumerate sorted; those are not ES6-identical.
        fc.pre(enumeratesSorted(sorted));
        expect(canonicalize(sorted)).toBe(JSON.stringify(sorted));
      }),
      params,
    );
  });

  it('agrees with JSON.parse on any JSON text without duplicates, whatever its whitespace', () => {
    fc.assert(
      fc.property(anyJson, fc.constantFrom(undefined, 1, '\t', ' \r\n '), (x, indent) => {
        const text = JSON.stringify(x, null, indent);
        expect(parseJson(text)).toEqual(JSON.parse(text));
        expect(canonicalize(parseJson(text))).toBe(canonicalize(x));
      }),
      params,
    );
  });

  it('rejects a string or key with a lone surrogate, and only those, in both directions', () => {
    // Reference check, independent of the String.prototype.isWellFormed the codec uses.
    const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    const surrogateMix = fc.string({
      unit: fc.oneof(fc.constantFrom('a', 'é', '😀', '"', '\\'), fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u))),
      maxLength: 6,
    });
    fc.assert(
      fc.property(surrogateMix, fc.boolean(), (s, asKey) => {
        const value = asKey ? { [s]: 1 } : [s];
        // JSON.stringify (ES2019) writes lone surrogates as \u escapes, so the text is parseable.
        const text = JSON.stringify(value);
        if (!loneSurrogate.test(s)) {
          expect(parseJson(canonicalize(value))).toEqual(value);
          expect(parseJson(text)).toEqual(value);
        } else {
          expect(() => canonicalize(value)).toThrow(expect.objectContaining({ code: 'STELE_E_JSON_LONE_SURROGATE' }));
          expect(() => parseJson(text)).toThrow(expect.objectContaining({ code: 'STELE_E_JSON_LONE_SURROGATE' }));
        }
      }),
      params,
    );
  });

  it('accepts what JSON.parse accepts, except the documented I-JSON faults, and rejects the rest', () => {
    const jsonish = fc.string({
      unit: fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', 'u', 'd', '8', '0', '1', '9', '-', '.', 'e', '+', ' ', '\n', 'a', 'b', 't', 'r', 'n', 'l', 'f', '/', '\t', 'x'),
      maxLength: 14,
    });
    const jsonishFromValues = anyJson.map((x) => JSON.stringify(x));
    fc.assert(
      fc.property(fc.oneof(jsonish, jsonishFromValues, fc.tuple(jsonishFromValues, fc.nat(), jsonish).map(([t, at, s]) => t.slice(0, at % (t.length + 1)) + s)), (text) => {
        let reference: { ok: true; value: unknown } | { ok: false };
        try {
          reference = { ok: true, value: JSON.parse(text) };
        } catch {
          reference = { ok: false };
        }
        let result: { ok: true; value: unknown } | { ok: false; code: string };
        try {
          result = { ok: true, value: parseJson(text) };
        } catch (err) {
          if (!isSteleError(err)) throw err;
          result = { ok: false, code: err.code };
        }
        const contentFaults = ['STELE_E_JSON_DUPLICATE_KEY', 'STELE_E_JSON_LONE_SURROGATE', 'STELE_E_JSON_NUMBER', 'STELE_E_JSON_TOO_DEEP'];
        if (!reference.ok) {
          // The parser reports the first fault in reading order, which may be a content
          // fault (a lone surrogate) before the syntax error JSON.parse stopped at.
          expect(result.ok).toBe(false);
          if (!result.ok) expect(['STELE_E_JSON_INVALID', ...contentFaults]).toContain(result.code);
        } else if (result.ok) {
          expect(result.value).toEqual(reference.value);
        } else {
          expect(contentFaults).toContain(result.code);
        }
      }),
      { seed, numRuns: 2000 },
    );
  });
});

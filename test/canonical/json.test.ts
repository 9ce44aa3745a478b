/**
 * Tests of src/canonical/json.ts against the published RFC 8785 vectors (a verbatim copy in
 * test/fixtures/jcs.json, whose `source` field names where each vector comes from), and
 * every rejection path of `canonicalize`, `parseJson` and `parseJsonBytes` with its code,
 * path and offset.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalize, isCanonical, parseJson, parseJsonBytes } from '../../src/canonical/json.js';
import type { JsonObject } from '../../src/canonical/json.js';
import type { ErrorCode, SteleError } from '../../src/errors.js';
import { isSteleError } from '../../src/errors.js';
import { limits } from '../../src/limits.js';

interface JcsCase {
  name: string;
  input: string;
  expected: string;
  expected_utf8_hex: string;
  files: string[];
}
interface JcsNumber {
  bits_or_input: string;
  expected: string | null;
  comment: string;
  source: string;
}
interface JcsFixture {
  source: string;
  cases: JcsCase[];
  numbers: JcsNumber[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/jcs.json', import.meta.url), 'utf8')) as JcsFixture;

const utf8 = new TextEncoder();

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The double whose IEEE-754 binary64 big-endian encoding is `bits` (16 hex digits). */
function doubleFromBits(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

/** The SteleError `fn` throws; fails the test if it throws nothing or something else. */
function fault(fn: () => unknown): SteleError {
  try {
    fn();
  } catch (err) {
    if (isSteleError(err)) return err;
    throw err;
  }
  throw new Error('expected a SteleError, but nothing was thrown');
}

function expectFault(fn: () => unknown, code: ErrorCode, where: { path?: string | undefined; offset?: number } = {}): SteleError {
  const err = fault(fn);
  expect(err.code).toBe(code);
  if ('path' in where) expect(err.where.path).toBe(where.path);
  if (where.offset !== undefined) expect(err.where.offset).toBe(where.offset);
  return err;
}

function nestedArrays(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

function nestedArrayValue(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describe('RFC 8785 published vectors (test/fixtures/jcs.json)', () => {
  it('is the verbatim copy that names its sources', () => {
    expect(fixture.source).toContain('cyberphone/json-canonicalization');
    expect(fixture.source).toContain('RFC 8785 Appendix B');
    expect(fixture.cases.map((c) => c.name).sort()).toEqual(['arrays', 'french', 'structures', 'unicode', 'values', 'weird']);
    expect(fixture.numbers.length).toBeGreaterThanOrEqual(27);
  });

  describe.each(fixture.cases.map((c) => [c.name, c] as const))('case %s', (_name, c) => {
    it('canonicalizes to the expected text and UTF-8 bytes', () => {
      const canonical = canonicalize(parseJson(c.input));
      expect(canonical).toBe(c.expected);
      expect(hex(utf8.encode(canonical))).toBe(c.expected_utf8_hex);
    });

    it('gives the same result from the input bytes, and the output is canonical', () => {
      expect(canonicalize(parseJsonBytes(utf8.encode(c.input)))).toBe(c.expected);
      expect(isCanonical(c.expected)).toBe(true);
      expect(isCanonical(c.input)).toBe(false);
    });
  });

  describe.each(fixture.numbers.map((n) => [n.bits_or_input, n.expected, n.comment, n] as const))(
    'number %s → %s %s',
    (bits, expected) => {
      const value = doubleFromBits(bits);
      if (expected === null) {
        it('is rejected with STELE_E_JSON_NUMBER', () => {
          expectFault(() => canonicalize(value), 'STELE_E_JSON_NUMBER');
          expectFault(() => canonicalize({ n: value }), 'STELE_E_JSON_NUMBER', { path: 'n' });
        });
      } else {
        it('serialises to the expected text, which parses back to the same double', () => {
          expect(canonicalize(value)).toBe(expected);
          expect(canonicalize([value])).toBe(`[${expected}]`);
          // -0 is written "0", which parses to +0: the only double that does not round-trip.
          expect(parseJson(expected)).toBe(Object.is(value, -0) ? 0 : value);
          expect(isCanonical(expected)).toBe(true);
        });
      }
    },
  );
});

describe('canonicalize', () => {
  it('sorts keys by UTF-16 code units, not code points or locale', () => {
    // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FFFD (code point order would not).
    expect(canonicalize({ '\uFFFD': 1, '\u{1F600}': 2, e: 3, é: 4, E: 5 })).toBe('{"E":5,"e":3,"é":4,"😀":2,"�":1}');
    // Integer-like keys: JavaScript enumerates them first in numeric order; JCS sorts them as strings.
    expect(canonicalize({ b: 0, 9: 1, 10: 2, a: 3 })).toBe('{"10":2,"9":1,"a":3,"b":0}');
    const many: Record<string, number> = {};
    for (let i = 40; i > 0; i--) many[`k${i}`] = i;
    const keys = Object.keys(JSON.parse(canonicalize(many)) as object);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toHaveLength(40);
  });

  it('writes numbers in ES Number::toString form, -0 as 0', () => {
    expect(canonicalize(-0)).toBe('0');
    expect(canonicalize([-0, 0, 1e21, 1e-7, 0.1, 100, -1.5])).toBe('[0,0,1e+21,1e-7,0.1,100,-1.5]');
  });

  it('escapes strings exactly as JSON.stringify does', () => {
    const s = 'q"b\\s/\b\f\n\r\t\u0000\u001f\u007f\u2028\u2029é😀';
    expect(canonicalize(s)).toBe(JSON.stringify(s));
    expect(canonicalize(s)).toBe('"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001f\u007f\u2028\u2029é😀"');
    expect(canonicalize({ [s]: s })).toBe(`{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
  });

  it('writes literals, empty containers and no whitespace', () => {
    expect(canonicalize({ a: [true, false, null, {}, [], ''] })).toBe('{"a":[true,false,null,{},[],""]}');
  });

  it('takes own enumerable string keys only', () => {
    const value: Record<string | symbol, unknown> = { b: 1 };
    value[Symbol('s')] = 2;
    Object.defineProperty(value, 'hidden', { value: 3, enumerable: false });
    expect(canonicalize(value)).toBe('{"b":1}');
  });

  it('accepts null-prototype objects', () => {
    const value = Object.create(null) as Record<string, unknown>;
    value['z'] = 1;
    value['a'] = 2;
    expect(canonicalize(value)).toBe('{"a":2,"z":1}');
  });

  it('gives the same key the same bytes however often it recurs (key cache)', () => {
    const key = 'k\u0001"';
    for (let i = 0; i < 3; i++) expect(canonicalize({ [key]: i })).toBe(`{"k\\u0001\\"":${i}}`);
    // More distinct keys than the cache holds: the output stays correct after it is cleared.
    for (let i = 0; i < 5000; i++) expect(canonicalize({ [`key${i}`]: i })).toBe(`{"key${i}":${i}}`);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects %s with STELE_E_JSON_NUMBER and the path', (_name, n) => {
    const err = expectFault(() => canonicalize(n), 'STELE_E_JSON_NUMBER');
    expect(err.where.path).toBeUndefined();
    expectFault(() => canonicalize({ data: { items: [1, 2, 3, { name: n }] } }), 'STELE_E_JSON_NUMBER', {
      path: 'data.items[3].name',
    });
  });

  it.each([
    ['high alone', '\ud800'],
    ['low alone', '\udc00'],
    ['reversed pair', '\ude02\ud83d'],
    ['high at the end', 'ok\ud83d'],
    ['high before a non-surrogate', '\ud83dA'],
  ])('rejects a lone surrogate (%s) in values and keys', (_name, s) => {
    expectFault(() => canonicalize(s), 'STELE_E_JSON_LONE_SURROGATE');
    expectFault(() => canonicalize({ a: [s] }), 'STELE_E_JSON_LONE_SURROGATE', { path: 'a[0]' });
    const err = expectFault(() => canonicalize({ a: { [s]: 1 } }), 'STELE_E_JSON_LONE_SURROGATE');
    expect(err.where.path).toBe(`a[${JSON.stringify(s)}]`);
  });

  it('accepts well-formed surrogate pairs', () => {
    expect(canonicalize({ '\ud83d\ude02': '\ud83d\ude02' })).toBe('{"😂":"😂"}');
  });

  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }

  it.each([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a Buffer', Buffer.from('ab')],
    ['a Uint8Array', new Uint8Array(2)],
    ['a RegExp', /a/],
    ['a boxed string', Object('s') as unknown],
    ['a class instance', new Point(1, 2)],
    ['an object with a non-plain prototype', { __proto__: { x: 1 } }],
  ])('rejects %s with STELE_E_JSON_UNSUPPORTED and the path', (_name, value) => {
    expectFault(() => canonicalize(value), 'STELE_E_JSON_UNSUPPORTED');
    expectFault(() => canonicalize({ data: { 'a key': [0, value] } }), 'STELE_E_JSON_UNSUPPORTED', {
      path: 'data["a key"][1]',
    });
  });

  it('rejects holes of sparse arrays and names the type in the message', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point.
    expectFault(() => canonicalize([1, , 3]), 'STELE_E_JSON_UNSUPPORTED', { path: '[1]' });
    expect(fault(() => canonicalize({ d: new Date(0) })).message).toMatch(/Date/);
  });

  it(`accepts ${limits.jsonDepthMax} levels of nesting and rejects ${limits.jsonDepthMax + 1}`, () => {
    expect(canonicalize(nestedArrayValue(limits.jsonDepthMax))).toBe(nestedArrays(limits.jsonDepthMax));
    expectFault(() => canonicalize(nestedArrayValue(limits.jsonDepthMax + 1)), 'STELE_E_JSON_TOO_DEEP');
    let deepObject: unknown = 1;
    for (let i = 0; i < limits.jsonDepthMax + 1; i++) deepObject = { a: deepObject };
    const err = expectFault(() => canonicalize(deepObject), 'STELE_E_JSON_TOO_DEEP');
    expect(err.where.path).toBe(Array(limits.jsonDepthMax).fill('a').join('.'));
  });

  it('rejects a cycle as too deep instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expectFault(() => canonicalize(cyclic), 'STELE_E_JSON_TOO_DEEP');
  });

  it('lets an exception thrown by a getter through unchanged', () => {
    const boom = new Error('boom');
    const value = {
      get a(): number {
        throw boom;
      },
    };
    expect(() => canonicalize(value)).toThrow(boom);
  });
});

describe('parseJson', () => {
  it('parses every RFC 8259 value form', () => {
    expect(parseJson(' \t\r\n{"a":[1,-0.5e+2,2E-2,0,-0,true,false,null,"x\\u00e9\\/"]} \n')).toEqual({
      a: [1, -50, 0.02, 0, -0, true, false, null, 'xé/'],
    });
    expect(parseJson('"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\uD83D\\uDE02"')).toBe('"\\/\b\f\n\r\tA😂');
    expect(parseJson('1e-400')).toBe(0);
    expect(parseJson('[]')).toEqual([]);
    expect(parseJson('{}')).toEqual({});
  });

  it('returns ordinary objects, like JSON.parse', () => {
    const value = parseJson('{"constructor":1,"toString":2,"hasOwnProperty":3}') as JsonObject;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(value).toEqual({ constructor: 1, toString: 2, hasOwnProperty: 3 });
  });

  describe('__proto__', () => {
    it('is an own data property, never a prototype change, and round-trips', () => {
      const text = '{"__proto__":{"x":1}}';
      const value = parseJson(text) as JsonObject;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.keys(value)).toEqual(['__proto__']);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(value, '__proto__')).toEqual({
        value: { x: 1 },
        writable: true,
        enumerable: true,
        configurable: true,
      });
      expect((value as { x?: unknown }).x).toBeUndefined();
      expect(({} as { x?: unknown }).x).toBeUndefined();
      expect(canonicalize(value)).toBe(text);
      expect(value).toEqual(JSON.parse(text));
    });

    it('is handled the same when nested and among other keys', () => {
      const text = '{"a":[{"__proto__":null,"b":2}],"z":{"__proto__":[]}}';
      const value = parseJson(text) as { a: JsonObject[]; z: JsonObject };
      expect(Object.getPrototypeOf(value.a[0])).toBe(Object.prototype);
      expect(Object.getPrototypeOf(value.z)).toBe(Object.prototype);
      expect(canonicalize(value)).toBe(text);
      expect(isCanonical(text)).toBe(true);
    });

    it('counts as a duplicate when repeated', () => {
      expectFault(() => parseJson('{"__proto__":1,"__proto__":2}'), 'STELE_E_JSON_DUPLICATE_KEY', { path: '__proto__', offset: 15 });
    });
  });

  describe('duplicate keys', () => {
    it('are rejected with the path, the offset and the key', () => {
      const err = expectFault(() => parseJson('{"a":1,"a":2}'), 'STELE_E_JSON_DUPLICATE_KEY', { path: 'a', offset: 7 });
      expect(err.detail).toEqual({ key: 'a' });
      expect(err.found).toBe('a');
    });

    it('are rejected when nested', () => {
      expectFault(() => parseJson('{"x":[{"b":1,"c":2,"b":3}]}'), 'STELE_E_JSON_DUPLICATE_KEY', { path: 'x[0].b', offset: 19 });
    });

    it('are rejected when one spelling uses escapes', () => {
      expectFault(() => parseJson('{"a":1,"\\u0061":2}'), 'STELE_E_JSON_DUPLICATE_KEY', { path: 'a', offset: 7 });
      expectFault(() => parseJson('{"\\ud83d\\ude02":1,"😂":2}'), 'STELE_E_JSON_DUPLICATE_KEY');
      expectFault(() => parseJson('{"\\/":1,"/":2}'), 'STELE_E_JSON_DUPLICATE_KEY');
    });

    it('are allowed in different objects', () => {
      expect(parseJson('{"a":{"a":1},"b":{"a":2}}')).toEqual({ a: { a: 1 }, b: { a: 2 } });
    });
  });

  describe('lone surrogates', () => {
    it.each([
      ['raw high alone', '"\ud800"', 1],
      ['raw low alone', '"\udc00"', 1],
      ['raw reversed pair', '"\ude02\ud83d"', 1],
      ['raw high at the end', '"ab\ud83d"', 3],
      ['escaped high alone', '"\\ud800"', 1],
      ['escaped low alone', '"\\udc00"', 1],
      ['escaped reversed pair', '"\\ude02\\ud83d"', 1],
      ['escaped high before an escaped non-surrogate', '"\\ud83d\\u0041"', 1],
      ['escaped high before a raw character', '"\\ud83dx"', 1],
      ['escaped high before a simple escape', '"\\ud83d\\n"', 1],
      ['two escaped highs', '"\\ud83d\\ud83d\\ude02"', 1],
    ])('are rejected: %s', (_name, text, offset) => {
      expectFault(() => parseJson(text), 'STELE_E_JSON_LONE_SURROGATE', { offset });
      // In a key, the path is the object's; in a value, the member's.
      expectFault(() => parseJson(`{"k":{${text}:1}}`), 'STELE_E_JSON_LONE_SURROGATE', { path: 'k', offset: offset + 6 });
      expectFault(() => parseJson(`{"k":[0,${text}]}`), 'STELE_E_JSON_LONE_SURROGATE', { path: 'k[1]', offset: offset + 8 });
    });

    it('are accepted when paired, in any mix of raw and escaped', () => {
      expect(parseJson('"\\ud83d\\ude02"')).toBe('😂');
      expect(parseJson('"😂"')).toBe('😂');
      expect(parseJson('"\\ud83d\ude02"')).toBe('😂');
      expect(parseJson('"\ud83d\\ude02"')).toBe('😂');
    });
  });

  describe('numbers', () => {
    it.each(['1e400', '-1e400', '1E309', '179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792'])(
      'rejects %s, which is out of the double range',
      (text) => {
        expectFault(() => parseJson(text), 'STELE_E_JSON_NUMBER', { offset: 0 });
      },
    );

    it('names the path of an out-of-range number', () => {
      expectFault(() => parseJson('{"a":[0,1e400]}'), 'STELE_E_JSON_NUMBER', { path: 'a[1]', offset: 8 });
    });

    it('accepts the largest double written out', () => {
      expect(parseJson('1.7976931348623157e308')).toBe(Number.MAX_VALUE);
    });
  });

  describe('depth', () => {
    it(`accepts ${limits.jsonDepthMax} levels and rejects ${limits.jsonDepthMax + 1}`, () => {
      expect(canonicalize(parseJson(nestedArrays(limits.jsonDepthMax)))).toBe(nestedArrays(limits.jsonDepthMax));
      expectFault(() => parseJson(nestedArrays(limits.jsonDepthMax + 1)), 'STELE_E_JSON_TOO_DEEP', { offset: limits.jsonDepthMax });
      const deepObjects = `${'{"a":'.repeat(limits.jsonDepthMax + 1)}1${'}'.repeat(limits.jsonDepthMax + 1)}`;
      const err = expectFault(() => parseJson(deepObjects), 'STELE_E_JSON_TOO_DEEP', { offset: 5 * limits.jsonDepthMax });
      expect(err.where.path).toBe(Array(limits.jsonDepthMax).fill('a').join('.'));
    });

    it('counts empty containers', () => {
      expectFault(() => parseJson(`${'['.repeat(limits.jsonDepthMax)}{}${']'.repeat(limits.jsonDepthMax)}`), 'STELE_E_JSON_TOO_DEEP');
    });

    it('honours opts.depthMax', () => {
      expect(parseJson('[[1]]', { depthMax: 2 })).toEqual([[1]]);
      expectFault(() => parseJson('[[1]]', { depthMax: 1 }), 'STELE_E_JSON_TOO_DEEP', { path: '[0]', offset: 1 });
      expect(parseJson('1', { depthMax: 0 })).toBe(1);
      expectFault(() => parseJson('[]', { depthMax: 0 }), 'STELE_E_JSON_TOO_DEEP');
    });

    it('rejects a very deep document without overflowing the stack', () => {
      expectFault(() => parseJson('['.repeat(1_000_000)), 'STELE_E_JSON_TOO_DEEP');
      // The parser keeps its own stack: without a limit, depth costs heap, not native stack.
      expect(Array.isArray(parseJson(nestedArrays(200_000), { depthMax: Number.POSITIVE_INFINITY }))).toBe(true);
    });
  });

  describe('syntax errors are STELE_E_JSON_INVALID with the offset', () => {
    it.each([
      ['empty input', '', 0, /expected a value, found end of input/],
      ['only whitespace', ' \n', 2, /end of input/],
      ['trailing comma in an array', '[1,]', 3, /trailing comma before '\]'/],
      ['trailing comma in an object', '{"a":1,}', 7, /trailing comma before '\}'/],
      ['missing comma between members', '{"a":1 "b":2}', 7, /expected ',' or '\}' after object member/],
      ['missing comma between elements', '[1 2]', 3, /expected ',' or '\]' after array element/],
      ['unclosed array', '[1', 2, /expected ',' or '\]' after array element, found end of input/],
      ['unclosed object', '{"a":1', 6, /expected ',' or '\}' after object member/],
      ['leading zero', '01', 0, /leading zeros/],
      ['negative leading zero', '-01', 0, /leading zeros/],
      ['leading zero in an array', '[00]', 1, /leading zeros/],
      ['leading plus', '+1', 0, /expected a value/],
      ['leading dot', '.5', 0, /expected a value/],
      ['trailing dot', '1.', 2, /digit after '\.'/],
      ['empty exponent', '1e', 2, /exponent/],
      ['empty exponent after sign', '1e+', 3, /exponent/],
      ['bare minus', '-', 1, /digit after '-'/],
      ['hex number', '0x10', 1, /unexpected 'x' after the JSON value/],
      ['line comment', '// c\n1', 0, /comments are not allowed/],
      ['block comment', '/* c */ 1', 0, /comments are not allowed/],
      ['comment after a member', '{"a":1 /* c */}', 7, /expected ',' or '\}' after object member/],
      ['NaN', 'NaN', 0, /NaN and Infinity are not JSON/],
      ['Infinity', 'Infinity', 0, /NaN and Infinity are not JSON/],
      ['-Infinity', '-Infinity', 1, /digit after '-'/],
      ['single quotes', "'a'", 0, /double quotes/],
      ['unquoted key', '{a:1}', 1, /expected a string key or '\}' after '\{'/],
      ['key after comma not a string', '{"a":1,2:3}', 7, /expected a string key after ','/],
      ['missing colon', '{"a" 1}', 5, /expected ':' after object key/],
      ['truncated literal', 'tru', 0, /expected 'true'/],
      ['capitalised literal', 'True', 0, /expected a value/],
      ['unterminated string', '"abc', 0, /unterminated string/],
      ['raw tab in a string', '"a\tb"', 2, /control character U\+0009/],
      ['raw newline in a string', '"a\nb"', 2, /control character U\+000A/],
      ['raw NUL in a string', '"\u0000"', 1, /control character U\+0000/],
      ['invalid escape', '"\\x"', 1, /invalid escape \\x/],
      ['single-quote escape', '"\\\'"', 1, /invalid escape/],
      ['short \\u escape', '"\\u12"', 1, /4 hex digits/],
      ['non-hex \\u escape', '"\\u12G4"', 1, /4 hex digits/],
      ['two values', '1 2', 2, /unexpected '2' after the JSON value/],
      ['two objects', '{}{}', 2, /after the JSON value/],
      ['no-break space as whitespace', '\u00a01', 0, /expected a value/],
      ['BOM in text', '\ufeff1', 0, /expected a value/],
      ['vertical tab as whitespace', '[1,\u000b2]', 3, /expected a value/],
      ['closing bracket mismatch', '[1}', 2, /expected ',' or '\]'/],
    ])('%s', (_name, text, offset, message) => {
      const err = expectFault(() => parseJson(text), 'STELE_E_JSON_INVALID', { offset });
      expect(err.message).toMatch(message);
      expect(err.fix).toBeDefined();
      expect(() => {
        JSON.parse(text);
      }).toThrow();
    });

    it('gives the path of the container where the fault is', () => {
      expectFault(() => parseJson('{"a":{"b":[1,2,]}}'), 'STELE_E_JSON_INVALID', { path: 'a.b[2]', offset: 15 });
    });
  });
});

describe('parseJsonBytes', () => {
  it('decodes UTF-8 and parses', () => {
    expect(parseJsonBytes(utf8.encode('{"é":"😀"}'))).toEqual({ é: '😀' });
  });

  it.each([
    ['an invalid byte', [0x22, 0xff, 0x22], 1],
    ['a truncated sequence', [0x22, 0x61, 0xe2, 0x82, 0x22], 2],
    ['an overlong encoding', [0x22, 0xc0, 0xaf, 0x22], 1],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22], 1],
    ['a code point above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], 1],
    ['a lone continuation byte', [0x22, 0x80, 0x22], 1],
  ])('rejects invalid UTF-8: %s, at its byte offset', (_name, bytes, offset) => {
    const err = expectFault(() => parseJsonBytes(Uint8Array.from(bytes)), 'STELE_E_JSON_INVALID', { offset });
    expect(err.message).toMatch(/not valid UTF-8/);
  });

  it('rejects a leading byte order mark', () => {
    const err = expectFault(() => parseJsonBytes(Uint8Array.from([0xef, 0xbb, 0xbf, 0x31])), 'STELE_E_JSON_INVALID', { offset: 0 });
    expect(err.message).toMatch(/byte order mark/);
  });

  it('reports byte offsets, not UTF-16 offsets', () => {
    // "é" is 2 bytes, "😀" is 4 bytes but 2 UTF-16 units: the duplicate starts at byte 13.
    const text = '{"é":"😀","é":1}';
    expectFault(() => parseJson(text), 'STELE_E_JSON_DUPLICATE_KEY', { offset: 10, path: '["é"]' });
    const err = expectFault(() => parseJsonBytes(utf8.encode(text)), 'STELE_E_JSON_DUPLICATE_KEY', { offset: 13, path: '["é"]' });
    expect(err.message).toMatch(/at byte 13/);
    expect(err.detail).toEqual({ key: 'é' });
  });

  it('passes opts through', () => {
    expectFault(() => parseJsonBytes(utf8.encode('[[]]'), { depthMax: 1 }), 'STELE_E_JSON_TOO_DEEP');
  });
});

describe('isCanonical', () => {
  it.each([
    ['{"a":1,"b":[true,null]}', true],
    ['"é😀"', true],
    ['"\\u001f"', true],
    ['1e+21', true],
    ['{"b":1,"a":2}', false],
    ['{"a":1 }', false],
    ['{"a":1,"a":1}', false],
    ['1.0', false],
    ['1E21', false],
    ['-0', false],
    ['"\\u0041"', false],
    ['"\\u001F"', false],
    ['"\\/"', false],
    ['"\\ud800"', false],
    ['{', false],
    ['9007199254740993', false],
  ])('%s → %s', (text, expected) => {
    expect(isCanonical(text)).toBe(expected);
  });
});

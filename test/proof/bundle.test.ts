/**
 * Proof bundles (src/proof/bundle.ts): the strict format, the verifier and its verdicts, on
 * bundles built from real data directories (the engine writing signed checkpoints).
 *
 * The central property: every single altered byte of a real bundle makes it fail. For an
 * anchored event bundle, an anchored state bundle (inclusion and non-inclusion) and the
 * unanchored ones, every byte position is replaced by each of 14 chosen bytes (neighbours,
 * case flip, hex digits, JSON punctuation, control and non-ASCII bytes) and deleted,
 * plus a seeded fast-check sample of (position, any byte) pairs; the verdict is never valid.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { ed25519VerifyPortable } from '../../src/crypto/ed25519-portable.js';
import type { Ed25519Verify } from '../../src/crypto/checkpoint-sig.js';
import { ed25519VerifyNode } from '../../src/crypto/keys.js';
import { sha256Portable } from '../../src/hash/portable.js';
import { sha256 } from '../../src/hash/sha256.js';
import { limits } from '../../src/limits.js';
import type { BundleVerdict, EventBundle, ProofBundle, StateBundle } from '../../src/proof/bundle.js';
import { formatBundle, parseBundle, parseBundleValue, verifyBundle } from '../../src/proof/bundle.js';
import { DataDirBundles } from '../../src/proof/build.js';
import { errorCodeOf } from '../helpers.js';
import type { TestKey } from './fixtures.js';
import { checkpointSeqs, freshDataDir, newKey, proofTempRoot, writeWorkload } from './fixtures.js';

let root: string;
let key: TestKey;
let other: TestKey;
let signed: string;
let unsigned: string;
/** Bundle files (text) of the signed and unsigned logs. */
const files: Record<'event' | 'eventLast' | 'present' | 'absent' | 'eventUnsigned' | 'stateUnsigned', string> = {} as never;

const node = { sha256, ed25519Verify: ed25519VerifyNode };

beforeAll(async () => {
  root = proofTempRoot();
  key = newKey(root, 'writer.key');
  other = newKey(root, 'other.key');
  signed = freshDataDir(root, 'signed');
  unsigned = freshDataDir(root, 'unsigned');
  await writeWorkload(signed, { signingKey: key.signing });
  await writeWorkload(unsigned);
  const s = await DataDirBundles.open(signed);
  try {
    files.event = (await s.eventBundle(5)).text;
    files.eventLast = (await s.eventBundle(s.size - 2)).text;
    files.present = s.stateBundle('kv:a').text;
    files.absent = s.stateBundle('kv:gone').text;
  } finally {
    s.close();
  }
  const u = await DataDirBundles.open(unsigned);
  try {
    files.eventUnsigned = (await u.eventBundle(5)).text;
    files.stateUnsigned = u.stateBundle('account:bob').text;
  } finally {
    u.close();
  }
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function check(text: string | Uint8Array, options: { publicKeys?: Uint8Array[]; ed25519Verify?: Ed25519Verify } = {}): BundleVerdict {
  return verifyBundle(text, { ...node, ...options });
}

function failedIds(v: BundleVerdict): string[] {
  return v.checks.filter((c) => !c.ok).map((c) => c.id);
}

describe('verifying real bundles', () => {
  it('an event bundle: every check passes, anchored by a signed checkpoint covering the event', () => {
    const v = check(files.event);
    expect(v.valid, v.summary).toBe(true);
    expect(v).toMatchObject({ malformed: false, kind: 'event', anchored: true, signer: { keyId: key.pub.keyId, pinned: false } });
    expect(v.checks.map((c) => c.id)).toEqual(['format', 'line', 'eventHash', 'covers', 'inclusion', 'keyId', 'signature']);
    const bundle = v.bundle as EventBundle;
    expect(bundle.seq).toBe(5);
    expect(JSON.parse(bundle.line)).toMatchObject({ seq: 5 });
    // The newest signed checkpoint: the shutdown checkpoint, the last line of the log.
    expect(bundle.checkpoint!.size).toBe(Math.max(...checkpointSeqs(signed)));
    expect(v.summary).toContain('not pinned');
  });

  it('the same verdicts with @noble/hashes and @noble/curves (what the browser runs)', () => {
    for (const text of Object.values(files)) {
      const a = check(text);
      const b = verifyBundle(text, { sha256: sha256Portable, ed25519Verify: ed25519VerifyPortable, signatureCache: false });
      expect(b.valid).toBe(a.valid);
      expect(b.checks).toEqual(a.checks);
    }
  });

  it('pinning the signer: valid and pinned; another key: the pinned check fails', () => {
    const pinned = check(files.event, { publicKeys: [key.pub.publicKey] });
    expect(pinned).toMatchObject({ valid: true, anchored: true, signer: { pinned: true } });
    expect(pinned.checks.map((c) => c.id)).toContain('pinned');
    const wrong = check(files.present, { publicKeys: [other.pub.publicKey] });
    expect(wrong.valid).toBe(false);
    expect(failedIds(wrong)).toEqual(['pinned']);
    expect(wrong.summary).toContain('the signing key is pinned');
    // Either of two pinned keys will do.
    expect(check(files.absent, { publicKeys: [other.pub.publicKey, key.pub.publicKey] }).valid).toBe(true);
  });

  it('state bundles: the value or the absence, against the checkpoint\'s signed state root', () => {
    const present = check(files.present);
    expect(present).toMatchObject({ valid: true, anchored: true, kind: 'state' });
    const proof = (present.bundle as StateBundle).proof;
    expect(proof.value).toEqual({ n: 2, text: 'two "quoted" \\ é ✓' });
    expect(proof.stateRoot).toBe((present.bundle as StateBundle).checkpoint!.stateRoot);
    expect(present.checks.map((c) => c.id)).toEqual(['format', 'keyHash', 'valueHash', 'statePath', 'keyId', 'signature', 'stateRoot']);
    const absent = check(files.absent);
    expect(absent).toMatchObject({ valid: true, anchored: true });
    expect((absent.bundle as StateBundle).proof.end).toBeDefined();
    expect(absent.summary).toContain('kv:gone is absent');
  });

  it('unsigned logs: valid, not anchored; with a pinned key: the anchor check fails', () => {
    for (const text of [files.eventUnsigned, files.stateUnsigned]) {
      const v = check(text);
      expect(v).toMatchObject({ valid: true, anchored: false, signer: null });
      expect(v.summary).toContain('against the stated root only');
      const pinned = check(text, { publicKeys: [key.pub.publicKey] });
      expect(pinned.valid).toBe(false);
      expect(failedIds(pinned)).toEqual(['anchor']);
    }
  });

  it('accepts a parsed bundle too, and a string', () => {
    const parsed = JSON.parse(files.event) as ProofBundle;
    expect(verifyBundle(parsed, node).valid).toBe(true);
    expect(verifyBundle(Buffer.from(files.event), node).valid).toBe(true);
  });
});

describe('the format', () => {
  it('is the canonical JSON of the bundle and one newline, and round-trips', () => {
    for (const text of Object.values(files)) {
      expect(text.endsWith('}\n')).toBe(true);
      expect(text.slice(0, -1)).toBe(canonicalize(JSON.parse(text)));
      expect(formatBundle(parseBundle(text))).toBe(text);
    }
  });

  it('writes exactly what canonicalize writes, for any line and any state value', () => {
    const event = parseBundle(files.event) as EventBundle;
    const present = parseBundle(files.present) as StateBundle;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.jsonValue({ maxDepth: 3 }), (line, value) => {
        fc.pre(line.isWellFormed());
        const e = { ...event, line };
        expect(formatBundle(e)).toBe(`${canonicalize(e)}\n`);
        const normalized = JSON.parse(JSON.stringify(value)) as never;
        const st = { ...present, proof: { ...present.proof, key: line, value: normalized } };
        expect(formatBundle(st)).toBe(`${canonicalize(st)}\n`);
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  const malformed: [string, (text: string) => string][] = [
    ['no trailing newline', (t) => t.slice(0, -1)],
    ['two trailing newlines', (t) => `${t}\n`],
    ['CRLF', (t) => `${t.slice(0, -1)}\r\n`],
    ['pretty-printed', (t) => `${JSON.stringify(JSON.parse(t), null, 2)}\n`],
    ['keys reordered', (t) => `${JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(t) as object).reverse()))}\n`],
    ['a leading byte order mark', (t) => `\ufeff${t}`],
    ['an unknown field', (t) => `${canonicalize({ ...(JSON.parse(t) as object), extra: 1 })}\n`],
    ['uppercase hex', (t) => t.replace(/"logRoot":"([0-9a-f]{64})"/, (_m, h: string) => `"logRoot":"${h.toUpperCase()}"`)],
    ['a short hash', (t) => t.replace(/"eventHash":"[0-9a-f]{2}/, '"eventHash":"')],
    ['another version', (t) => t.replace('"v":1}', '"v":2}')],
    ['another kind', (t) => t.replace('"kind":"event"', '"kind":"other"')],
    ['another type', (t) => t.replace('"type":"stele.proof"', '"type":"stele.proof2"')],
    ['an escaped character that need not be', (t) => t.replace('"kind":"event"', '"kind":"\\u0065vent"')],
    ['a number written 5.0', (t) => t.replace('"seq":5,', '"seq":5.0,')],
    ['not JSON', () => '{"type":"stele.proof",\n'],
  ];
  for (const [name, change] of malformed) {
    it(`refuses ${name} as malformed`, () => {
      const text = change(files.event);
      expect(text).not.toBe(files.event);
      const v = check(text);
      expect(v).toMatchObject({ valid: false, malformed: true, kind: null });
      expect(v.checks).toHaveLength(1);
      expect(v.checks[0]!.id).toBe('format');
      expect(v.error?.code).toBe('STELE_E_PROOF_FORMAT');
      expect(errorCodeOf(() => parseBundle(text))).toBe('STELE_E_PROOF_FORMAT');
    });
  }

  it('names the field at fault, and refuses what the format requires absent or present', () => {
    const event = JSON.parse(files.event) as Record<string, unknown>;
    const cases: [Record<string, unknown>, string][] = [
      [{ ...event, seq: -1 }, 'seq'],
      [{ ...event, seq: '5' }, 'seq'],
      [{ ...event, path: 'x' }, 'path'],
      [{ ...event, path: new Array(limits.proofHashesMax + 1).fill('0'.repeat(64)) }, 'path'],
      [{ ...event, checkpoint: { ...(event.checkpoint as object), sig: 'ab' } }, 'checkpoint.sig'],
      [{ ...event, checkpoint: { ...(event.checkpoint as object), stateRoot: undefined } }, 'checkpoint.stateRoot'],
      [{ ...event, logRoot: '0'.repeat(64) }, 'logRoot'],
      [{ ...event, line: 'x'.repeat(limits.lineBytesMax + 1) }, 'line'],
    ];
    for (const [value, field] of cases) {
      const text = `${canonicalize(JSON.parse(JSON.stringify(value)))}\n`;
      const v = check(text);
      expect(v.malformed, field).toBe(true);
      expect(v.error?.where?.path, field).toBe(field);
    }
    // A state bundle's inclusion proof must carry the value it proves.
    const present = JSON.parse(files.present) as { proof: Record<string, unknown> };
    delete present.proof.value;
    const v = check(`${canonicalize(present)}\n`);
    expect(v.error?.where?.path).toBe('proof.value');
  });

  it('refuses a file over the size limit before parsing it', () => {
    const big = new Uint8Array(limits.proofBundleBytesMax + 1).fill(0x20);
    const v = check(big);
    expect(v).toMatchObject({ malformed: true });
    expect(v.error?.code).toBe('STELE_E_INPUT_TOO_LARGE');
  });
});

describe('bundles that do not prove what they claim', () => {
  it('a checkpoint that does not cover the event (size ≤ seq) fails covers', () => {
    // The last event's bundle, anchored instead to the first checkpoint, correctly signed.
    const late = parseBundle(files.eventLast) as EventBundle;
    const early = readCheckpointData(signed, checkpointSeqs(signed)[0]!);
    expect(early.size).toBeLessThanOrEqual(late.seq);
    const v = check(formatBundle({ ...late, checkpoint: { ...early, publicKey: key.pubHex } }));
    expect(v.valid).toBe(false);
    expect(failedIds(v)).toEqual(['covers', 'inclusion']);
    expect(v.checks.find((c) => c.id === 'signature')!.ok).toBe(true);
  });

  it('a tampered inclusion path fails inclusion (and only it)', () => {
    for (const text of [files.event, files.eventUnsigned]) {
      const b = parseBundle(text) as EventBundle;
      const variants = [b.path.map((h, i) => (i === 0 ? flipHex(h) : h)), b.path.slice(1), [...b.path, b.path[0]!], [...b.path].reverse()];
      for (const path of variants) {
        const v = check(formatBundle({ ...b, path }));
        expect(v.valid).toBe(false);
        expect(failedIds(v)).toEqual(['inclusion']);
      }
    }
  });

  it('a checkpoint of another size, or the event proven at another position, fails', () => {
    const b = parseBundle(files.event) as EventBundle;
    const c = b.checkpoint!;
    // A size the key never signed (the signature covers it).
    expect(failedIds(check(formatBundle({ ...b, checkpoint: { ...c, size: c.size + 1 } })))).toEqual(expect.arrayContaining(['signature']));
    // Another seq: the line says otherwise.
    expect(failedIds(check(formatBundle({ ...b, seq: b.seq + 1 })))).toContain('line');
  });

  it('a checkpoint re-signed by another key: valid under that key only when it is not pinned', () => {
    const b = parseBundle(files.event) as EventBundle;
    const c = b.checkpoint!;
    const sig = other.signing.sign({ size: c.size, logRoot: c.logRoot, stateRoot: c.stateRoot });
    const forged = formatBundle({ ...b, checkpoint: { ...c, sig, keyId: other.pub.keyId, publicKey: other.pubHex } });
    expect(check(forged)).toMatchObject({ valid: true, signer: { keyId: other.pub.keyId, pinned: false } });
    expect(failedIds(check(forged, { publicKeys: [key.pub.publicKey] }))).toEqual(['pinned']);
    // A keyId that does not belong to the public key.
    const mixed = formatBundle({ ...b, checkpoint: { ...c, keyId: other.pub.keyId } });
    expect(failedIds(check(mixed))).toEqual(['keyId']);
  });

  it('a state proof against a root the checkpoint does not sign fails stateRoot', () => {
    const present = parseBundle(files.present) as StateBundle;
    const absent = parseBundle(files.absent) as StateBundle;
    const other = readCheckpointData(signed, checkpointSeqs(signed)[0]!);
    const v = check(formatBundle({ ...present, checkpoint: { ...other, publicKey: key.pubHex } }));
    expect(failedIds(v)).toEqual(['stateRoot']);
    // The value of another key under this key's proof.
    const swapped = formatBundle({ ...absent, proof: { ...absent.proof, key: present.proof.key } });
    expect(failedIds(check(swapped))).toContain('keyHash');
  });
});

describe('the signature cache', () => {
  function counting(): { verify: Ed25519Verify; calls: () => number } {
    let n = 0;
    const verify: Ed25519Verify = (s, m, k) => {
      n++;
      return ed25519VerifyNode(s, m, k);
    };
    return { verify, calls: () => n };
  }

  it('a batch of bundles against one checkpoint costs one Ed25519 verification', () => {
    const c = counting();
    for (let i = 0; i < 50; i++) for (const text of [files.event, files.present, files.absent]) expect(check(text, { ed25519Verify: c.verify }).valid).toBe(true);
    expect(c.calls()).toBe(1);
  });

  it('without the cache, or for a signature that failed, every check verifies again', () => {
    const c = counting();
    for (let i = 0; i < 5; i++) verifyBundle(files.event, { sha256, ed25519Verify: c.verify, signatureCache: false });
    expect(c.calls()).toBe(5);
    const b = parseBundle(files.event) as EventBundle;
    const bad = formatBundle({ ...b, checkpoint: { ...b.checkpoint!, sig: flipHex(b.checkpoint!.sig) } });
    const d = counting();
    for (let i = 0; i < 3; i++) expect(failedIds(check(bad, { ed25519Verify: d.verify }))).toEqual(['signature']);
    expect(d.calls()).toBe(3);
  });
});

describe('every single altered byte fails', () => {
  /**
   * Replacement bytes tried at every position: the neighbours, the case flip, three hex
   * digits (a hex digit for a hex digit keeps the format: only the hashes and the signature
   * can catch it), JSON punctuation and whitespace, a control byte and bytes that are not
   * ASCII (0x80 and 0xff are never valid UTF-8 there).
   */
  function replacements(original: number): number[] {
    const set = new Set<number>([original - 1, original + 1, original ^ 0x20, 0x30, 0x37, 0x66, 0x00, 0x20, 0x22, 0x2c, 0x5c, 0x7d, 0x80, 0xff]);
    set.delete(original);
    return [...set].filter((b) => b >= 0 && b <= 255);
  }

  function assertNeverValid(text: string, label: string): void {
    const bytes = Buffer.from(text);
    let tried = 0;
    for (let i = 0; i < bytes.length; i++) {
      const original = bytes[i]!;
      for (const b of replacements(original)) {
        bytes[i] = b;
        const v = check(bytes);
        if (v.valid) throw new Error(`${label}: byte ${i} changed from 0x${original.toString(16)} to 0x${b.toString(16)} still verifies`);
        tried++;
      }
      bytes[i] = original;
      // Deleting the byte.
      if (check(Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)])).valid) throw new Error(`${label}: deleting byte ${i} still verifies`);
    }
    expect(check(bytes).valid, `${label} is valid unaltered`).toBe(true);
    expect(tried).toBeGreaterThan(bytes.length * 11);
  }

  it('anchored event bundle: every position × 14 replacement bytes, and every deletion', () => {
    assertNeverValid(files.event, 'event');
  });

  it('anchored state bundles (inclusion and non-inclusion): every position × 14 bytes, every deletion', () => {
    assertNeverValid(files.present, 'present');
    assertNeverValid(files.absent, 'absent');
  });

  it('unanchored bundles: every position × 14 bytes, every deletion', () => {
    assertNeverValid(files.eventUnsigned, 'event unsigned');
    assertNeverValid(files.stateUnsigned, 'state unsigned');
  });

  it('a seeded sample of 4,000 (position, any byte) alterations across the bundles', () => {
    const texts = [files.event, files.present, files.absent, files.eventUnsigned].map((t) => Buffer.from(t));
    fc.assert(
      fc.property(fc.nat({ max: texts.length - 1 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }), (which, where, delta) => {
        const bytes = Buffer.from(texts[which]!);
        const i = Math.floor(where * bytes.length);
        bytes[i] = (bytes[i]! + delta) % 256;
        return !check(bytes).valid;
      }),
      { seed: 20261122, numRuns: 4000 },
    );
  });
});

describe('parseBundleValue', () => {
  it('refuses values that are not bundles, naming the field', () => {
    expect(errorCodeOf(() => parseBundleValue(null))).toBe('STELE_E_PROOF_FORMAT');
    expect(errorCodeOf(() => parseBundleValue([]))).toBe('STELE_E_PROOF_FORMAT');
    expect(errorCodeOf(() => parseBundleValue({ type: 'stele.proof', v: 1 }))).toBe('STELE_E_PROOF_FORMAT');
    const state = JSON.parse(files.present) as { proof: Record<string, unknown> };
    state.proof.keyHash = 'zz';
    try {
      parseBundleValue(state);
      throw new Error('accepted');
    } catch (err) {
      expect((err as { where: { path: string } }).where.path).toBe('proof.keyHash');
    }
  });
});

/** 64 or 128 hex characters with the first one changed to another hex digit. */
function flipHex(h: string): string {
  return (h[0] === '0' ? '1' : '0') + h.slice(1);
}

/** The signed data of the checkpoint line at `seq`. */
function readCheckpointData(data: string, seq: number): { size: number; logRoot: string; stateRoot: string; sig: string; keyId: string } {
  const line = fs.readFileSync(path.join(data, 'events.ndjson'), 'utf8').split('\n')[seq]!;
  return (JSON.parse(line) as { data: { size: number; logRoot: string; stateRoot: string; sig: string; keyId: string } }).data;
}

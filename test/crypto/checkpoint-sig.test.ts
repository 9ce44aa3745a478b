/**
 * The portable checkpoint signature check (DESIGN.md §4, issue #5): the signed message is
 * exactly JCS({size, logRoot, stateRoot}); a signature verifies only over the three fields it
 * was made over, under the key its keyId names; malformed or half-present fields are invalid;
 * a key not given is unknown, not invalid; node:crypto and @noble/curves agree.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical/json.js';
import { checkCheckpointSignature, checkpointMessage, checkpointSignatureChecker, keyIdOf } from '../../src/crypto/checkpoint-sig.js';
import type { CheckpointData } from '../../src/crypto/checkpoint-sig.js';
import { ed25519VerifyPortable } from '../../src/crypto/ed25519-portable.js';
import { ed25519VerifyNode } from '../../src/crypto/keys.js';
import { sha256Portable } from '../../src/hash/portable.js';
import { sha256 } from '../../src/hash/sha256.js';

const seed = 0x5e1e;
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const commitment = fc.record({ size: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), logRoot: hex64, stateRoot: hex64 });

/** A key pair from node:crypto (independent of the code under test), as raw bytes. */
function keyPair(): { publicKey: Uint8Array; sign: (message: Uint8Array) => string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { publicKey: new Uint8Array(raw), sign: (message) => crypto.sign(null, message, privateKey).toString('hex') };
}

function signed(key: ReturnType<typeof keyPair>, c: { size: number; logRoot: string; stateRoot: string }): CheckpointData {
  return { ...c, sig: key.sign(checkpointMessage(c)), keyId: crypto.createHash('sha256').update(key.publicKey).digest('hex') };
}

function flipHexChar(text: string, index: number): string {
  const c = text[index]!;
  return text.slice(0, index) + (c === '0' ? '1' : '0') + text.slice(index + 1);
}

describe('checkpointMessage', () => {
  it('is the UTF-8 of canonicalize({size, logRoot, stateRoot})', () => {
    fc.assert(
      fc.property(commitment, (c) => {
        expect(new TextDecoder().decode(checkpointMessage(c))).toBe(canonicalize(c));
      }),
      { seed, numRuns: 500 },
    );
  });

  it('ignores sig and keyId (they are not signed)', () => {
    const c = { size: 7, logRoot: 'ab'.repeat(32), stateRoot: 'cd'.repeat(32) };
    expect(checkpointMessage({ ...c, sig: 'ef'.repeat(64), keyId: '01'.repeat(32) } as CheckpointData)).toEqual(checkpointMessage(c));
  });

  it('refuses what a checkpoint never holds', () => {
    for (const bad of [
      { size: -1, logRoot: 'ab'.repeat(32), stateRoot: 'cd'.repeat(32) },
      { size: 1.5, logRoot: 'ab'.repeat(32), stateRoot: 'cd'.repeat(32) },
      { size: 1, logRoot: 'AB'.repeat(32), stateRoot: 'cd'.repeat(32) },
      { size: 1, logRoot: 'ab'.repeat(31), stateRoot: 'cd'.repeat(32) },
    ]) {
      expect(() => checkpointMessage(bad)).toThrow(RangeError);
    }
  });
});

describe('checkCheckpointSignature', () => {
  const key = keyPair();
  const other = keyPair();
  const c = { size: 1000, logRoot: '1f'.repeat(32), stateRoot: 'e2'.repeat(32) };
  const good = signed(key, c);

  it('accepts a signature over the three fields under the key its keyId names', () => {
    expect(checkCheckpointSignature(ed25519VerifyNode, sha256, good, [other.publicKey, key.publicKey])).toEqual({ status: 'valid', keyId: good.keyId });
    expect(good.keyId).toBe(keyIdOf(sha256, key.publicKey));
  });

  it('says unsigned for a checkpoint with neither sig nor keyId', () => {
    expect(checkCheckpointSignature(ed25519VerifyNode, sha256, c, [key.publicKey])).toEqual({ status: 'unsigned' });
  });

  it('any altered field, or any altered signature byte, is invalid', () => {
    const altered: CheckpointData[] = [
      { ...good, size: good.size + 1 },
      { ...good, logRoot: flipHexChar(good.logRoot, 10) },
      { ...good, stateRoot: flipHexChar(good.stateRoot, 63) },
    ];
    for (let i = 0; i < 64; i++) altered.push({ ...good, sig: flipHexChar(good.sig!, 2 * i) });
    for (const a of altered) {
      const check = checkCheckpointSignature(ed25519VerifyNode, sha256, a, [key.publicKey]);
      expect(check.status, JSON.stringify(a)).toBe('invalid');
    }
  });

  it('a sig without keyId, a keyId without sig, and malformed fields are invalid whatever keys are given', () => {
    const { keyId, sig, ...bare } = good;
    const cases: [CheckpointData, RegExp][] = [
      [{ ...bare, sig: sig! }, /sig without keyId/],
      [{ ...bare, keyId: keyId! }, /keyId without sig/],
      [{ ...good, sig: sig!.toUpperCase() }, /sig is not 128/],
      [{ ...good, sig: sig!.slice(2) }, /sig is not 128/],
      [{ ...good, keyId: keyId!.toUpperCase() }, /keyId is not 64/],
      [{ ...good, keyId: 'k1' }, /keyId is not 64/],
    ];
    for (const [data, reason] of cases) {
      for (const keys of [[], [key.publicKey]]) {
        const check = checkCheckpointSignature(ed25519VerifyNode, sha256, data, keys);
        expect(check.status).toBe('invalid');
        expect(check.status === 'invalid' ? check.reason : '').toMatch(reason);
      }
    }
  });

  it('a signature by a key not given is unknown-key, neither valid nor invalid', () => {
    expect(checkCheckpointSignature(ed25519VerifyNode, sha256, good, [])).toEqual({ status: 'unknown-key', keyId: good.keyId });
    expect(checkCheckpointSignature(ed25519VerifyNode, sha256, good, [other.publicKey])).toEqual({ status: 'unknown-key', keyId: good.keyId });
  });

  it('a signature made by another key under this keyId is invalid (the keyId picks the key, the key must verify)', () => {
    const forged = { ...c, sig: other.sign(checkpointMessage(c)), keyId: good.keyId! };
    expect(checkCheckpointSignature(ed25519VerifyNode, sha256, forged, [key.publicKey, other.publicKey]).status).toBe('invalid');
  });

  it('the checker asks its lookup once per keyId nobody gave, and only takes a key under its own id', () => {
    const asked: string[] = [];
    const check = checkpointSignatureChecker(ed25519VerifyNode, sha256, [], (keyId) => {
      asked.push(keyId);
      return key.publicKey;
    });
    expect(check(good).status).toBe('valid');
    expect(check(good).status).toBe('valid');
    expect(asked).toEqual([good.keyId]);
    const byOther = signed(other, c);
    // The lookup answers with the wrong key: not taken, so the key stays unknown.
    expect(check(byOther)).toEqual({ status: 'unknown-key', keyId: byOther.keyId });
    expect(check(byOther).status).toBe('unknown-key');
    expect(asked).toEqual([good.keyId, byOther.keyId]);
  });
});

describe('node:crypto and @noble/curves', () => {
  it('agree on every signature, altered or not (property)', () => {
    const keys = Array.from({ length: 4 }, () => keyPair());
    fc.assert(
      fc.property(commitment, fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.option(fc.nat({ max: 127 }), { nil: undefined }), (c, signer, claimed, flip) => {
        const data = signed(keys[signer]!, c);
        if (flip !== undefined) data.sig = flipHexChar(data.sig!, flip);
        data.keyId = keyIdOf(sha256, keys[claimed]!.publicKey);
        const all = keys.map((k) => k.publicKey);
        const node = checkCheckpointSignature(ed25519VerifyNode, sha256, data, all);
        const portable = checkCheckpointSignature(ed25519VerifyPortable, sha256Portable, data, all);
        expect(portable).toEqual(node);
        expect(node.status).toBe(signer === claimed && flip === undefined ? 'valid' : 'invalid');
      }),
      { seed, numRuns: 200 },
    );
  });

  it('agree on junk, and refuse small-order keys under which (identity, 0) "signs" every message', () => {
    const message = new Uint8Array([1, 2, 3]);
    const identity = new Uint8Array(32);
    identity[0] = 1; // the point (0, 1): y = 1, little-endian
    const orderTwo = Uint8Array.from(Buffer.from('ec' + 'ff'.repeat(30) + '7f', 'hex')); // (0, −1): y = p − 1
    const identitySig = new Uint8Array(64);
    identitySig.set(identity, 0); // R = identity, S = 0
    const cases: [Uint8Array, Uint8Array][] = [
      [new Uint8Array(64), new Uint8Array(32)], // small-order key, zero signature: ZIP-215 would accept
      [identitySig, identity], // OpenSSL alone would accept this for every message
      [identitySig, orderTwo],
      [new Uint8Array(63), keyPair().publicKey],
      [new Uint8Array(64).fill(0xff), new Uint8Array(32).fill(0xff)], // y ≥ p: not canonical
      [new Uint8Array(64), new Uint8Array(31)],
    ];
    for (const [sig, pub] of cases) {
      expect(ed25519VerifyNode(sig, message, pub)).toBe(false);
      expect(ed25519VerifyPortable(sig, message, pub)).toBe(false);
    }
  });
});

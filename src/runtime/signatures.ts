/**
 * The keys a replay checks checkpoint signatures against (DESIGN.md §4, issue #5), gathered
 * from the edge: the data directory's keyring (`<data>/keys/*.pub`, written by signing
 * writers), the keys the caller pins (`--pubkey`), and a writer's own key. The replay sink
 * (`./replay-sink.ts`) applies the resulting policy to every checkpoint it reads.
 *
 * Trust: the keyring is written by whoever operates the data directory, so a signature that
 * verifies under a keyring key proves the checkpoint line is intact, not who wrote it. An
 * auditor pins the key they trust; checkpoints signed by any other key are then counted and
 * reported (a warning), not faults, so a log signed across a key rotation still verifies.
 *
 * Verification runs on node:crypto (see `../crypto/checkpoint-sig.ts` for the figures).
 */
import { checkpointSignatureChecker } from '../crypto/checkpoint-sig.js';
import type { PublicKey } from '../crypto/keys.js';
import { ed25519VerifyNode, findKeyringKey, keyringDirName, loadKeyring } from '../crypto/keys.js';
import { steleError } from '../errors.js';
import { sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CheckpointSummary, SignaturePolicy } from './replay-sink.js';

export interface SignatureKeys {
  /** Keys the caller pins (`--pubkey`): trusted beyond the keyring, and the only ones a checkpoint is reported as pinned by. */
  publicKeys?: readonly PublicKey[];
  /** A signing writer's own key: trusted for its own replay even before it is in the keyring. */
  ownKey?: PublicKey;
}

/**
 * The signature policy of a replay of `dataDir`: every key of its keyring, the pinned keys
 * and the writer's own; a keyId none of them has is looked up once more in the keyring (a
 * writer started after an observer installs its key there). A malformed keyring file, or
 * more than `limits.keyringKeysMax` keys, is STELE_E_KEY_INVALID naming the file.
 */
export function signaturePolicy(dataDir: string, keys: SignatureKeys = {}): SignaturePolicy {
  const pinned = keys.publicKeys ?? [];
  const distinct = new Map<string, PublicKey>();
  for (const k of [...loadKeyring(dataDir), ...pinned, ...(keys.ownKey === undefined ? [] : [keys.ownKey])]) distinct.set(k.keyId, k);
  if (distinct.size > limits.keyringKeysMax) {
    throw steleError('STELE_E_KEY_INVALID', `${distinct.size} public keys given and in the keyring, over the ${limits.keyringKeysMax} a replay checks against`, {
      where: { file: path.join(dataDir, keyringDirName) },
      fix: 'pin fewer keys with --pubkey, or remove keys that never signed this log from <data>/keys',
    });
  }
  return {
    check: checkpointSignatureChecker(
      ed25519VerifyNode,
      sha256,
      [...distinct.values()].map((k) => k.publicKey),
      (keyId) => findKeyringKey(dataDir, keyId)?.publicKey,
    ),
    pinned: pinned.length === 0 ? undefined : new Set(pinned.map((k) => k.keyId)),
  };
}

/** Logs what a replay's signature counts warn about: keys no one gave, checkpoints signed by keys not pinned. */
export function warnSignatures(logger: Logger, summary: CheckpointSummary): void {
  const unknown = summary.signed - summary.signaturesVerified;
  if (unknown > 0) {
    logger.warn({ checkpoints: unknown, keyIds: summary.unknownKeyIds }, 'checkpoints signed by keys neither in <data>/keys nor given with --pubkey: their signatures were not checked');
  }
  if (summary.pinned !== null && summary.pinned.otherSigned > 0) {
    logger.warn({ checkpoints: summary.pinned.otherSigned, keyIds: summary.pinned.otherKeyIds }, 'checkpoints signed by keys that are not pinned with --pubkey');
  }
}

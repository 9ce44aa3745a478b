/**
 * `stele keygen --out FILE` (issue #5): a new Ed25519 key pair for signed checkpoints. FILE is
 * the secret key (created exclusively, mode 0600: give it to the writer with --signing-key),
 * FILE.pub the public key (give it to whoever verifies: `stele verify --pubkey FILE.pub`).
 * Never overwrites either file. Prints the keyId (SHA-256 of the public key) and both paths.
 */
import path from 'node:path';
import { writeKeyPair } from '../crypto/keys.js';
import { toHex } from '../hash/hex.js';
import { exitCodes, printJson } from './output.js';

export function keygenCommand(out: string, json: boolean): number {
  const secretFile = path.resolve(out);
  const publicFile = `${secretFile}.pub`;
  const key = writeKeyPair(secretFile, publicFile);
  if (json) printJson({ keyId: key.keyId, publicKey: toHex(key.publicKey), secretKeyFile: secretFile, publicKeyFile: publicFile });
  else {
    process.stdout.write(
      [
        `keyId      ${key.keyId}`,
        `secret key ${secretFile} (mode 0600: keep it outside the data directory and out of backups of it)`,
        `public key ${publicFile}`,
        '',
        'Sign checkpoints with:   stele --signing-key <secret key file> serve   (or STELE_SIGNING_KEY_FILE)',
        'Verify them with:        stele verify --pubkey <public key file>',
        '',
      ].join('\n'),
    );
  }
  return exitCodes.ok;
}

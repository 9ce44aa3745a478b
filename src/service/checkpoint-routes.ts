/**
 * Checkpoint routes (issue #5): what a monitor (`stele monitor --url`) asks first.
 *
 *   GET /v1/checkpoints/latest → {checkpoint: {seq, ts, hash, line, data} | null,
 *                                 log: {size, logRoot}, publicKey: {keyId, publicKey} | null}
 *
 * The newest `stele.checkpoint` of the served log with its exact line (a client hashes and
 * parses the line itself rather than trusting `hash` and `data`), the log's current size and
 * root read at the same moment, and the data directory's keyring key for the checkpoint's
 * keyId when it has one. A monitor trusts that key only on first use; pinning the operator's
 * key out of band (`--pubkey`) is the stronger way. The proofs the monitor then needs are the
 * read API's `GET /v1/consistency` and `GET /v1/events/{seq}?size=`.
 */
import { z } from 'zod';
import { findKeyringKey } from '../crypto/keys.js';
import { toHex } from '../hash/hex.js';
import { sha256Hex } from '../hash/sha256.js';
import type { ApiRoute } from './read-routes.js';
import type { ReadSource } from './source.js';

const hash64 = z.string().regex(/^[0-9a-f]{64}$/).describe('64 lowercase hex characters');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const checkpointDataSchema = z
  .object({
    size: count.describe('the events before the checkpoint (= its seq)'),
    logRoot: hash64.describe('RFC 6962 root of those events'),
    stateRoot: hash64.describe('state root after them'),
    sig: z.string().optional().describe('Ed25519 signature over JCS {logRoot, size, stateRoot}, 128 hex'),
    keyId: z.string().optional().describe('SHA-256 of the signing public key, 64 hex'),
  })
  .meta({ id: 'CheckpointData' });

export const latestCheckpointSchema = z
  .object({
    checkpoint: z
      .object({
        seq: count,
        ts: z.string(),
        hash: hash64.describe('SHA-256 of line (the event hash)'),
        line: z.string().describe('the exact log line, without \\n'),
        data: checkpointDataSchema,
      })
      .nullable()
      .describe('the newest checkpoint, null when the log has none yet'),
    log: z.object({ size: count, logRoot: hash64 }).describe('the log when the checkpoint was read: it contains the checkpoint line'),
    publicKey: z
      .object({ keyId: hash64, publicKey: hash64 })
      .nullable()
      .describe("the data directory's public key <data>/keys/<keyId>.pub for the checkpoint's keyId, when present"),
  })
  .meta({ id: 'LatestCheckpoint' });

export type LatestCheckpointBody = z.output<typeof latestCheckpointSchema>;

export function checkpointRoutes(source: ReadSource): ApiRoute[] {
  return [
    {
      method: 'GET',
      url: '/v1/checkpoints/latest',
      summary: 'The newest checkpoint (its exact line, seq, ts, data with sig/keyId), the current log size and root, and the keyring key that signed it',
      responses: { 200: { description: 'the newest checkpoint and the log head', schema: latestCheckpointSchema } },
      errors: [503],
      handler: (): LatestCheckpointBody => {
        // One synchronous read: the checkpoint and the head belong to the same moment.
        const status = source.status();
        const last = status.checkpoints.last;
        const log = { size: status.size, logRoot: status.logRoot };
        if (last === null) return { checkpoint: null, log, publicKey: null };
        const bytes = source.lines(last.seq, last.seq + 1)[0]!;
        const line = bytes.toString('utf8');
        const event = JSON.parse(line) as { ts: string; data: { size: number; logRoot: string; stateRoot: string; sig?: string; keyId?: string } };
        const { size, logRoot, stateRoot, sig, keyId } = event.data;
        const key = typeof keyId === 'string' ? findKeyringKey(source.dataDir, keyId) : undefined;
        return {
          checkpoint: { seq: last.seq, ts: event.ts, hash: sha256Hex(bytes), line, data: { size, logRoot, stateRoot, ...(sig === undefined ? {} : { sig }), ...(keyId === undefined ? {} : { keyId }) } },
          log,
          publicKey: key === undefined ? null : { keyId: key.keyId, publicKey: toHex(key.publicKey) },
        };
      },
    },
  ];
}

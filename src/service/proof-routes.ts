/**
 * Proof bundle routes (issue #5), on `stele serve` and `stele observe`:
 *
 *   GET /v1/proofs/event/:seq?size=N         → the event bundle of `stele prove event SEQ --size N`
 *   GET /v1/proofs/state/:key?at=SEQ|atTime= → the state bundle of `stele prove state KEY --at SEQ`
 *
 * The body is the bundle file itself (canonical JSON and `\n`, src/proof/bundle.ts), byte
 * for byte what the CLI writes for the same position: both build with src/proof/build.ts.
 * Here the lines and the log proofs come from the server's read source (the served, verified
 * size is the log's size), checkpoints are read from the data directory's log file and keys
 * from its keyring, read-only. `X-Stele-Anchored: true|false` says whether a signed
 * checkpoint anchors the bundle.
 *
 * The state as of a checkpoint is the live state when nothing changed it since (the served
 * state root is the checkpoint's); otherwise it is re-derived from the files, and that
 * derivation is kept and moved forward for the next request (StateAtCache).
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { loadKeyring } from '../crypto/keys.js';
import { steleError } from '../errors.js';
import { resolveAt } from '../history/at.js';
import { BundleBuilder, StateAtCache } from '../proof/build.js';
import type { BuiltBundle, BundleLog, BundleState } from '../proof/build.js';
import { dataPaths } from '../store/data-dir.js';
import { limits } from '../limits.js';
import type { ApiRoute } from './read-routes.js';
import { parseWith } from './read-routes.js';
import type { ReadSource } from './source.js';

const hash64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const checkpointSchema = z.object({
  size: count.describe('the events the checkpoint commits to'),
  logRoot: hash64,
  stateRoot: hash64,
  sig: z.string().regex(/^[0-9a-f]{128}$/).describe('Ed25519 over JCS {logRoot, size, stateRoot}'),
  keyId: hash64.describe('SHA-256 of publicKey'),
  publicKey: hash64.describe('the raw Ed25519 public key (pin it to trust it)'),
});

export const eventBundleSchema = z
  .object({
    type: z.literal('stele.proof'),
    v: z.literal(1),
    kind: z.literal('event'),
    seq: count,
    line: z.string().describe('the exact log line, without \\n'),
    eventHash: hash64.describe('SHA-256 of line'),
    logRoot: hash64.optional().describe('unanchored bundles only: the root of the log of size seq + 1'),
    path: z.array(hash64).describe("RFC 9162 inclusion proof of leaf seq in the checkpoint's tree (of its size), or else in the log of size seq + 1"),
    checkpoint: checkpointSchema.optional().describe('the newest signed checkpoint with seq < size ≤ N; absent when none'),
  })
  .meta({ id: 'EventProofBundle' });

export const stateBundleSchema = z
  .object({
    type: z.literal('stele.proof'),
    v: z.literal(1),
    kind: z.literal('state'),
    proof: z.record(z.string(), z.unknown()).describe('the state proof (docs/file-format.md), with the value when the key is present'),
    checkpoint: checkpointSchema.optional().describe("the newest signed checkpoint at or before the position; the proof leads to its stateRoot; absent when none"),
  })
  .meta({ id: 'StateProofBundle' });

const eventParamsSchema = z.object({ seq: seqParam }).strict();
const eventQuerySchema = z.object({ size: seqParam.optional().describe('anchor to the newest signed checkpoint among the first N events (default: all served events)') }).strict();
const stateQuerySchema = z
  .object({
    at: seqParam.optional().describe('the position: after event SEQ (default: the newest)'),
    atTime: z.string().max(64).optional().describe('the position: after the last event at or before this ISO 8601 time'),
  })
  .strict();

const bundleType = 'application/json; charset=utf-8';

export function proofRoutes(source: ReadSource): ApiRoute[] {
  // Created on the first state request: describing the routes (OpenAPI) touches no source.
  let states: StateAtCache | undefined;

  function builder(): BundleBuilder {
    const log: BundleLog = {
      logFile: dataPaths(source.dataDir).log,
      size: source.views.size,
      line: (seq) => source.lines(seq, seq + 1)[0]!,
      proveInclusion: (seq, size) => source.proveInclusion(seq, size),
    };
    const stateAtSize = (size: number): BundleState => {
      const live = source.machine();
      if (live.size === size) return live;
      states ??= new StateAtCache(source.dataDir);
      return states.at(size);
    };
    return new BundleBuilder(log, loadKeyring(source.dataDir), stateAtSize);
  }

  const send = (reply: FastifyReply, built: BuiltBundle): FastifyReply => reply.type(bundleType).header('x-stele-anchored', String(built.anchored)).send(built.text);

  return [
    {
      method: 'GET',
      url: '/v1/proofs/event/:seq',
      summary: 'A proof bundle of event SEQ (as `stele prove event SEQ` writes it): the line, the newest signed checkpoint covering it and the inclusion proof into the tree it signs; check it with `stele check-proof` or the dashboard',
      params: eventParamsSchema,
      query: eventQuerySchema,
      responses: { 200: { description: 'the bundle file (canonical JSON and a newline); X-Stele-Anchored says whether a signed checkpoint anchors it', schema: eventBundleSchema } },
      errors: [400, 404, 500, 503],
      handler: (request, reply) => {
        const { seq } = parseWith(eventParamsSchema, request.params, 'path');
        const { size } = parseWith(eventQuerySchema, request.query, 'query');
        const served = source.views.size;
        const n = size ?? served;
        if (n > served) throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `size ${n} is beyond the log's ${served} events`, { fix: 'ask for a size up to GET /v1/status size' });
        if (seq >= n) throw steleError('STELE_E_NOT_FOUND', `the log of size ${n} has no event ${seq}`, { fix: 'GET /v1/status shows the size' });
        return send(reply, builder().eventBundle(seq, { size: n }));
      },
    },
    {
      method: 'GET',
      url: '/v1/proofs/state/:key',
      summary: 'A proof bundle of the state KEY (as `stele prove state KEY` writes it): its value or its absence as of the newest signed checkpoint at or before the position, whose signed stateRoot the proof leads to',
      query: stateQuerySchema,
      responses: { 200: { description: 'the bundle file (canonical JSON and a newline); X-Stele-Anchored says whether a signed checkpoint anchors it', schema: stateBundleSchema } },
      errors: [400, 413, 500, 503],
      handler: (request, reply) => {
        const key = (request.params as { key: string }).key;
        if (Buffer.byteLength(key) > limits.kvKeyBytesMax * 2) throw steleError('STELE_E_INPUT_TOO_LARGE', 'the key is longer than any state key can be', { fix: 'check the key' });
        const q = parseWith(stateQuerySchema, request.query, 'query');
        if (q.at !== undefined && q.atTime !== undefined) throw steleError('STELE_E_USAGE', 'give at or atTime, not both', { fix: 'see GET /v1/openapi.json' });
        const served = source.views.size;
        let atSize: number | undefined;
        if (q.at !== undefined) {
          if (q.at >= served) throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `the log of size ${served} has no event ${q.at}`, { fix: 'ask for a position up to GET /v1/status size - 1' });
          atSize = q.at + 1;
        } else if (q.atTime !== undefined) {
          atSize = Math.min(served, resolveAt(source.dataDir, { time: q.atTime }));
        }
        return send(reply, builder().stateBundle(key, atSize === undefined ? {} : { atSize }));
      },
    },
  ];
}

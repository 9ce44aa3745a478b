/**
 * The field schemas shared by the ledger's commands and events: ids, memos, metadata.
 * Limits come from `limits.ts`; each string limit is in UTF-8 bytes (the refinement) and,
 * as a necessary condition a JSON Schema validator can check, in characters (`max`: a
 * character is at least one UTF-8 byte).
 */
import { z } from 'zod';
import { utf8ByteLength } from '../../canonical/utf8.js';
import { anyJson } from '../../events/envelope.js';
import { limits } from '../../limits.js';

/** An account id or a movement id: non-empty, at most `limits.idBytesMax` UTF-8 bytes. */
export const ledgerIdSchema = z
  .string()
  .min(1, 'id must not be empty')
  .max(limits.idBytesMax, `id must be at most ${limits.idBytesMax} UTF-8 bytes`)
  .refine((s) => utf8ByteLength(s) <= limits.idBytesMax, `id must be at most ${limits.idBytesMax} UTF-8 bytes`);

/** A transfer memo: a reference, at most `limits.memoBytesMax` UTF-8 bytes (may be empty). */
export const memoSchema = z
  .string()
  .max(limits.memoBytesMax, `memo must be at most ${limits.memoBytesMax} UTF-8 bytes`)
  .refine((s) => utf8ByteLength(s) <= limits.memoBytesMax, `memo must be at most ${limits.memoBytesMax} UTF-8 bytes`);

/** Account metadata: any JSON object (its size is bounded by the line limit, its depth by the canonical codec). */
export const metaSchema = z.record(z.string(), anyJson).meta({ description: 'account metadata: any JSON object' });

/**
 * The event payloads and command payloads of the audit module, as strict zod schemas (they
 * also generate `schemas/events/audit.*.json`). Every string has a byte bound so that every
 * record fits one log line (`limits.lineBytesMax`), apart from escapes of control
 * characters, which the writer's line limit then refuses with a typed error.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';
import { utf8ByteLength } from '../../canonical/utf8.js';
import { hash64Pattern, typePattern } from '../../events/envelope.js';
import type { EventTypeDef } from '../../events/registry.js';
import { limits } from '../../limits.js';
import { refuseProtoKey } from '../records.js';

/**
 * The outcome of an execution (and of each of its layers):
 * - `succeeded`: it ran to completion and its effects were committed;
 * - `failed`: it ran and ended in an error (its own fault or its environment's);
 * - `blocked`: a protection layer refused it before or while it ran (see audit.attack);
 * - `timeout`: it exceeded its time budget and was stopped.
 * Only `succeeded` counts as a success in the success rate.
 */
export const executionStatuses = ['succeeded', 'failed', 'blocked', 'timeout'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

/** Rejection reasons of the audit module's guards (stable API, like error codes). */
export const auditReasons = {
  /** An execution with this txId was already recorded with a different body. */
  txConflict: 'AUDIT_TX_CONFLICT',
} as const;

/**
 * Free text (an intent, a layer detail, a rejection message): a sentence, not a document, so
 * it shares the memo bound (`limits.memoBytesMax`).
 */
export const auditTextBytesMax = limits.memoBytesMax;

// A maximal execution record: 32 layers of (name, detail, status, time) plus the fixed fields.
assert.ok(
  limits.auditTagsMax * (limits.idBytesMax + auditTextBytesMax + 64) + auditTextBytesMax + 4 * 80 + limits.idBytesMax < limits.lineBytesMax,
  'a maximal audit execution record must fit in a line',
);
assert.ok(limits.auditTagsMax * (limits.idBytesMax + auditTextBytesMax + 8) + limits.idBytesMax + 64 < limits.lineBytesMax, 'a maximal telemetry sample must fit in a line');

/** A name (tx id, layer, attack type, metric, tag key): non-empty, at most `limits.idBytesMax` UTF-8 bytes. */
export const auditNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => utf8ByteLength(s) <= limits.idBytesMax, `must be at most ${limits.idBytesMax} UTF-8 bytes`);

const textSchema = z.string().refine((s) => utf8ByteLength(s) <= auditTextBytesMax, `must be at most ${auditTextBytesMax} UTF-8 bytes`);
const hex64 = z.string().regex(hash64Pattern, 'must be 64 lowercase hex characters (a SHA-256)');
/** A duration in milliseconds: finite (zod 4 numbers are) and not negative. */
const elapsedMsSchema = z.number().min(0, 'must not be negative');
export const executionStatusSchema = z.enum(executionStatuses);

const layerSchema = z
  .object({
    layer: auditNameSchema,
    status: executionStatusSchema,
    elapsedMs: elapsedMsSchema.optional(),
    detail: textSchema.optional(),
  })
  .strict();

/** `audit.execution` and `audit.execution_recorded@1`: the same payload. */
export const executionData = z
  .object({
    txId: auditNameSchema,
    /** The vault bundle that was executed, if any. */
    bundle: hex64.optional(),
    intent: textSchema.refine((s) => s.length > 0, 'must not be empty'),
    status: executionStatusSchema,
    elapsedMs: elapsedMsSchema,
    /** Per-layer results, in the order the layers ran. */
    layers: z.array(layerSchema).max(limits.auditTagsMax, `at most ${limits.auditTagsMax} layers`).optional(),
    stateRootBefore: hex64.optional(),
    stateRootAfter: hex64.optional(),
  })
  .strict();
export type ExecutionData = z.infer<typeof executionData>;

const severitySchema = z.number().min(0, 'severity is in 0…1').max(1, 'severity is in 0…1');

/** `audit.attack`: the snippet may be any length; decide truncates it. */
export const attackCommandData = z
  .object({
    type: auditNameSchema,
    layer: auditNameSchema,
    severity: severitySchema,
    snippet: z.string().optional(),
    txId: auditNameSchema.optional(),
  })
  .strict();
export type AttackCommandData = z.infer<typeof attackCommandData>;

/**
 * `audit.attack_blocked@1`: when a snippet is present, `snippetBytes` is the UTF-8 length
 * of the original and `truncated` says whether the snippet was cut to
 * `limits.attackSnippetBytesMax` bytes (then it is the longest prefix that fits, so it is
 * within 3 bytes of the cap).
 */
export const attackBlockedData = z
  .object({
    type: auditNameSchema,
    layer: auditNameSchema,
    severity: severitySchema,
    snippet: z.string().optional(),
    snippetBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    truncated: z.boolean().optional(),
    txId: auditNameSchema.optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.snippet === undefined) {
      if (d.snippetBytes !== undefined || d.truncated !== undefined) ctx.addIssue({ code: 'custom', message: 'snippetBytes and truncated describe a snippet: absent without one', path: ['snippetBytes'] });
      return;
    }
    if (d.snippetBytes === undefined || d.truncated === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a snippet comes with snippetBytes and truncated', path: ['snippetBytes'] });
      return;
    }
    const kept = utf8ByteLength(d.snippet);
    const cap = limits.attackSnippetBytesMax;
    const consistent = d.truncated ? kept <= cap && kept > cap - 4 && d.snippetBytes > cap : kept <= cap && d.snippetBytes === kept;
    if (!consistent) ctx.addIssue({ code: 'custom', message: `snippet (${kept} bytes) does not match snippetBytes ${d.snippetBytes} and truncated ${d.truncated} under the ${cap}-byte cap`, path: ['snippet'] });
  });

/** `audit.telemetry` and `audit.telemetry_sampled@1`. */
export const telemetryData = z
  .object({
    metric: auditNameSchema,
    value: z.number(),
    /** Tag name → value; no `__proto__` key (records.ts). */
    tags: refuseProtoKey(
      z.record(auditNameSchema, textSchema).refine((t) => Object.keys(t).length <= limits.auditTagsMax, `at most ${limits.auditTagsMax} tags`),
    ).optional(),
  })
  .strict();
export type TelemetryData = z.infer<typeof telemetryData>;

/** `audit.command_rejected@1`, written by the runtime (see `rejectionEvent`). */
export const commandRejectedData = z
  .object({
    /** The command's name, `<module>.<verb>`. */
    cmd: z.string().max(limits.typeNameBytesMax).regex(typePattern, 'must be a command name, <module>.<verb>'),
    /** The module's stable reason code, UPPER_SNAKE. */
    reason: z
      .string()
      .max(limits.idBytesMax)
      .regex(/^[A-Z][A-Z0-9_]*$/, 'must be an UPPER_SNAKE reason code'),
    message: textSchema,
    path: textSchema.optional(),
    /** SHA-256 (hex) of the RFC 8785 canonical JSON of the refused command's `data`. */
    dataHash: hex64,
  })
  .strict();
export type CommandRejectedData = z.infer<typeof commandRejectedData>;

export const executionRecordedV1: EventTypeDef = {
  type: 'audit.execution_recorded',
  v: 1,
  description: 'An execution (a transaction run through the protection layers) finished with this status, timing and per-layer results.',
  schema: executionData,
};

export const attackBlockedV1: EventTypeDef = {
  type: 'audit.attack_blocked',
  v: 1,
  description: 'A protection layer blocked an attack; the snippet of its payload is truncated to limits.attackSnippetBytesMax UTF-8 bytes.',
  schema: attackBlockedData,
};

export const telemetrySampledV1: EventTypeDef = {
  type: 'audit.telemetry_sampled',
  v: 1,
  description: 'One sample of a named metric, with optional string tags.',
  schema: telemetryData,
};

export const commandRejectedV1: EventTypeDef = {
  type: 'audit.command_rejected',
  v: 1,
  description: "A module's guard refused a command of an authenticated caller (DESIGN.md §7): the decision, without the refused data, only its hash.",
  schema: commandRejectedData,
};

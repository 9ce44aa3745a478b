/**
 * The audit module: what happened to the executions, the attacks and the commands, and the
 * dashboard statistics over them (DESIGN.md §7).
 *
 * Commands → events (none may be appended directly: their guards keep the invariants):
 * - `audit.execution {txId, bundle?, intent, status, elapsedMs, layers?, stateRootBefore?,
 *   stateRootAfter?}` → `audit.execution_recorded@1` (same payload). Idempotent by txId: the
 *   same txId with the same body is a no-op returning the first result `{txId, seq}`; with
 *   another body it is refused with AUDIT_TX_CONFLICT. Statuses: schemas.ts.
 * - `audit.attack {type, layer, severity, snippet?, txId?}` → `audit.attack_blocked@1`
 *   `{type, layer, severity, snippet?, snippetBytes?, truncated?, txId?}`: a snippet longer
 *   than `limits.attackSnippetBytesMax` UTF-8 bytes is cut at a character boundary,
 *   `snippetBytes` keeps the original length and `truncated` says whether it was cut.
 * - `audit.telemetry {metric, value, tags?}` → `audit.telemetry_sampled@1` (same payload).
 * - `audit.command_rejected@1 {cmd, reason, message, path?, dataHash}` is no command: the
 *   runtime writes it, through `rejectionEvent`, when a guard of any module refuses a command
 *   of an authenticated caller ("every rejected command is recorded as a decision").
 *
 * Results shown to the caller: `{txId, seq}` (seq of the recorded event, also for a
 * deduplicated retry), `{seq, truncated}` for an attack, `{seq}` for a telemetry sample.
 *
 * Authenticated state: `execution:<txId>` → the execution record and the `seq` of its event
 * (the idempotency check reads it). Attacks, telemetry and rejections are only in the log
 * and in the statistics.
 * Private state: the statistics (stats.ts), view `stats`, snapshot codec stats.ts.
 * Reason codes: AUDIT_TX_CONFLICT.
 */
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { canonicalize } from '../../canonical/json.js';
import type { JsonObject, JsonValue } from '../../canonical/json.js';
import { hash64Pattern, typePattern } from '../../events/envelope.js';
import { limits } from '../../limits.js';
import { invariantBroken, snapshotInvalid } from '../errors.js';
import { defineCommand, defineModule } from '../module.js';
import type { Decision, DomainEvent, Evolution, NewEvent, Rejection, StateReader } from '../module.js';
import {
  attackBlockedV1,
  attackCommandData,
  auditReasons,
  auditTextBytesMax,
  commandRejectedV1,
  executionData,
  executionRecordedV1,
  telemetryData,
  telemetrySampledV1,
} from './schemas.js';
import type { AttackCommandData, ExecutionData, ExecutionStatus, TelemetryData } from './schemas.js';
import { AuditState, AuditStateFormatError, decodeAuditState, encodeAuditState, statsView } from './stats.js';
import { truncateUtf8 } from './truncate.js';

export { auditReasons, executionStatuses } from './schemas.js';
export { AuditState } from './stats.js';

/** The authenticated key of an execution record. */
export function executionStateKey(txId: string): string {
  return `execution:${txId}`;
}

/** The event payload of an execution, with no absent optional field spelled out. */
function executionPayload(data: ExecutionData): JsonObject {
  const out: JsonObject = { txId: data.txId, intent: data.intent, status: data.status, elapsedMs: data.elapsedMs };
  if (data.bundle !== undefined) out['bundle'] = data.bundle;
  if (data.layers !== undefined) {
    out['layers'] = data.layers.map((l) => {
      const layer: JsonObject = { layer: l.layer, status: l.status };
      if (l.elapsedMs !== undefined) layer['elapsedMs'] = l.elapsedMs;
      if (l.detail !== undefined) layer['detail'] = l.detail;
      return layer;
    });
  }
  if (data.stateRootBefore !== undefined) out['stateRootBefore'] = data.stateRootBefore;
  if (data.stateRootAfter !== undefined) out['stateRootAfter'] = data.stateRootAfter;
  return out;
}

function decideExecution(data: ExecutionData, entries: StateReader, seq: number): Decision {
  const payload = executionPayload(data);
  const existing = entries.get(executionStateKey(data.txId));
  if (existing !== undefined) {
    const { seq: firstSeqValue, ...firstBody } = existing as JsonObject;
    const firstSeq = firstSeqValue as number;
    // Same body: canonical JSON equality, so key order and -0 versus 0 do not matter.
    if (canonicalize(firstBody) === canonicalize(payload)) return { ok: true, events: [], result: { txId: data.txId, seq: firstSeq } };
    return {
      ok: false,
      rejection: {
        reason: auditReasons.txConflict,
        message: `execution ${data.txId} was already recorded at seq ${firstSeq} with a different body`,
        path: 'data.txId',
        detail: { txId: data.txId, seq: firstSeq },
      },
    };
  }
  return { ok: true, events: [{ type: executionRecordedV1.type, data: payload }], result: { txId: data.txId, seq } };
}

function decideAttack(data: AttackCommandData, seq: number): Decision {
  const payload: JsonObject = { type: data.type, layer: data.layer, severity: data.severity };
  let truncated = false;
  if (data.snippet !== undefined) {
    const cut = truncateUtf8(data.snippet, limits.attackSnippetBytesMax);
    payload['snippet'] = cut.text;
    payload['snippetBytes'] = cut.bytes;
    payload['truncated'] = cut.truncated;
    truncated = cut.truncated;
  }
  if (data.txId !== undefined) payload['txId'] = data.txId;
  return { ok: true, events: [{ type: attackBlockedV1.type, data: payload }], result: { seq, truncated } };
}

function decideTelemetry(data: TelemetryData, seq: number): Decision {
  const payload: JsonObject = { metric: data.metric, value: data.value };
  if (data.tags !== undefined) payload['tags'] = { ...data.tags };
  return { ok: true, events: [{ type: telemetrySampledV1.type, data: payload }], result: { seq } };
}

/**
 * The `audit.command_rejected@1` event that records a guard's refusal of `cmd` (DESIGN.md
 * §7). `dataHash` is the SHA-256 (lowercase hex) of the RFC 8785 canonical JSON of the
 * refused command's `data`, computed by the caller (this module stays free of I/O and of
 * node:crypto); the data itself is not recorded. The message and path are cut to
 * `auditTextBytesMax` UTF-8 bytes at a character boundary; the rejection's `detail` is not
 * recorded. A bad `cmd`, reason code or hash is a bug of the caller or of the rejecting
 * module's contract (module.ts) and fails an assertion.
 */
export function rejectionEvent(cmd: string, rejection: Rejection, dataHash: string): NewEvent {
  assert.ok(typePattern.test(cmd) && cmd.length <= limits.typeNameBytesMax, `rejectionEvent: ${cmd} is not a command name`);
  assert.ok(/^[A-Z][A-Z0-9_]*$/.test(rejection.reason) && rejection.reason.length <= limits.idBytesMax, `rejectionEvent: reason ${rejection.reason} is not an UPPER_SNAKE code`);
  assert.ok(hash64Pattern.test(dataHash), 'rejectionEvent: dataHash must be 64 lowercase hex characters');
  const data: JsonObject = { cmd, reason: rejection.reason, message: truncateUtf8(rejection.message, auditTextBytesMax).text };
  if (rejection.path !== undefined) data['path'] = truncateUtf8(rejection.path, auditTextBytesMax).text;
  data['dataHash'] = dataHash;
  return { type: commandRejectedV1.type, v: commandRejectedV1.v, data };
}

/**
 * The reducer. Hot path (replay of large audit logs): the statistics are updated in place,
 * and the events that write no entry return the state's one preallocated evolution.
 */
function evolve(state: AuditState, event: DomainEvent, entries: StateReader): Evolution<AuditState> {
  const data = event.data;
  switch (event.type) {
    case 'audit.execution_recorded': {
      const key = executionStateKey(data['txId'] as string);
      if (entries.get(key) !== undefined) throw invariantBroken(event, `execution ${data['txId'] as string} is already recorded`);
      state.recordExecution(data['status'] as ExecutionStatus, data['elapsedMs'] as number);
      const record: JsonObject = { ...data, seq: event.seq };
      return { state, writes: [{ key, value: record }] };
    }
    case 'audit.attack_blocked':
      state.recordAttack(data['type'] as string, data['layer'] as string, data['severity'] as number);
      return state.unchanged;
    case 'audit.telemetry_sampled':
      state.recordTelemetry(data['metric'] as string, data['value'] as number);
      return state.unchanged;
    case 'audit.command_rejected':
      state.recordRejection(data['reason'] as string);
      return state.unchanged;
    default:
      throw invariantBroken(event, `the audit module has no event type ${event.type}`);
  }
}

export const auditModule = defineModule<AuditState>({
  name: 'audit',
  version: 1,
  description: 'Execution, attack and telemetry records, every rejected command as a decision, and the dashboard statistics over them.',
  events: [executionRecordedV1, attackBlockedV1, telemetrySampledV1, commandRejectedV1],
  keyPrefixes: ['execution:'],
  commands: [
    defineCommand<AuditState, z.infer<typeof executionData>>({
      name: 'audit.execution',
      description: 'Record how an execution ended; idempotent by txId (the same body again is a no-op, another body is AUDIT_TX_CONFLICT).',
      schema: executionData,
      decide: (data, { entries, seq }) => decideExecution(data, entries, seq),
    }),
    defineCommand<AuditState, z.infer<typeof attackCommandData>>({
      name: 'audit.attack',
      description: `Record a blocked attack; a snippet over ${limits.attackSnippetBytesMax} UTF-8 bytes is truncated.`,
      schema: attackCommandData,
      decide: (data, { seq }) => decideAttack(data, seq),
    }),
    defineCommand<AuditState, z.infer<typeof telemetryData>>({
      name: 'audit.telemetry',
      description: 'Record one sample of a named metric.',
      schema: telemetryData,
      decide: (data, { seq }) => decideTelemetry(data, seq),
    }),
  ],
  initialState: () => new AuditState(),
  evolve,
  checkInvariants: (state, entries) => {
    const byStatus = state.executionsByStatus.reduce((a, b) => a + b, 0);
    if (byStatus !== state.executionsTotal) return `executions by status sum to ${byStatus}, the total is ${state.executionsTotal}`;
    const records = entries.count('execution:');
    if (records !== state.executionsTotal) return `${records} execution records in the state, ${state.executionsTotal} executions counted`;
    if (state.executionElapsedMs.count !== state.executionsTotal) return 'the elapsed-time histogram does not count every execution';
    if (state.attackSeverity.count !== state.attacksTotal) return 'the severity histogram does not count every attack';
    return undefined;
  },
  snapshot: {
    encode: encodeAuditState,
    decode: (json: JsonValue) => {
      try {
        return decodeAuditState(json);
      } catch (err) {
        if (err instanceof AuditStateFormatError) throw snapshotInvalid('audit', err.message);
        throw err;
      }
    },
  },
  views: {
    stats: (state) => statsView(state),
  },
});

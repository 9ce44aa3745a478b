/**
 * The writing routes of `stele serve` (DESIGN.md §9): commands (one JSON command, or an
 * NDJSON batch) and bundle uploads. Every one needs the bearer token; each response is sent
 * only once its events are durable (the engine's group commit acknowledges after fsync).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonObject, JsonValue } from '../canonical/json.js';
import { parseJsonBytes } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { limits } from '../limits.js';
import { putBundle } from '../runtime/bundles.js';
import type { CommandResult, Engine, RunOptions } from '../runtime/engine.js';
import { statusOf } from './http-errors.js';
import type { ApiRoute } from './read-routes.js';
import { bundleResultSchema, commandResultSchema, commandSchema, ndjsonCommandSchema } from './schemas.js';

export const jsonType = 'application/json';
export const ndjsonType = 'application/x-ndjson';

/** What the writing routes need: the engine, or the reason there is none (panic mode). */
export interface WriteTarget {
  engine(): Engine;
}

export function writeRoutes(target: WriteTarget): ApiRoute[] {
  return [
    {
      method: 'POST',
      url: '/v1/commands',
      summary: 'Run one command (application/json) or a batch (application/x-ndjson, one command per line)',
      description:
        'Answered once the events are durable. A guard rejection is 409 STELE_E_REJECTED with detail.reason (recorded in the log as audit.command_rejected). ' +
        'Idempotency-Key header (JSON) or idempotencyKey per line (NDJSON): a retry gets the first response. NDJSON responses are 200 with one result per non-empty line.',
      auth: true,
      body: { [jsonType]: commandSchema, [ndjsonType]: ndjsonCommandSchema },
      responses: { 200: { description: 'the command result (JSON) or one result per line (NDJSON)', schema: commandResultSchema } },
      errors: [400, 401, 403, 409, 413, 415, 503, 507],
      handler: async (request, reply) => {
        const engine = target.engine();
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        if (isNdjson(request)) {
          if (request.headers['idempotency-key'] !== undefined) {
            throw steleError('STELE_E_USAGE', 'the Idempotency-Key header applies to one command; an NDJSON batch carries idempotencyKey on each line', { fix: 'put "idempotencyKey" into each line instead' });
          }
          return reply.type(`${ndjsonType}; charset=utf-8`).send(await runBatch(engine, body));
        }
        const command = parseCommand(parseJsonBytes(body), undefined);
        const key = headerKey(request);
        const out = await markReplayedRefusal(reply, engine.run(command.input, runOptions(command.expectedSeq, key)));
        if (out.replayed === true) void reply.header('idempotent-replayed', 'true');
        return { ok: true, cmd: command.input.cmd, result: out.result ?? null, acks: out.acks, ...(out.replayed === true ? { replayed: true } : {}) };
      },
    },
    {
      method: 'PUT',
      url: '/v1/bundles',
      summary: 'Upload a bundle: its bytes go to the content-addressed vault, its record (vault.put) into the log',
      description: 'The request Content-Type is recorded as the media type. Storing the same bytes again is a no-op returning the first record. Idempotency-Key is honoured.',
      auth: true,
      body: { '*/*': { binary: true } },
      responses: { 200: { description: 'the stored bundle', schema: bundleResultSchema } },
      errors: [400, 401, 403, 409, 413, 503, 507],
      handler: async (request, reply) => {
        const engine = target.engine();
        // Fastify runs no content parser for an empty body without a Content-Type: no body
        // is an empty bundle, not a missing one.
        const bytes = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const mediaType = (request.headers['content-type'] ?? 'application/octet-stream').trim();
        if (Buffer.byteLength(mediaType) > limits.mediaTypeBytesMax) {
          throw steleError('STELE_E_INPUT_TOO_LARGE', `the media type is over ${limits.mediaTypeBytesMax} bytes`, { fix: 'send a shorter Content-Type' });
        }
        const key = headerKey(request);
        const put = await markReplayedRefusal(reply, putBundle(engine, bytes, mediaType, undefined, key === undefined ? {} : { idempotencyKey: key }));
        if (put.command.replayed === true) void reply.header('idempotent-replayed', 'true');
        return { ok: true, sha256: put.sha256, size: put.size, stored: put.stored, result: put.command.result ?? null, acks: put.command.acks };
      },
    },
  ];
}

/**
 * A replayed rejection is an error like the first response, and carries the same
 * `Idempotent-Replayed: true` header as a replayed success (the error handler keeps the
 * headers already set on the reply).
 */
async function markReplayedRefusal<T>(reply: FastifyReply, run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (err) {
    if (isSteleError(err) && err.detail?.['replayed'] === true) void reply.header('idempotent-replayed', 'true');
    throw err;
  }
}

function isNdjson(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === ndjsonType;
}

function headerKey(request: FastifyRequest): string | undefined {
  const key = request.headers['idempotency-key'];
  if (Array.isArray(key)) throw steleError('STELE_E_USAGE', 'one Idempotency-Key header per request', { fix: 'send the header once' });
  return key;
}

function runOptions(expectedSeq: number | undefined, key: string | undefined): RunOptions {
  const options: RunOptions = {};
  if (expectedSeq !== undefined) options.expectedSize = expectedSeq;
  if (key !== undefined) options.idempotencyKey = key;
  return options;
}

interface ParsedCommand {
  input: { cmd: string; data: unknown; meta?: JsonObject };
  expectedSeq: number | undefined;
  idempotencyKey: string | undefined;
}

/** Splits the HTTP-only fields (expectedSeq, idempotencyKey) off a command object. */
function parseCommand(value: JsonValue, line: number | undefined): ParsedCommand {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw steleError('STELE_E_SCHEMA', 'a command is a JSON object {cmd, data, meta?, expectedSeq?}', { ...(line === undefined ? {} : { where: { inputLine: line } }), fix: 'send {"cmd":"kv.put","data":{"key":"a","value":1}}' });
  }
  const { expectedSeq, idempotencyKey, ...input } = value;
  if (expectedSeq !== undefined && (typeof expectedSeq !== 'number' || !Number.isSafeInteger(expectedSeq) || expectedSeq < 0)) {
    throw steleError('STELE_E_SCHEMA', 'expectedSeq must be an integer ≥ 0', { where: { path: 'expectedSeq', ...(line === undefined ? {} : { inputLine: line }) }, fix: 'send the seq the first event must get (the current log size), or leave it out' });
  }
  if (idempotencyKey !== undefined && (line === undefined || typeof idempotencyKey !== 'string')) {
    throw steleError('STELE_E_SCHEMA', line === undefined ? 'idempotencyKey goes into the Idempotency-Key header for a single command' : 'idempotencyKey must be a string', { where: { path: 'idempotencyKey' }, fix: 'see docs/http-api.md' });
  }
  return { input: input as ParsedCommand['input'], expectedSeq, idempotencyKey };
}

type LineResult = ({ line: number } & { ok: true; cmd: string; result: JsonValue; acks: CommandResult['acks']; replayed?: true }) | { line: number; ok: false; status: number; error: ReturnType<SteleError['toJSON']> };

/**
 * An NDJSON batch: every line is validated and submitted in order, in the same turn, so the
 * lines share group commits and are decided in input order, each seeing the lines before it
 * (the writer decides queued commands first in, first out). One result per non-empty line.
 */
async function runBatch(engine: Engine, body: Buffer): Promise<string> {
  // Split and count first, submit after: a batch over the limit is refused before any of
  // its lines reaches the engine (a 413 must write nothing).
  const lines: { bytes: Buffer; lineNumber: number }[] = [];
  let lineNumber = 0;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(0x0a, start);
    if (end < 0) end = body.length;
    lineNumber++;
    const bytes = body.subarray(start, end);
    start = end + 1;
    if (isBlank(bytes)) continue;
    if (lines.length >= limits.requestCommandsMax) {
      throw steleError('STELE_E_BATCH_TOO_LARGE', `more than ${limits.requestCommandsMax} commands in one request`, { fix: `split the batch into requests of at most ${limits.requestCommandsMax} lines` });
    }
    lines.push({ bytes, lineNumber });
  }
  const pending = lines.map((l) => runLine(engine, l.bytes, l.lineNumber));
  const results = await Promise.all(pending);
  let out = '';
  for (const r of results) out += `${JSON.stringify(r)}\n`;
  return out;
}

async function runLine(engine: Engine, bytes: Buffer, line: number): Promise<LineResult> {
  try {
    if (bytes.length > limits.lineBytesMax) {
      throw steleError('STELE_E_LINE_TOO_LARGE', `line ${line} is ${bytes.length} bytes, over the limit of ${limits.lineBytesMax}`, { where: { inputLine: line }, fix: 'store large content as a bundle (PUT /v1/bundles)' });
    }
    const command = parseCommand(parseJsonBytes(bytes), line);
    const out = await engine.run(command.input, runOptions(command.expectedSeq, command.idempotencyKey));
    return { line, ok: true, cmd: command.input.cmd, result: out.result ?? null, acks: out.acks, ...(out.replayed === true ? { replayed: true as const } : {}) };
  } catch (err) {
    if (!isSteleError(err)) throw err;
    const located = err.where?.inputLine === undefined ? err.at({ inputLine: line }) : err;
    return { line, ok: false, status: statusOf(located), error: located.toJSON() };
  }
}

function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

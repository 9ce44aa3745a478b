/**
 * The read API (issue #4 item 2), served by both `stele serve` and `stele observe` from a
 * `ReadSource`. Handlers are small: queries are validated with the zod schemas of
 * schemas.ts, lines come from the log file through the views' index, and responses that
 * carry many events are assembled from the lines' text rather than parsed and
 * re-serialised.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { JsonObject } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { fromHex } from '../hash/hex.js';
import { sha256, sha256Hex } from '../hash/sha256.js';
import { limits } from '../limits.js';
import { formatStateProof } from '../proof/state-proof.js';
import { tsToMs } from '../views/log-index.js';
import type { RouteDoc } from './openapi.js';
import {
  accountAtSchema,
  accountQuerySchema,
  accountSchema,
  atQuerySchema,
  bundleParamsSchema,
  bundleSchema,
  consistencyProofSchema,
  consistencyQuerySchema,
  eventWithProofSchema,
  eventsPageSchema,
  eventsQuerySchema,
  seqParamsSchema,
  seriesQuerySchema,
  seriesSchema,
  sizeQuerySchema,
  stateResponseSchema,
  statsSchema,
  statusSchema,
  streamQuerySchema,
} from './schemas.js';
import type { ReadSource } from './source.js';
import { TimeTravel, atOf } from './time-travel.js';
import { eventJson } from './source.js';
import { requestLastEventId } from './stream.js';

export interface ApiRoute extends RouteDoc {
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
}

/** Validates a query or params object; a violation is STELE_E_SCHEMA (400) with the zod issues. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw steleError('STELE_E_SCHEMA', `${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
    where: { path: issue.path.join('.') },
    fix: 'see GET /v1/openapi.json for the parameters of this route',
    detail: { issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), code: i.code, message: i.message })) },
  });
}

/** Lines read per step while filling a filtered page. */
const eventsChunkLines = 512;

export function readRoutes(source: ReadSource): ApiRoute[] {
  const json = (reply: FastifyReply, body: string): FastifyReply => reply.type('application/json; charset=utf-8').send(body);
  const travel = new TimeTravel(source.dataDir);
  return [
    {
      method: 'GET',
      url: '/v1/status',
      summary: 'Log size, roots, head hash, integrity and lag',
      responses: { 200: { description: 'status', schema: statusSchema } },
      errors: [],
      handler: () => source.status(),
    },
    {
      method: 'GET',
      url: '/v1/stats',
      summary: 'Audit statistics (executions, attacks, telemetry, rejections), ledger totals and event counts by type',
      query: atQuerySchema,
      responses: { 200: { description: 'statistics (with ?at=: as of that position, plus `at`)', schema: statsSchema } },
      errors: [400, 503],
      handler: (request) => {
        const at = atOf(parseWith(atQuerySchema, request.query, 'query'));
        if (at !== undefined) return travel.answer({ at, route: 'stats' });
        const machine = source.machine();
        const audit = machine.view('audit', 'stats') as JsonObject;
        return { ...audit, ledger: machine.view('ledger', 'totals'), eventTypes: source.views.index.typeCounts(), size: machine.size };
      },
    },
    {
      method: 'GET',
      url: '/v1/events',
      summary: 'Events, paginated by a seq cursor, filtered by type, seq range and time range',
      query: eventsQuerySchema,
      responses: { 200: { description: 'a page of events', schema: eventsPageSchema } },
      errors: [400],
      handler: (request, reply) => json(reply, eventsPage(source, parseWith(eventsQuerySchema, request.query, 'query'))),
    },
    {
      method: 'GET',
      url: '/v1/events/:seq',
      summary: 'One event, its hash, its exact line and its RFC 9162 inclusion proof',
      params: seqParamsSchema,
      query: sizeQuerySchema,
      responses: { 200: { description: 'the event with its proof', schema: eventWithProofSchema } },
      errors: [400, 404],
      handler: (request, reply) => {
        const { seq } = parseWith(seqParamsSchema, request.params, 'path');
        const { size: asked } = parseWith(sizeQuerySchema, request.query, 'query');
        const size = asked ?? source.views.size;
        if (size > source.views.size) throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `size ${size} is beyond the log's ${source.views.size} events`, { fix: 'ask for a size up to GET /v1/status size' });
        if (seq >= size) throw notFound(`the log of size ${size} has no event ${seq}`, 'GET /v1/status shows the size');
        const line = source.lines(seq, seq + 1)[0]!.toString('utf8');
        const hash = sha256Hex(Buffer.from(line, 'utf8'));
        const proof = source.proveInclusion(seq, size);
        return json(reply, `{"event":${eventJson(line, hash)},"hash":"${hash}","line":${JSON.stringify(line)},"proof":${JSON.stringify(proof)}}`);
      },
    },
    {
      method: 'GET',
      url: '/v1/consistency',
      summary: 'RFC 9162 consistency proof between the log of size `from` and of size `to` (default: current)',
      query: consistencyQuerySchema,
      responses: { 200: { description: 'the proof', schema: consistencyProofSchema } },
      errors: [400],
      handler: (request) => {
        const q = parseWith(consistencyQuerySchema, request.query, 'query');
        const to = q.to ?? source.views.size;
        if (q.from > to || to > source.views.size) {
          throw steleError('STELE_E_SIZE_OUT_OF_RANGE', `sizes must satisfy from ≤ to ≤ ${source.views.size}`, { found: `from=${q.from} to=${to}`, fix: 'ask for sizes up to GET /v1/status size' });
        }
        return source.proveConsistency(q.from, to);
      },
    },
    {
      method: 'GET',
      url: '/v1/accounts/:id',
      summary: "A ledger account: its authenticated state and its history, newest first, with the balance after each change",
      query: accountQuerySchema,
      responses: { 200: { description: 'the account (with ?at=: as of that position, without the history)', schema: z.union([accountSchema, accountAtSchema]) } },
      errors: [400, 404, 503],
      handler: (request) => {
        const id = (request.params as { id: string }).id;
        const q = parseWith(accountQuerySchema, request.query, 'query');
        const at = atOf(q);
        if (at !== undefined) return travel.answer({ at, route: 'account', id });
        const state = source.machine().entries.get(`account:${id}`) as JsonObject | undefined;
        if (state === undefined) throw notFound(`no ledger account ${id}`, 'open it with the ledger.open command, or check the id');
        const page = source.views.accounts.history(id, q.before === undefined ? { limit: q.limit } : { before: q.before, limit: q.limit });
        const index = source.views.index;
        const history = (page?.entries ?? []).map((e) => ({ ...e, ts: new Date(index.tsMs(e.seq)).toISOString() }));
        const balance = (state['balance'] as string);
        return {
          id,
          balance,
          allowNegative: state['allowNegative'] === true,
          open: state['open'] === true,
          state,
          history,
          next: page?.next ?? null,
          historyMatchesState: source.views.accounts.balance(id) === balance,
        };
      },
    },
    {
      method: 'GET',
      url: '/v1/state/:key',
      summary: 'A state entry with its inclusion proof, or a proof that the key is absent, against the current state root',
      query: atQuerySchema,
      responses: { 200: { description: 'the entry (found or not) with its proof (with ?at=: as of that position, plus `at`)', schema: stateResponseSchema } },
      errors: [400, 503],
      handler: (request) => {
        const key = (request.params as { key: string }).key;
        if (Buffer.byteLength(key) > limits.kvKeyBytesMax * 2) throw steleError('STELE_E_INPUT_TOO_LARGE', 'the key is longer than any state key can be', { fix: 'check the key' });
        const at = atOf(parseWith(atQuerySchema, request.query, 'query'));
        if (at !== undefined) return travel.answer({ at, route: 'state', key });
        const machine = source.machine();
        const value = machine.entries.get(key);
        const proof = formatStateProof(sha256, key, machine.entries.prove(key), fromHex(machine.stateRoot())!, value);
        return { key, found: value !== undefined, ...(value === undefined ? {} : { value }), size: machine.size, proof };
      },
    },
    {
      method: 'GET',
      url: '/v1/bundles/:sha256',
      summary: "A bundle's metadata (its vault.put record)",
      params: bundleParamsSchema,
      responses: { 200: { description: 'the bundle record', schema: bundleSchema } },
      errors: [400, 404],
      handler: (request) => {
        const { sha256: hash } = parseWith(bundleParamsSchema, request.params, 'path');
        const record = source.machine().entries.get(`bundle:${hash}`) as JsonObject | undefined;
        if (record === undefined) throw notFound(`no bundle ${hash} in the log`, 'upload it with PUT /v1/bundles');
        return { sha256: hash, ...record };
      },
    },
    {
      method: 'GET',
      url: '/v1/bundles/:sha256/content',
      summary: "A bundle's bytes, re-hashed on read",
      params: bundleParamsSchema,
      responses: { 200: { description: 'the bytes, with the recorded media type', contentType: 'application/octet-stream' } },
      errors: [400, 404, 500],
      handler: async (request, reply) => {
        const { sha256: hash } = parseWith(bundleParamsSchema, request.params, 'path');
        const record = source.machine().entries.get(`bundle:${hash}`) as JsonObject | undefined;
        if (record === undefined) throw notFound(`no bundle ${hash} in the log`, 'upload it with PUT /v1/bundles');
        const bytes = await source.vault.get(hash);
        return reply.type((record['mediaType'] as string)).header('x-content-sha256', hash).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    },
    {
      method: 'GET',
      url: '/v1/series',
      summary: 'Events per minute by type, oldest first, ending at the minute of the last event',
      query: seriesQuerySchema,
      responses: { 200: { description: 'the series', schema: seriesSchema } },
      errors: [400],
      handler: (request) => {
        const q = parseWith(seriesQuerySchema, request.query, 'query');
        return { minutes: source.views.series.minutes(q.minutes) };
      },
    },
    {
      method: 'GET',
      url: '/v1/stream',
      summary: 'Server-Sent Events: every new event (id = seq), status changes and integrity alarms; resumable with Last-Event-ID',
      query: streamQuerySchema,
      responses: { 200: { description: 'an event stream', contentType: 'text/event-stream' } },
      errors: [400, 503],
      handler: async (request, reply) => {
        parseWith(streamQuerySchema, request.query, 'query');
        const lastEventId = requestLastEventId(request.raw);
        // The id and the client cap are checked before the hijack, so those errors still get
        // a JSON response; after the hijack the hub owns the socket.
        source.hub.admit(request.raw, lastEventId);
        reply.hijack();
        await source.hub.attach(request.raw, reply.raw, lastEventId);
      },
    },
  ];
}

function notFound(message: string, fix: string) {
  return steleError('STELE_E_NOT_FOUND', message, { fix });
}

/** Builds one page of `GET /v1/events` as JSON text. */
function eventsPage(source: ReadSource, q: z.output<typeof eventsQuerySchema>): string {
  const size = source.views.size;
  const index = source.views.index;
  let lo = q.fromSeq ?? 0;
  let hi = q.toSeq === undefined ? size : Math.min(size, q.toSeq + 1);
  if (q.fromTs !== undefined) lo = Math.max(lo, index.firstSeqAtOrAfter(tsToMs(q.fromTs)));
  if (q.toTs !== undefined) hi = Math.min(hi, index.lastSeqAtOrBefore(tsToMs(q.toTs)) + 1);
  if (q.after !== undefined) lo = Math.max(lo, q.after + 1);
  if (q.before !== undefined) hi = Math.min(hi, q.before);
  const types = q.type === undefined ? undefined : new Set(q.type.split(','));
  const out: string[] = [];
  const asc = q.order === 'asc';
  // asc: the next seq to read; desc: the lowest seq read so far (read below it).
  let cursor = asc ? lo : hi;
  let scanned = 0;
  while (out.length < q.limit && (asc ? cursor < hi : cursor > lo) && scanned < limits.eventsScanMax) {
    // Past eventsScanMax lines the filter matched too little of a long range: the page is
    // returned short with a cursor, rather than pinning a core on one request.
    const from = asc ? cursor : Math.max(lo, cursor - eventsChunkLines);
    const to = asc ? Math.min(hi, cursor + eventsChunkLines) : cursor;
    const lines = source.lines(from, to);
    scanned += lines.length;
    for (let k = 0; k < lines.length; k++) {
      if (out.length >= q.limit) break;
      const i = asc ? k : lines.length - 1 - k;
      const bytes = lines[i]!;
      const seq = from + i;
      cursor = asc ? seq + 1 : seq;
      if (types !== undefined && !types.has(typeOfLine(bytes))) continue;
      out.push(eventJson(bytes.toString('utf8'), sha256Hex(bytes)));
    }
  }
  const more = asc ? cursor < hi : cursor > lo;
  const next = more ? (asc ? cursor - 1 : cursor) : null;
  return `{"events":[${out.join(',')}],"next":${next === null ? 'null' : String(next)}}`;
}

const typeMarker = Buffer.from(',"type":"');

/** The `type` of a canonical event line without parsing it: keys are sorted, `type` is second to last. */
function typeOfLine(bytes: Buffer): string {
  const at = bytes.lastIndexOf(typeMarker);
  const start = at + typeMarker.length;
  const end = bytes.indexOf(0x22, start);
  return bytes.toString('utf8', start, end);
}

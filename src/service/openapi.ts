/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table and its zod
 * schemas (zod's own `toJSONSchema`), never written by hand. Served at
 * `GET /v1/openapi.json`; `stele schemas` writes it beside the event schemas.
 */
import { z } from 'zod';
import type { ZodType } from 'zod';
import { errorSchema } from './schemas.js';

export interface RouteDoc {
  method: 'GET' | 'POST' | 'PUT';
  /** Fastify form (`/v1/events/:seq`); the document uses `{seq}`. */
  url: string;
  summary: string;
  description?: string;
  /** Writing routes need the bearer token (serve only). */
  auth?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request bodies by content type. */
  body?: Record<string, ZodType | { binary: true }>;
  /** Success responses by status: a schema, or a content type for raw bodies. */
  responses: Record<number, { description: string; schema?: ZodType; contentType?: string }>;
  /** Error statuses this route can answer. */
  errors: number[];
}

const errorText: Record<number, string> = {
  400: 'invalid request (STELE_E_SCHEMA with the zod issues, STELE_E_JSON_*, STELE_E_USAGE…)',
  401: 'no or malformed bearer token',
  403: 'wrong bearer token',
  404: 'not found',
  405: 'method not allowed (every non-GET on an observer)',
  409: 'conflict: expectedSeq, idempotency key reused, or a guard rejection (detail.reason)',
  413: 'over a named limit (body, line, batch, path parameter)',
  415: 'unsupported content type',
  500: 'stored data failed verification on read',
  503: 'panic mode, integrity alarm, shutting down, too many stream clients, or the writer stopped (lost lock, fdatasync error, data directory removed or read-only)',
  507: 'the disk is full: nothing of the request was acknowledged; retry once space is freed (STELE_E_DISK_FULL)',
};

function jsonSchema(schema: ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' });
}

function parameters(route: RouteDoc): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (schema === undefined) continue;
    const shape: Record<string, ZodType> = schema.shape;
    for (const [name, field] of Object.entries(shape)) {
      const js = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
      const description = typeof js['description'] === 'string' ? js['description'] : undefined;
      out.push({ name, in: where, required: where === 'path' || !field.safeParse(undefined).success, schema: js, ...(description === undefined ? {} : { description }) });
    }
  }
  return out;
}

export function openApiDocument(routes: readonly RouteDoc[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const url = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op: Record<string, unknown> = { summary: route.summary, operationId: `${route.method.toLowerCase()}${url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}` };
    if (route.description !== undefined) op['description'] = route.description;
    const params = parameters(route);
    if (params.length > 0) op['parameters'] = params;
    if (route.auth === true) op['security'] = [{ bearer: [] }];
    if (route.body !== undefined) {
      const content: Record<string, unknown> = {};
      for (const [type, schema] of Object.entries(route.body)) {
        content[type] = { schema: 'binary' in schema ? { type: 'string', contentMediaType: 'application/octet-stream' } : jsonSchema(schema) };
      }
      op['requestBody'] = { required: true, content };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const type = r.contentType ?? 'application/json';
      responses[status] = { description: r.description, content: { [type]: { schema: r.schema === undefined ? { type: 'string' } : jsonSchema(r.schema) } } };
    }
    for (const status of route.errors) {
      responses[String(status)] = { description: errorText[status] ?? 'error', content: { 'application/json': { schema: jsonSchema(errorSchema) } } };
    }
    op['responses'] = responses;
    (paths[url] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'stele',
      version: info.version,
      description: 'Verifiable, event-sourced, append-only log service. Writing routes exist on `stele serve` only; `stele observe` answers GET/HEAD and 405 to anything else. See docs/http-api.md.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'STELE_TOKEN, --token-file, or <data>/service.token' } } },
    paths,
  };
}

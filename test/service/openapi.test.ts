/**
 * The OpenAPI document is generated from the served routes: every route of the API is in
 * it, with its method, parameters, the bearer requirement on writing routes, and JSON
 * schemas from zod.
 */
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/service/openapi.js';
import { readRoutes } from '../../src/service/read-routes.js';
import type { ReadSource } from '../../src/service/source.js';
import { writeRoutes } from '../../src/service/write-routes.js';

const source = {} as ReadSource;
const doc = openApiDocument([...readRoutes(source), ...writeRoutes({ engine: () => { throw new Error('unused'); } })], { version: 'test' }) as {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown; parameters?: { name: string; in: string; required: boolean }[]; requestBody?: { content: Record<string, unknown> }; responses: Record<string, unknown> }>>;
};

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists every route the issue names', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, method] of [
      ['/v1/commands', 'post'],
      ['/v1/bundles', 'put'],
      ['/v1/status', 'get'],
      ['/v1/stats', 'get'],
      ['/v1/events', 'get'],
      ['/v1/events/{seq}', 'get'],
      ['/v1/consistency', 'get'],
      ['/v1/accounts/{id}', 'get'],
      ['/v1/state/{key}', 'get'],
      ['/v1/bundles/{sha256}', 'get'],
      ['/v1/bundles/{sha256}/content', 'get'],
      ['/v1/series', 'get'],
      ['/v1/stream', 'get'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it('marks exactly the writing routes as needing the bearer token', () => {
    const secured = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([, op]) => op.security !== undefined).map(([m]) => `${m} ${path}`));
    expect(secured.sort()).toEqual(['post /v1/commands', 'put /v1/bundles']);
  });

  it('documents query parameters from the zod schemas, with required flags', () => {
    const events = doc.paths['/v1/events']!['get']!.parameters!;
    expect(events.map((p) => p.name)).toEqual(expect.arrayContaining(['after', 'before', 'limit', 'type', 'fromSeq', 'toSeq', 'fromTs', 'toTs', 'order']));
    expect(events.every((p) => p.in === 'query' && !p.required)).toBe(true);
    const consistency = doc.paths['/v1/consistency']!['get']!.parameters!;
    expect(consistency.find((p) => p.name === 'from')?.required).toBe(true);
    expect(consistency.find((p) => p.name === 'to')?.required).toBe(false);
    expect(Object.keys(doc.paths['/v1/commands']!['post']!.requestBody!.content).sort()).toEqual(['application/json', 'application/x-ndjson']);
    expect(doc.paths['/v1/commands']!['post']!.responses).toHaveProperty('409');
  });
});

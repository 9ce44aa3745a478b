/**
 * The HTTP server of `stele serve` and `stele observe` (Fastify): the read API over a
 * `ReadSource`, the writing routes when a writer is given, the OpenAPI document, the
 * dashboard, and one error format.
 *
 * Edges and limits (docs/limits.md): request bodies (`requestBodyBytesMax`, bundles
 * `bundleBytesMax`), header bytes (`requestHeaderBytesMax`, 431 from Node), header and
 * request timeouts (slow clients), one JSON error object for every failure. An observer
 * (no writer) answers 405 to every method but GET and HEAD, before reading any body.
 */
import http from 'node:http';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { limits } from '../limits.js';
import { loadAssets } from './assets.js';
import { fromFrameworkError, statusOf } from './http-errors.js';
import { openApiDocument } from './openapi.js';
import { readRoutes } from './read-routes.js';
import { checkpointRoutes } from './checkpoint-routes.js';
import { proofRoutes } from './proof-routes.js';
import type { ApiRoute } from './read-routes.js';
import type { ReadSource } from './source.js';
import { TokenCheck } from './token.js';
import type { WriteTarget } from './write-routes.js';
import { jsonType, ndjsonType, writeRoutes } from './write-routes.js';

/** Time a client has to send its request headers (slowloris: a trickle of header bytes). */
export const headersTimeoutMs = 10_000;
/** Time a client has to send a whole request, body included (a maximal bundle at ~1 MB/s). */
export const requestTimeoutMs = 120_000;
/** Idle keep-alive connections are closed after this. */
export const keepAliveTimeoutMs = 5_000;
/**
 * How often Node checks the two timeouts above (its default is 30 s, which would let a
 * slowloris client hold a socket for up to 40 s instead of 10): a scan of the open
 * connections once a second costs nothing measurable.
 */
export const connectionsCheckingIntervalMs = 1_000;

/** The timeouts against slow clients; tests shorten them, the service uses the constants above. */
export interface ServerTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  checkIntervalMs: number;
}

export const serverTimeoutsDefault: ServerTimeouts = {
  headersMs: headersTimeoutMs,
  requestMs: requestTimeoutMs,
  keepAliveMs: keepAliveTimeoutMs,
  checkIntervalMs: connectionsCheckingIntervalMs,
};

export interface ServerOptions {
  source: ReadSource;
  /** The writing side (serve); absent for an observer. */
  writer?: WriteTarget;
  /** The bearer token of the writing routes (required with `writer`). */
  token?: string;
  logger?: Logger;
  version: string;
  /** Slow-client timeouts; `serverTimeoutsDefault` unless given (tests). */
  timeouts?: ServerTimeouts;
}

const allMethods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { source, writer, logger } = options;
  if (writer !== undefined && options.token === undefined) throw new Error('a writer needs a token');
  const tokenCheck = options.token === undefined ? undefined : new TokenCheck(options.token);
  const timeouts = options.timeouts ?? serverTimeoutsDefault;
  if (!(timeouts.headersMs > 0 && timeouts.headersMs <= timeouts.requestMs && timeouts.checkIntervalMs > 0)) throw new Error('server timeouts: 0 < headersMs <= requestMs and checkIntervalMs > 0');
  const app = Fastify({
    bodyLimit: limits.requestBodyBytesMax,
    // State keys are up to kvKeyBytesMax (+ prefix) bytes, percent-encoded up to 3×.
    routerOptions: { maxParamLength: limits.kvKeyBytesMax * 4 },
    // No Fastify logger: stele logs what matters itself (errors, refusals), never per request.
    logger: false,
    // HEAD is added explicitly where it makes sense (never for the event stream).
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // Errors the router meets before any route or hook runs (a malformed percent-encoding in
    // the path, a parameter over maxParamLength): the same typed JSON error as every other.
    frameworkErrors: (err, _request, reply) => {
      void reply.header('x-content-type-options', 'nosniff').header('x-stele-role', source.role);
      void sendError(reply, fromFrameworkError(err) ?? steleError('STELE_E_USAGE', err.message, { fix: 'see GET /v1/openapi.json for the routes' }));
    },
    forceCloseConnections: 'idle',
    serverFactory: (handler) =>
      http.createServer(
        {
          maxHeaderSize: limits.requestHeaderBytesMax,
          headersTimeout: timeouts.headersMs,
          requestTimeout: timeouts.requestMs,
          keepAliveTimeout: timeouts.keepAliveMs,
          connectionsCheckingInterval: timeouts.checkIntervalMs,
        },
        handler,
      ),
  });

  app.removeAllContentTypeParsers();
  const raw = (_request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void): void => done(null, body);
  app.addContentTypeParser([jsonType, ndjsonType], { parseAs: 'buffer' }, raw);
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.bundleBytesMax }, raw);

  app.setErrorHandler((err: unknown, request, reply) => {
    const typed = fromFrameworkError(err);
    if (typed === undefined) {
      logger?.error({ err, method: request.method, url: request.url }, 'request failed with a bug');
      return sendError(reply, steleError('STELE_E_INTERNAL', 'an internal error occurred; it was logged', { fix: 'report it with the request that caused it' }));
    }
    const status = statusOf(typed);
    if (status >= 500) logger?.warn({ err: typed.toJSON(), method: request.method, url: request.url }, 'request refused');
    return sendError(reply, typed);
  });
  app.setNotFoundHandler((request, reply) => {
    if (writer === undefined && request.method !== 'GET' && request.method !== 'HEAD') return sendError(reply.header('allow', 'GET, HEAD'), methodNotAllowed(request.method, true));
    return sendError(reply, steleError('STELE_E_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, { fix: 'see GET /v1/openapi.json for the routes' }));
  });

  app.addHook('onRequest', (_request, reply, done) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('x-stele-role', source.role);
    done();
  });

  // An observer is read-only by construction (DESIGN.md §8): refused before any body is read.
  if (writer === undefined) {
    app.addHook('onRequest', async (request, reply) => {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        await sendError(reply.header('allow', 'GET, HEAD'), methodNotAllowed(request.method, true));
      }
    });
  }

  const routes: ApiRoute[] = [...readRoutes(source), ...checkpointRoutes(source), ...proofRoutes(source), ...(writer === undefined ? [] : writeRoutes(writer))];
  const doc = apiDocument(options.version);
  routes.push({ ...openApiRoute, handler: () => doc });

  const methodsByUrl = new Map<string, Set<string>>();
  // After an integrity alarm only the status, the stream (which carries the alarm), the
  // document and the dashboard answer: no view of bytes that changed is served.
  const alwaysServed = new Set(['/v1/status', '/v1/stream', '/v1/openapi.json']);
  for (const route of routes) {
    const auth = route.auth === true;
    const guard = route.method === 'GET' && !alwaysServed.has(route.url) && source.checkServable !== undefined ? { preHandler: (_request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => { try { source.checkServable!(); done(); } catch (err) { done(err as Error); } } } : {};
    app.route({
      method: route.method === 'GET' && route.url !== '/v1/stream' ? ['GET', 'HEAD'] : route.method,
      url: route.url,
      ...(route.method === 'PUT' ? { bodyLimit: limits.bundleBytesMax } : route.method === 'POST' ? { bodyLimit: limits.requestBodyBytesMax } : {}),
      // The token and the content type are checked before the body is read: a client
      // without the token cannot make the server buffer a body.
      ...(auth
        ? {
            onRequest: (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
              try {
                tokenCheck!.check(request.headers.authorization);
                if (route.url === '/v1/commands') checkCommandType(request);
                done();
              } catch (err) {
                done(err as Error);
              }
            },
          }
        : {}),
      ...guard,
      handler: route.handler,
    });
    const set = methodsByUrl.get(route.url) ?? new Set<string>();
    set.add(route.method);
    if (route.method === 'GET' && route.url !== '/v1/stream') set.add('HEAD');
    methodsByUrl.set(route.url, set);
  }
  if (writer !== undefined) {
    // Other methods on known routes: 405 with Allow, not 404.
    for (const [url, methods] of methodsByUrl) {
      const others = allMethods.filter((m) => !methods.has(m));
      const allow = [...methods].join(', ');
      app.route({ method: others, url, handler: async (request, reply) => sendError(reply.header('allow', allow), methodNotAllowed(request.method, false)) });
    }
  }

  const assets = loadAssets();
  for (const [url, asset] of assets.files) {
    app.route({
      method: ['GET', 'HEAD'],
      url,
      handler: async (_request, reply) => {
        void reply.type(asset.type).header('cache-control', url.startsWith('/assets/vendor/') || url.startsWith('/assets/lib/') ? 'public, max-age=3600' : 'no-cache');
        if (url === '/') void reply.header('content-security-policy', assets.csp);
        return reply.send(asset.body);
      },
    });
  }
  return app;
}

const openApiRoute: Omit<ApiRoute, 'handler'> & { handler: ApiRoute['handler'] } = {
  method: 'GET',
  url: '/v1/openapi.json',
  summary: 'This OpenAPI 3.1 document',
  responses: { 200: { description: 'the document' } },
  errors: [],
  handler: () => undefined,
};

/** The OpenAPI document of the whole API, as served at /v1/openapi.json and written by `stele schemas`. */
export function apiDocument(version: string): Record<string, unknown> {
  const describeOnly = (): never => {
    throw new Error('documentation only');
  };
  // Describing a route needs no source: handlers are never called here.
  return openApiDocument([...readRoutes({} as ReadSource), ...checkpointRoutes({} as ReadSource), ...proofRoutes({} as ReadSource), ...writeRoutes({ engine: describeOnly }), openApiRoute], { version });
}

function checkCommandType(request: FastifyRequest): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== jsonType && type !== ndjsonType) {
    throw steleError('STELE_E_MEDIA_TYPE', `POST /v1/commands takes ${jsonType} or ${ndjsonType}, not ${type === '' ? 'no content type' : type}`, { fix: `send Content-Type: ${jsonType} (one command) or ${ndjsonType} (a batch)` });
  }
}

function methodNotAllowed(method: string, observer: boolean): SteleError {
  return steleError('STELE_E_METHOD_NOT_ALLOWED', observer ? `${method} is not allowed: this is a read-only observer` : `${method} is not allowed on this route`, {
    fix: observer ? 'send writes to the writer service (stele serve); observers answer GET and HEAD only' : 'see the Allow header and GET /v1/openapi.json',
  });
}

function sendError(reply: FastifyReply, err: SteleError): FastifyReply {
  return reply.status(statusOf(err)).type('application/json; charset=utf-8').send(JSON.stringify({ error: err.toJSON() }));
}

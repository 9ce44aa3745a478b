/**
 * `stele serve`, `stele observe` and `stele demo`: the long-running processes.
 *
 * - serve: replay (creating the data directory if needed), then the HTTP API with the
 *   writing routes, the read API, the stream and the dashboard. A damaged log does not stop
 *   it: it serves reads of the state before the first fault and answers every write 503
 *   STELE_E_PANIC (panic mode, DESIGN.md §6).
 * - observe: the read-only follower (DESIGN.md §8), on any data directory, even read-only.
 * - demo: fills a data directory with the demo workload, then (with --serve) serves it with
 *   a live trickle of commands.
 *
 * When listening, one JSON line goes to stdout: `{"url", "role", "size", …}` (scripts and
 * tests read it, also with --port 0); logs go to stderr. SIGTERM/SIGINT shut down
 * gracefully: streams end, the server stops accepting, in-flight requests finish, the
 * engine drains its batches, writes a checkpoint and releases the lock.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { fillDemo, startTrickle } from '../demo/demo.js';
import type { Trickle } from '../demo/demo.js';
import { ObserverSource } from '../observer/observer.js';
import type { Engine } from '../runtime/engine.js';
import { createServer } from '../service/server.js';
import type { ReadSource } from '../service/source.js';
import { resolveToken } from '../service/token.js';
import type { WriteTarget } from '../service/write-routes.js';
import { WriterSource } from '../service/writer-source.js';
import { initDataDir } from '../store/data-dir.js';
import type { EngineFlags } from './engine.js';
import { engineOptions, pinnedKeys } from './engine.js';
import { exitCodes, printJson, progressBar } from './output.js';

export const version = '0.1.0';
export const servePortDefault = 8640;
export const observePortDefault = 8641;

export interface ListenFlags {
  host: string;
  port: number;
  tokenFile?: string;
}

export async function serveCommand(dir: string, logger: Logger, flags: EngineFlags, listen: ListenFlags): Promise<number> {
  const { paths, created } = initDataDir(dir);
  if (created) logger.info({ dir: paths.dir }, 'initialised data directory');
  const opened = await openWriterOrPanic(paths.dir, logger, flags);
  return runService(opened.source, opened.writer, paths.dir, logger, listen, {});
}

export async function observeCommand(dir: string, logger: Logger, flags: EngineFlags, listen: ListenFlags, follow: { poll: boolean; auditIntervalMs?: number }): Promise<number> {
  const bar = progressBar('replay', true);
  const publicKeys = pinnedKeys(flags);
  const source = await ObserverSource.open(dir, {
    logger,
    snapshot: flags.snapshot,
    ...(publicKeys === undefined ? {} : { publicKeys }),
    usePolling: follow.poll,
    ...(follow.auditIntervalMs === undefined ? {} : { auditIntervalMs: follow.auditIntervalMs }),
    onProgress: bar.update,
  }).finally(() => bar.stop());
  return runService(source, undefined, dir, logger, listen, {});
}

export interface DemoFlags {
  commands?: number;
  seed?: number;
  serve: boolean;
  trickle: number;
}

export async function demoCommand(dir: string, logger: Logger, flags: EngineFlags, listen: ListenFlags, demo: DemoFlags): Promise<number> {
  const { paths } = initDataDir(dir);
  const source = await WriterSource.open(paths.dir, engineOptions(logger, flags));
  try {
    const engine = source.engine();
    if (engine.status().size === 0) {
      const bar = progressBar('demo', true);
      const summary = await fillDemo(engine, { logger, ...(demo.commands === undefined ? {} : { commands: demo.commands }), ...(demo.seed === undefined ? {} : { seed: demo.seed }), onProgress: (done, total) => bar.update(done * 1048576, total * 1048576) }).finally(() => bar.stop());
      process.stderr.write(`stele demo: ${summary.commands} commands (${summary.accepted} accepted, ${summary.rejected} rejected by guards), ${summary.bundles} bundles; log size ${summary.size}\n`);
      if (!demo.serve) printJson({ dir: paths.dir, ...summary });
    } else {
      process.stderr.write(`stele demo: ${paths.dir} already holds ${engine.status().size} events; not filling it again\n`);
    }
  } catch (err) {
    await source.close();
    throw err;
  }
  if (!demo.serve) {
    await source.close();
    return exitCodes.ok;
  }
  const trickle = demo.trickle > 0 ? startTrickle(source.engine(), { ratePerSecond: demo.trickle, logger }) : undefined;
  return runService(source, source, paths.dir, logger, listen, { trickle });
}

/** Opens the writer; a damaged log gives the read side in panic mode and a writer that refuses with the fault. */
async function openWriterOrPanic(dir: string, logger: Logger, flags: EngineFlags): Promise<{ source: ReadSource; writer: WriteTarget }> {
  const bar = progressBar('replay', true);
  const options = engineOptions(logger, flags);
  try {
    const source = await WriterSource.open(dir, { ...options, onProgress: bar.update });
    return { source, writer: source };
  } catch (err) {
    if (!isSteleError(err) || err.code !== 'STELE_E_PANIC') throw err;
    const panic: SteleError = err;
    logger.error({ fault: panic.toJSON() }, 'PANIC MODE: the log is damaged; serving reads of the state before the first fault, refusing writes');
    const source = await ObserverSource.open(dir, { logger, snapshot: flags.snapshot, follow: false, role: 'writer', ...(options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys }) });
    const refuse = (): Engine => {
      throw panic;
    };
    return { source, writer: { engine: refuse } };
  } finally {
    bar.stop();
  }
}

/** A socket that cannot be bound (port taken, no permission, unknown host) as a usage error. */
function listenError(err: unknown, listen: ListenFlags): unknown {
  const code = (err as { code?: unknown }).code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL' && code !== 'ENOTFOUND') return err;
  return steleError('STELE_E_USAGE', `cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`, {
    fix: code === 'EADDRINUSE' ? 'another process uses this port: stop it, or pass another --port (0 picks a free one)' : 'pass a local address with --host and a port above 1023 with --port',
    detail: { code },
  });
}

async function runService(source: ReadSource, writer: WriteTarget | undefined, dir: string, logger: Logger, listen: ListenFlags, extra: { trickle?: Trickle | undefined }): Promise<number> {
  let token: string | undefined;
  let tokenInfo: Record<string, unknown> = {};
  if (writer !== undefined) {
    const resolved = resolveToken(dir, { env: process.env['STELE_TOKEN'], file: listen.tokenFile });
    token = resolved.token;
    tokenInfo = { tokenSource: resolved.source, ...(resolved.file === undefined ? {} : { tokenFile: resolved.file }) };
    if (resolved.source === 'generated') {
      // Printed once, here, never logged: the only time the generated secret is shown.
      process.stderr.write(`stele: generated a bearer token for the writing routes (saved in ${resolved.file}, mode 0600):\n\n    ${resolved.token}\n\nsend it as: Authorization: Bearer <token>; set STELE_TOKEN to choose your own.\n\n`);
    }
  }
  let app: FastifyInstance;
  try {
    app = await createServer({ source, ...(writer === undefined ? {} : { writer }), ...(token === undefined ? {} : { token }), logger, version });
    await app.listen({ host: listen.host, port: listen.port }).catch((err: unknown) => {
      throw listenError(err, listen);
    });
  } catch (err) {
    await extra.trickle?.stop();
    await source.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const status = source.status();
  const url = `http://${host}:${port}`;
  printJson({ url, role: source.role, size: status.size, logRoot: status.logRoot, integrity: status.integrity.status, ...tokenInfo });
  logger.info({ url, role: source.role, size: status.size }, 'listening');
  if (process.stderr.isTTY === true) process.stderr.write(`\nstele ${source.role === 'observer' ? 'observer (read-only)' : 'service'}: dashboard at ${url}/   API at ${url}/v1/   (Ctrl-C stops cleanly)\n\n`);
  if (listen.host !== '127.0.0.1' && listen.host !== '::1' && listen.host !== 'localhost') {
    logger.warn({ host: listen.host }, 'listening beyond loopback: put TLS in front (a reverse proxy); the bearer token travels in clear over plain HTTP');
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: ending streams, finishing in-flight requests, writing a checkpoint');
      void (async () => {
        let code: number = exitCodes.ok;
        try {
          await extra.trickle?.stop();
          await source.hub.close();
          await app.close();
          await source.close();
          logger.info('stopped cleanly');
        } catch (err) {
          logger.error({ err }, 'shutdown failed');
          code = exitCodes.unavailable;
        }
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        resolve(code);
      })();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

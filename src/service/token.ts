/**
 * The bearer token of the writing routes (DESIGN.md §9): from `STELE_TOKEN`, from a file, or
 * generated into `<data>/service.token` (mode 0600) on first start and printed once.
 *
 * Comparison is constant-time: both sides are hashed to 32 bytes first, so neither the
 * length nor the content of the expected token leaks through response timing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { steleError } from '../errors.js';
import { processIsDead } from '../store/lock.js';

/** Random bytes of a generated token: 256 bits, base64url (43 characters). */
const generatedTokenBytes = 32;
/** A token shorter than this is refused: a guessable token protects nothing. */
export const tokenCharsMin = 16;
/** The file a generated token is kept in, inside the data directory. */
export const tokenFileName = 'service.token';

export interface TokenSource {
  token: string;
  /** Where it came from, for the startup log line (never the token itself). */
  source: 'env' | 'file' | 'generated';
  file?: string;
}

/** Resolves the token: env value, else the given file, else `<data>/service.token` (created if missing). */
export function resolveToken(dataDir: string, options: { env?: string | undefined; file?: string | undefined }): TokenSource {
  if (options.env !== undefined && options.env !== '') return { token: checkToken(options.env.trim(), 'STELE_TOKEN'), source: 'env' };
  if (options.file !== undefined) return { token: checkToken(readTokenFile(options.file), options.file), source: 'file', file: options.file };
  const file = path.join(dataDir, tokenFileName);
  if (fs.existsSync(file)) return { token: checkToken(readTokenFile(file), file), source: 'file', file };
  // A start killed between writing the temp file and renaming it left a secret nobody uses
  // behind: remove such temps (`service.token.<pid>.tmp`) of processes that no longer exist
  // before writing a new one.
  for (const name of fs.readdirSync(dataDir)) {
    const m = /^service\.token\.(\d+)\.tmp$/.exec(name);
    if (m !== null && processIsDead(Number(m[1]))) fs.rmSync(path.join(dataDir, name), { force: true });
  }
  const token = crypto.randomBytes(generatedTokenBytes).toString('base64url');
  // Exclusive create with 0600: never overwrite a token another process wrote meanwhile.
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${token}\n`, { mode: 0o600, flag: 'wx' });
  fs.renameSync(temp, file);
  return { token, source: 'generated', file };
}

function readTokenFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw steleError('STELE_E_USAGE', `cannot read the token file ${file}: ${(err as Error).message}`, { where: { file }, fix: 'check the path given to --token-file, or set STELE_TOKEN' });
  }
}

function checkToken(token: string, from: string): string {
  if (token.length < tokenCharsMin || !/^[\x21-\x7e]+$/.test(token)) {
    throw steleError('STELE_E_USAGE', `the token from ${from} must be at least ${tokenCharsMin} printable ASCII characters without spaces`, {
      fix: 'generate one with: openssl rand -base64 32',
    });
  }
  return token;
}

/** Checks an Authorization header against the token; throws 401/403 SteleErrors. */
export class TokenCheck {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = crypto.createHash('sha256').update(token).digest();
  }

  check(authorization: string | undefined): void {
    if (authorization === undefined || authorization === '') {
      throw steleError('STELE_E_UNAUTHORIZED', 'this route writes to the log and needs a bearer token', { fix: 'send Authorization: Bearer <token> (STELE_TOKEN, or the token file in the data directory)' });
    }
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
    if (match === null) {
      throw steleError('STELE_E_UNAUTHORIZED', 'the Authorization header is not "Bearer <token>"', { fix: 'send Authorization: Bearer <token>' });
    }
    const given = crypto.createHash('sha256').update(match[1]!).digest();
    if (!crypto.timingSafeEqual(given, this.#digest)) {
      throw steleError('STELE_E_FORBIDDEN', 'the bearer token is not this service\'s token', { fix: 'use the token the service was started with' });
    }
  }
}

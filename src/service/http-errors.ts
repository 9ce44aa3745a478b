/**
 * SteleError → HTTP status, in one place (CONVENTIONS: statuses are mapped only in the
 * service). The body of every error response is `{"error": SteleError.toJSON()}`, the same
 * object the CLI prints with --json, so a client handles both alike.
 */
import { isSteleError, steleError } from '../errors.js';
import type { ErrorCode, SteleError } from '../errors.js';

/** Codes whose status is not the one of their kind. */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  STELE_E_NOT_FOUND: 404,
  STELE_E_METHOD_NOT_ALLOWED: 405,
  STELE_E_MEDIA_TYPE: 415,
  STELE_E_UNAUTHORIZED: 401,
  STELE_E_FORBIDDEN: 403,
  STELE_E_INTEGRITY_ALARM: 503,
  STELE_E_JSON_TOO_DEEP: 400,
  STELE_E_DISK_FULL: 507,
  STELE_E_INTERNAL: 500,
};

export function statusOf(err: SteleError): number {
  const byCode = statusByCode[err.code];
  if (byCode !== undefined) return byCode;
  switch (err.kind) {
    case 'input':
      return 400;
    case 'auth':
      return 401;
    case 'limit':
      return 413;
    case 'conflict':
      return 409;
    case 'integrity':
      // A read that met damaged data (a bundle whose bytes no longer match): the server's
      // data is wrong, not the request.
      return 500;
    case 'unavailable':
      return 503;
    default: {
      const never: never = err.kind;
      return never;
    }
  }
}

/** Fastify's own errors (body limits, media types, malformed JSON) as SteleErrors. */
export function fromFrameworkError(err: unknown): SteleError | undefined {
  if (isSteleError(err)) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'request refused';
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return steleError('STELE_E_BODY_TOO_LARGE', 'the request body is over the limit of this route', { fix: 'split the batch (see docs/limits.md), or upload large content as a bundle' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return steleError('STELE_E_MEDIA_TYPE', message, { fix: 'send Content-Type: application/json (one command) or application/x-ndjson (a batch)' });
    case 'FST_ERR_BAD_URL':
      return steleError('STELE_E_USAGE', message, { fix: 'percent-encode the path as UTF-8 (RFC 3986), e.g. encodeURIComponent' });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return steleError('STELE_E_INPUT_TOO_LARGE', message, { fix: 'check the key or id: no state key is that long' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return steleError('STELE_E_JSON_INVALID', message, { fix: 'send one JSON command as the body' });
    default:
      break;
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return steleError(e.statusCode === 413 ? 'STELE_E_BODY_TOO_LARGE' : 'STELE_E_USAGE', message, { fix: 'see docs/http-api.md' });
  }
  return undefined;
}

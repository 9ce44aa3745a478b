/**
 * The monitor's HTTP source (`stele monitor --url URL`): a stele service (`serve` or
 * `observe`) asked with Node's built-in fetch for
 *
 *   GET /v1/checkpoints/latest           the newest checkpoint line and the head (src/service/checkpoint-routes.ts)
 *   GET /v1/consistency?from=&to=        RFC 9162 consistency proofs
 *   GET /v1/events/{seq}?size=           the inclusion proof of the checkpoint line
 *
 * The service computes, the monitor verifies: answers are size-capped before they are parsed
 * (`monitorResponseBytesMax`), validated strictly (zod, the proof parser), and only the
 * checkpoint line and the proofs' paths are used. Anything that is not a stele answer — no
 * connection, a timeout, an error status, a malformed body — is STELE_E_IO naming the URL:
 * the source is unreachable, not evidence against the log.
 */
import { isSteleError, steleError } from '../errors.js';
import { fromHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import type { ConsistencyProof, InclusionProof } from '../proof/format.js';
import { parseProof } from '../proof/format.js';
import { latestCheckpointSchema } from '../service/checkpoint-routes.js';
import type { MonitorSource } from './source.js';
import type { Latest } from './verdict.js';
import { parseCheckpointLine } from './verdict.js';

/** Time one request may take, connection to last byte: a proof is a few KiB, and a source slower than this is reported unreachable (and retried). */
export const monitorRequestTimeoutMs = 30_000;

/** The service URL as given, checked: http(s), no query or fragment; returned without a trailing slash. */
export function normalizeServiceUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw steleError('STELE_E_USAGE', `--url ${url} is not a URL`, { fix: 'pass the base URL of a stele service, e.g. --url http://127.0.0.1:8640' });
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '') {
    throw steleError('STELE_E_USAGE', `--url ${url} must be an http:// or https:// base URL without credentials, query or fragment`, { fix: 'pass the base URL of a stele service, e.g. --url https://log.example.org' });
  }
  return parsed.href.replace(/\/+$/, '');
}

function unreachable(url: string, message: string, detail: Record<string, unknown> = {}, cause?: unknown) {
  return steleError('STELE_E_IO', message, {
    fix: 'check that the service runs and answers at this URL (GET /v1/status); the monitor retries every --interval',
    detail: { url, ...detail },
    ...(cause === undefined ? {} : { cause }),
  });
}

async function readCapped(res: Response, url: string): Promise<string> {
  const max = limits.monitorResponseBytesMax;
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  const tooLarge = () => unreachable(url, `the answer of ${url} is over ${max} bytes: not a stele answer`, { status: res.status });
  if (declared > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (chunk.done || chunk.value === undefined) break;
    const value = chunk.value;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class HttpSource implements MonitorSource {
  readonly kind = 'url' as const;
  readonly location: string;

  /** `url`: a base URL, checked by normalizeServiceUrl. */
  constructor(url: string) {
    this.location = normalizeServiceUrl(url);
  }

  async #get(route: string): Promise<unknown> {
    const url = `${this.location}${route}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(monitorRequestTimeoutMs) });
      text = await readCapped(res, url);
    } catch (err) {
      if (isSteleError(err)) throw err;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${monitorRequestTimeoutMs} ms` : (e.cause?.message ?? e.message);
      throw unreachable(url, `cannot reach ${url}: ${why}`, e.cause?.code === undefined ? {} : { code: e.cause.code }, err);
    }
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      throw unreachable(url, `${url} answered ${res.status} with a body that is not JSON: not a stele service`, { status: res.status });
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code = typeof error?.code === 'string' ? error.code : undefined;
      const message = typeof error?.message === 'string' ? error.message : 'no stele error';
      throw unreachable(url, `${url} answered ${res.status}${code === undefined ? '' : ` ${code}`}: ${message}`, { status: res.status, ...(code === undefined ? {} : { code }) });
    }
    return body;
  }

  async latest(): Promise<Latest> {
    const route = '/v1/checkpoints/latest';
    const parsed = latestCheckpointSchema.safeParse(await this.#get(route));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw unreachable(`${this.location}${route}`, `the answer of ${this.location}${route} is not a stele checkpoint answer: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const body = parsed.data;
    const latest: Latest = { head: body.log, checkpoint: body.checkpoint === null ? undefined : parseCheckpointLine(sha256, body.checkpoint.line) };
    const offered = body.publicKey === null ? undefined : fromHex(body.publicKey.publicKey);
    if (offered !== undefined) latest.offeredKey = offered;
    return latest;
  }

  async consistency(size1: number, size2: number): Promise<ConsistencyProof> {
    const route = `/v1/consistency?from=${size1}&to=${size2}`;
    const proof = this.#proof(route, await this.#get(route));
    if (proof.type !== 'consistency') throw unreachable(`${this.location}${route}`, `${this.location}${route} did not answer with a consistency proof`);
    return proof;
  }

  async inclusion(seq: number, size: number): Promise<InclusionProof> {
    const route = `/v1/events/${seq}?size=${size}`;
    const body = (await this.#get(route)) as { proof?: unknown } | null;
    const proof = this.#proof(route, body?.proof);
    if (proof.type !== 'inclusion') throw unreachable(`${this.location}${route}`, `${this.location}${route} did not answer with an inclusion proof`);
    return proof;
  }

  #proof(route: string, value: unknown): ConsistencyProof | InclusionProof {
    try {
      return parseProof(value);
    } catch (err) {
      throw unreachable(`${this.location}${route}`, `the answer of ${this.location}${route} is not a stele proof: ${(err as Error).message}`, {}, err);
    }
  }
}

/**
 * `?at=SEQ` / `?atTime=ISO` on the read API (issue #5): the state routes answer as of a past
 * position, re-derived from the data directory's files (src/history/at.ts), never from the
 * process's live state.
 *
 * A derivation costs a snapshot load plus the lines after it (seconds on a large log), so
 * it runs in a worker thread (`at-worker.js`), one at a time (`timeTravelConcurrencyMax`):
 * the server keeps answering other requests and streams meanwhile, and a second time-travel
 * request while one runs gets 503 STELE_E_BUSY with a retry hint. The last few answers are
 * cached by (route, position, key): the log below a position never changes.
 * When the worker file is missing (tests run from the TypeScript sources), the answer is
 * computed on this thread.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { JsonValue } from '../canonical/json.js';
import { steleError } from '../errors.js';
import type { SteleErrorJson } from '../errors.js';
import { limits } from '../limits.js';
import type { AtQuery, TimeTravelAsk } from './time-travel-answer.js';
import { answerAt } from './time-travel-answer.js';

export type { AtQuery } from './time-travel-answer.js';

const seqText = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The query parameters of a time-travel read. */
export const atQueryFields = {
  at: seqText.optional().describe('answer as of event SEQ (the state right after it), re-derived from the files'),
  atTime: z.string().max(64).optional().describe('answer as of an ISO 8601 time (the state after the last event at or before it)'),
};

/** The position asked for by a request's query, if any. Both at once is STELE_E_SCHEMA. */
export function atOf(q: { at?: number | undefined; atTime?: string | undefined }): AtQuery | undefined {
  if (q.at !== undefined && q.atTime !== undefined) throw steleError('STELE_E_SCHEMA', 'give either at or atTime, not both', { where: { path: 'at' }, fix: 'see GET /v1/openapi.json' });
  if (q.at !== undefined) return { seq: q.at };
  if (q.atTime !== undefined) return { time: q.atTime };
  return undefined;
}

const workerUrl = new URL('./at-worker.js', import.meta.url);

export class TimeTravel {
  #running = 0;
  readonly #cache = new Map<string, JsonValue>();

  constructor(private readonly dataDir: string) {}

  async answer(ask: TimeTravelAsk): Promise<JsonValue> {
    const key = JSON.stringify(ask);
    const cached = this.#cache.get(key);
    if (cached !== undefined && !('time' in ask.at)) return cached;
    if (this.#running >= limits.timeTravelConcurrencyMax) {
      throw steleError('STELE_E_BUSY', 'a time-travel derivation is already running', { fix: 'retry in a few seconds; time-travel reads are derived from the files one at a time' });
    }
    this.#running++;
    try {
      const answer = fs.existsSync(fileOf(workerUrl)) ? await this.#inWorker(ask) : answerAt(this.dataDir, ask);
      this.#cache.set(key, answer);
      while (this.#cache.size > limits.timeTravelCacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
      return answer;
    } finally {
      this.#running--;
    }
  }

  #inWorker(ask: TimeTravelAsk): Promise<JsonValue> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl, { workerData: { dataDir: this.dataDir, ask } });
      let settled = false;
      worker.once('message', (msg: { answer?: JsonValue; error?: SteleErrorJson }) => {
        settled = true;
        if (msg.error !== undefined) reject(errorFromJson(msg.error));
        else resolve(msg.answer!);
      });
      worker.once('error', (err) => {
        settled = true;
        reject(err);
      });
      worker.once('exit', (code) => {
        if (!settled) reject(steleError('STELE_E_INTERNAL', `the time-travel worker exited with code ${code}`, { fix: 'see the service log' }));
      });
    });
  }
}

function fileOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}

/** A SteleError sent back by the worker as JSON. */
function errorFromJson(e: SteleErrorJson) {
  return steleError(e.code, e.message, {
    ...(e.where === undefined ? {} : { where: e.where }),
    ...(e.fix === undefined ? {} : { fix: e.fix }),
    ...(e.expected === undefined ? {} : { expected: e.expected }),
    ...(e.found === undefined ? {} : { found: e.found }),
    ...(e.detail === undefined ? {} : { detail: e.detail }),
  });
}

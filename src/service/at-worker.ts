/**
 * Worker thread of the time-travel reads (src/service/time-travel.ts): derives one answer
 * from the data directory's files and posts it back. Built-in modules only, like `serve`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isSteleError } from '../errors.js';
import type { TimeTravelAsk } from './time-travel-answer.js';
import { answerAt } from './time-travel-answer.js';

const port = parentPort;
if (port === null) throw new Error('at-worker.js must run in a worker thread');
const { dataDir, ask } = workerData as { dataDir: string; ask: TimeTravelAsk };
try {
  port.postMessage({ answer: answerAt(dataDir, ask) });
} catch (err) {
  port.postMessage({ error: isSteleError(err) ? err.toJSON() : { code: 'STELE_E_INTERNAL', message: (err as Error).message } });
}

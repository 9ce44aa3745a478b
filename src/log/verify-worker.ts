/**
 * Worker thread of parallel verification: verifies the ranges the main thread sends and
 * posts back their results (line hashes transferred, not copied). Uses the built-in event
 * registry; logs with application modules are verified on the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { createRegistry } from '../events/builtin.js';
import { isSteleError } from '../errors.js';
import type { RangeTask } from './range-scan.js';
import { scanRange } from './range-scan.js';

const registry = createRegistry();
const port = parentPort;
if (port === null) throw new Error('verify-worker.js must run in a worker thread');
port.on('message', (task: RangeTask) => {
  try {
    const result = scanRange(task, registry);
    const copy = result.hashes.slice();
    port.postMessage({ ...result, hashes: copy }, [copy.buffer]);
  } catch (err) {
    port.postMessage({ id: task.id, error: isSteleError(err) ? err.toJSON() : { code: 'STELE_E_IO', message: (err as Error).message } });
  }
});

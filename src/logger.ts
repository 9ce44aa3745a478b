/**
 * The structured logger (pino). Library code logs through a Logger it is given; only the
 * shell (CLI, service) creates one. Secrets are redacted by path, never logged.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const redactPaths = ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization'];

export interface LoggerOptions {
  level?: string;
  /** File descriptor to write to; 2 (stderr) by default so stdout stays machine output. */
  fd?: number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'stele',
      level: options.level ?? 'info',
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    pino.destination({ fd: options.fd ?? 2, sync: true }),
  );
}

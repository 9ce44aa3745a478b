/**
 * How the CLI talks to people and tools: exit codes, error printing, progress bars.
 *
 * Exit codes: 0 ok, 1 verification failed, 2 usage or input error, 3 locked/unavailable.
 */
import cliProgress from 'cli-progress';
import type { ErrorKind } from '../errors.js';
import { formatWhere, isSteleError } from '../errors.js';
import type { SteleError } from '../errors.js';

export const exitCodes = { ok: 0, verifyFailed: 1, usage: 2, unavailable: 3 } as const;

export function exitCodeOf(kind: ErrorKind): number {
  switch (kind) {
    case 'integrity':
      return exitCodes.verifyFailed;
    case 'input':
    case 'auth':
    case 'limit':
    case 'conflict':
      return exitCodes.usage;
    case 'unavailable':
      return exitCodes.unavailable;
    default: {
      const never: never = kind;
      return never;
    }
  }
}

/** Prints an error (human text on stderr, or `{"error":…}` on stdout with --json); returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  if (!isSteleError(err)) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`stele: internal error (a bug, please report it): ${message}\n`);
    return 70;
  }
  if (json) process.stdout.write(JSON.stringify({ error: err.toJSON() }) + '\n');
  else process.stderr.write(humanError(err));
  return exitCodeOf(err.kind);
}

export function humanError(err: SteleError): string {
  const lines = [`stele: ${err.message} [${err.code}]`];
  const reason = err.detail?.reason;
  if (typeof reason === 'string') lines.push(`  reason:   ${reason}${err.detail?.recorded === true ? ' (recorded in the log as audit.command_rejected)' : ''}`);
  const where = formatWhere(err.where);
  if (where !== '') lines.push(`  where:    ${where}`);
  if (err.expected !== undefined) lines.push(`  expected: ${err.expected}`);
  if (err.found !== undefined) lines.push(`  found:    ${err.found}`);
  if (err.fix !== undefined) lines.push(`  fix:      ${err.fix}`);
  return lines.join('\n') + '\n';
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Work smaller than this finishes too fast for a bar to help. */
export const progressBytesMin = 8 * 1024 * 1024;

/** A byte progress bar on stderr when it is a terminal (and not --json); a no-op otherwise. */
export function progressBar(label: string, enabled: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (!enabled || process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} MiB | {eta_formatted} left`, stream: process.stderr, hideCursor: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return {
    update(done, total) {
      if (!started && total < progressBytesMin) return;
      if (!started) {
        bar.start(mib(total), 0);
        started = true;
      }
      bar.setTotal(mib(total));
      bar.update(mib(done));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}


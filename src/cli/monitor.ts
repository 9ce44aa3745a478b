/**
 * `stele monitor (--url URL | --data DIR) --state FILE [--pubkey KEY…] [--require-signed]
 * [--interval S] [--once] [--json]` (issue #5): a third party watching a log it does not
 * operate. Thin: parses flags, builds the source, runs src/monitor, prints one report per
 * look (a line of text, or a JSON object with --json) on stdout; pino logs on stderr.
 *
 * `--data` and `--pubkey` are the program's global options, used explicitly: `--data DIR`
 * counts only when given on the command line (its default ./data never selects a source).
 *
 * Exit codes (with --once: of that look; without: of the last look before SIGTERM/SIGINT):
 * 0 ok (first, unchanged, advanced, no checkpoint yet), 1 alarm (truncated, rewritten,
 * bad-signature) or a damaged source, 2 usage, 3 source unreachable.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { limits } from '../limits.js';
import { DataDirSource } from '../monitor/data-source.js';
import { HttpSource } from '../monitor/http-source.js';
import type { MonitorOptions, PollReport } from '../monitor/monitor.js';
import { checkStateFileDir, monitorIntervalSecondsDefault, pollOnce, runMonitor } from '../monitor/monitor.js';
import type { EngineFlags } from './engine.js';
import { pinnedKeys } from './engine.js';
import { exitCodes, humanError, printJson } from './output.js';

/** What the command needs from main.ts. */
export interface MonitorCliContext {
  flags: () => EngineFlags;
  logger: (level?: string) => Logger;
  run: <A extends unknown[]>(body: (...args: A) => Promise<number | void> | number | void) => (...args: A) => Promise<void>;
  intArg: (name: string) => (value: string) => number;
}

interface MonitorFlags {
  url?: string;
  state: string;
  requireSigned?: boolean;
  interval: number;
  once?: boolean;
  json?: boolean;
}

export function registerMonitorCommand(program: Command, ctx: MonitorCliContext): void {
  program
    .command('monitor')
    .description(
      'watch a log you do not operate: remember the last verified checkpoint in --state, and at each look verify the newest checkpoint\'s signature and RFC 9162 proofs that the log only grew since; alarm (exit 1, an error log line) on a truncation, a rewritten or forked history, or a bad signature. Source: --url URL (a stele service) or the global --data DIR (read-only; a copy works)',
    )
    .option('--url <url>', 'base URL of a stele service (serve or observe): it computes the proofs, the monitor checks them')
    .requiredOption('--state <file>', 'state file: the last verified checkpoint and head (created on first use: trust on first use; never advanced by an alarm)')
    .option('--require-signed', 'every checkpoint must be signed by a trusted key: the --pubkey keys, else the key the source offered on first use (implied by --pubkey)')
    .option('--interval <seconds>', `seconds between looks, 1…${limits.monitorIntervalSecondsMax}`, ctx.intArg('--interval'), monitorIntervalSecondsDefault)
    .option('--once', 'one look, then exit with its verdict: 0 ok, 1 alarm, 2 usage, 3 source unreachable')
    .option('--json', 'one JSON report per look on stdout')
    .action(ctx.run((opts: MonitorFlags) => monitorCommand(program, ctx, opts)));
}

function usage(message: string, fix = 'see stele monitor --help') {
  return steleError('STELE_E_USAGE', message, { fix });
}

export async function monitorCommand(program: Command, ctx: MonitorCliContext, opts: MonitorFlags): Promise<number> {
  const dataGiven = program.getOptionValueSource('data') === 'cli';
  const dir = program.opts<{ data: string }>().data;
  if (opts.url !== undefined && dataGiven) throw usage('give --url or --data, not both: one monitor (and one state file) per source');
  if (opts.url === undefined && !dataGiven) throw usage('stele monitor needs a source: --url URL (a stele service) or --data DIR (a data directory, read-only)');
  if (opts.interval < 1 || opts.interval > limits.monitorIntervalSecondsMax) {
    throw usage(`--interval must be 1…${limits.monitorIntervalSecondsMax} seconds`, `pass e.g. --interval ${monitorIntervalSecondsDefault}`);
  }
  checkStateFileDir(opts.state);
  const pinned = pinnedKeys(ctx.flags()) ?? [];
  const logger = ctx.logger('info');
  const options: MonitorOptions = {
    source: opts.url !== undefined ? new HttpSource(opts.url) : new DataDirSource(dir),
    ...(opts.url === undefined ? { recheckSource: () => new DataDirSource(dir, 'log') } : {}),
    stateFile: opts.state,
    pinnedKeys: pinned,
    requireSigned: opts.requireSigned === true || pinned.length > 0,
    logger,
  };
  const print = (report: PollReport): void => {
    if (opts.json === true) printJson(report);
    else process.stdout.write(humanReport(report, opts.interval, opts.once === true));
  };
  if (opts.once === true) {
    const report = await pollOnce(options);
    print(report);
    return monitorExitCode(report);
  }
  const controller = new AbortController();
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping after the current look');
    controller.abort();
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    logger.info({ source: options.source.location, stateFile: opts.state, intervalSeconds: opts.interval, pinnedKeyIds: pinned.map((k) => k.keyId), requireSigned: options.requireSigned }, 'monitoring');
    const last = await runMonitor(options, { intervalMs: opts.interval * 1000, signal: controller.signal, onReport: print });
    return monitorExitCode(last);
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
}

export function monitorExitCode(report: PollReport): number {
  switch (report.outcome) {
    case 'ok':
      return exitCodes.ok;
    case 'alarm':
    case 'damaged':
      return exitCodes.verifyFailed;
    case 'unreachable':
      return exitCodes.unavailable;
    default: {
      const never: never = report.outcome;
      return never;
    }
  }
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

/** The report as a few lines of text. */
export function humanReport(r: PollReport, intervalSeconds: number, once: boolean): string {
  const lines: string[] = [];
  const cp = r.found?.checkpoint;
  const head = r.found?.head;
  const sig = r.signature === undefined ? '' : `; signature ${r.signature.status}${r.signature.keyId === undefined ? '' : ` (key ${short(r.signature.keyId)})`}`;
  switch (r.verdict) {
    case 'first':
      lines.push(`first: checkpoint seq ${cp!.seq} (log root ${short(cp!.logRoot)}); log size ${head!.size}${sig}; recorded in ${r.stateFile}`);
      break;
    case 'unchanged':
      lines.push(`unchanged: checkpoint seq ${cp!.seq}; log size ${r.remembered!.head.size} → ${head!.size}, consistent${sig}`);
      break;
    case 'advanced':
      lines.push(`advanced: checkpoint seq ${r.remembered!.checkpoint.seq} → ${cp!.seq}; log size ${r.remembered!.head.size} → ${head!.size}, consistent${sig}`);
      break;
    case 'no-checkpoint':
      lines.push(`no checkpoint yet: log size ${head!.size}; nothing recorded`);
      break;
    case 'truncated':
    case 'rewritten':
    case 'bad-signature':
    case 'damaged':
      lines.push(`ALARM ${r.verdict}: ${r.stateFile} is not advanced`);
      lines.push(humanError(errorOf(r)).trimEnd());
      break;
    case 'unreachable':
      lines.push(`unreachable: ${r.error?.message ?? 'no answer'}${once ? '' : ` (retrying in ${intervalSeconds} s)`}`);
      break;
    default: {
      const never: never = r.verdict;
      return never;
    }
  }
  const notes = r.verdict === 'no-checkpoint' ? [] : r.notes;
  for (const note of notes) lines.push(`  note: ${note}`);
  return `${lines.join('\n')}\n`;
}

function errorOf(r: PollReport): SteleError {
  const e = r.error!;
  return steleError(e.code, e.message, { ...(e.where === undefined ? {} : { where: e.where }), ...(e.expected === undefined ? {} : { expected: e.expected }), ...(e.found === undefined ? {} : { found: e.found }), ...(e.fix === undefined ? {} : { fix: e.fix }) });
}

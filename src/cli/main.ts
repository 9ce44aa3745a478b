#!/usr/bin/env node
/**
 * The `stele` command line. Thin shell: every command parses its arguments, calls the
 * library, and prints the result (JSON with --json) or a human error with its exit code.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { steleError } from '../errors.js';
import { createLogger } from '../logger.js';
import { initDataDir } from '../store/data-dir.js';
import { readEvents, proveLogConsistency } from '../log/read.js';
import { checkpointEveryDefault } from '../runtime/engine.js';
import { StateMachine } from '../runtime/machine.js';
import { exitCodes, printJson, reportError } from './output.js';
import { bundleGetCommand, bundlePutCommand, bundleVerifyCommand } from './bundle.js';
import { cmdFromArgs, cmdFromStdin } from './cmd.js';
import type { EngineFlags } from './engine.js';
import { pinnedKeys } from './engine.js';
import { keygenCommand } from './keygen.js';
import { snapshotCreateCommand, snapshotListCommand, snapshotVerifyCommand } from './snapshot.js';
import { ledgerAccountsCommand, ledgerBalanceCommand, stateDumpCommand, stateGetCommand, statsCommand, statusCommand } from './state.js';
import { startCommand, verifyCommand } from './verify.js';
import { appendFromArgs, appendFromStdin } from './append.js';
import { registerProveCommands } from './prove.js';
import type { AtSpec } from '../history/at.js';
import type { AtFlags } from './history.js';
import { atSpecOf, diffCommand, replayCommand } from './history.js';
import { writeSchemas } from './schemas.js';
import { demoCommand, observeCommand, observePortDefault, serveCommand, servePortDefault } from './serve.js';
import type { ListenFlags } from './serve.js';
import { registerForensicCommands } from './forensic.js';
import { registerMonitorCommand } from './monitor.js';
import { backupCommand, restoreCommand } from './backup.js';
import { isSteleError } from '../errors.js';

const program = new Command();
const defaultData = './data';

function intArg(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} is too large`);
    return n;
  };
}

let jsonMode = false;

/** Runs a command body, mapping errors to exit codes. */
function run<A extends unknown[]>(body: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    const opts = args.find((a) => a !== null && typeof a === 'object' && !(a instanceof Command)) as { json?: boolean } | undefined;
    jsonMode = opts?.json === true;
    try {
      const code = await body(...args);
      process.exitCode = code ?? exitCodes.ok;
    } catch (err) {
      process.exitCode = reportError(err, jsonMode);
    }
  };
}

program
  .name('stele')
  .description('Verifiable, event-sourced, append-only log: hash-chained canonical NDJSON events with an RFC 6962 log root.')
  .version('0.1.0')
  .option('--data <dir>', 'data directory', defaultData)
  .option('--no-snapshot', 'replay from genesis, ignoring snapshots')
  .option('--checkpoint-every <n>', `events between checkpoints when writing (default ${checkpointEveryDefault})`, intArg('--checkpoint-every'))
  .option('--snapshot-every <n>', 'write a snapshot every N events when writing (default: never automatically)', intArg('--snapshot-every'))
  .option('--signing-key <file>', 'secret key file (stele keygen) the writer signs every checkpoint with (else STELE_SIGNING_KEY_FILE)')
  .option('--pubkey <key>', 'pin a public key (a key file or 64 hex) for checking checkpoint signatures; repeatable. Checkpoints signed by any other key are reported', (value: string, previous: string[]) => [...previous, value], [] as string[])
  .showHelpAfterError()
  .exitOverride();

function dataDir(): string {
  return program.opts<{ data: string }>().data;
}

function flags(): EngineFlags {
  const o = program.opts<{ snapshot: boolean; checkpointEvery?: number; snapshotEvery?: number; signingKey?: string; pubkey: string[] }>();
  const envKey = process.env['STELE_SIGNING_KEY_FILE'];
  const signingKeyFile = o.signingKey ?? (envKey === undefined || envKey === '' ? undefined : envKey);
  return {
    snapshot: o.snapshot,
    ...(o.checkpointEvery === undefined ? {} : { checkpointEvery: o.checkpointEvery }),
    ...(o.snapshotEvery === undefined ? {} : { snapshotEvery: o.snapshotEvery }),
    ...(signingKeyFile === undefined ? {} : { signingKeyFile }),
    ...(o.pubkey.length === 0 ? {} : { pubkeys: o.pubkey }),
  };
}

function cliLogger(level = 'warn') {
  return createLogger({ level: process.env.STELE_LOG_LEVEL ?? level });
}

program
  .command('init')
  .description('create a data directory (idempotent on an existing one)')
  .option('--json', 'machine output')
  .action(
    run((opts: { json?: boolean }) => {
      const { paths, created } = initDataDir(dataDir());
      if (opts.json === true) printJson({ dir: paths.dir, created });
      else process.stdout.write(created ? `initialised ${paths.dir}\n` : `${paths.dir} is already a stele data directory\n`);
    }),
  );

program
  .command('append')
  .description('append one event of a type that allows direct appends (TYPE JSON, e.g. kv.put), or NDJSON of {type, v?, data, meta?} from stdin; prints one ack per event as NDJSON. Other types are written by commands: see stele cmd')
  .argument('[type]', 'event type, e.g. kv.put')
  .argument('[json]', 'the payload (data) as JSON')
  .option('--v <n>', 'schema version of the type (default: latest)', intArg('--v'))
  .option('--meta <json>', 'meta object as JSON (actor, request id…)')
  .option('--stdin', 'read NDJSON events from stdin; all are written or none')
  .option('--json', 'errors as JSON on stdout (acks are always NDJSON)')
  .action(
    run(async (type: string | undefined, json: string | undefined, opts: { v?: number; meta?: string; stdin?: boolean; json?: boolean }) => {
      const logger = cliLogger();
      if (opts.stdin === true) {
        if (type !== undefined) throw usage('give either TYPE JSON or --stdin, not both');
        return appendFromStdin(dataDir(), logger, flags());
      }
      if (type === undefined || json === undefined) throw usage('append needs TYPE and JSON (or --stdin)');
      return appendFromArgs(dataDir(), logger, flags(), type, json, opts.v, opts.meta);
    }),
  );

program
  .command('cmd')
  .description('run a command through its module\'s decider (NAME JSON, e.g. ledger.transfer \'{"id":"t1","from":"a","to":"b","amount":"5"}\'), or NDJSON of {cmd, data, meta?} from stdin, decided in order with one result line each. A rejection prints its reason code, is recorded in the log, and exits 2')
  .argument('[name]', `command name: ${commandList()}`)
  .argument('[json]', 'the command data as JSON')
  .option('--meta <json>', 'meta object as JSON (actor, request id…), copied onto the events')
  .option('--expected-size <n>', 'refuse with STELE_E_CONFLICT unless the log has exactly N events when the command is decided', intArg('--expected-size'))
  .option('--stdin', 'read NDJSON commands from stdin')
  .option('--json', 'errors as JSON on stdout (results are always JSON)')
  .action(
    run(async (name: string | undefined, json: string | undefined, opts: { meta?: string; expectedSize?: number; stdin?: boolean; json?: boolean }) => {
      const logger = cliLogger();
      if (opts.stdin === true) {
        if (name !== undefined) throw usage('give either NAME JSON or --stdin, not both');
        return cmdFromStdin(dataDir(), logger, flags());
      }
      if (name === undefined || json === undefined) throw usage('cmd needs NAME and JSON (or --stdin)');
      return cmdFromArgs(dataDir(), logger, flags(), name, json, opts.meta, opts.expectedSize);
    }),
  );

program
  .command('status')
  .description('size, log root, state root, head hash, integrity, entries per module, checkpoints and replay timing')
  .option('--json', 'machine output')
  .action(run((opts: { json?: boolean }) => statusCommand(dataDir(), cliLogger(), flags(), opts.json === true)));

const state = program.command('state').description('the authenticated state (DESIGN.md §3)');
state
  .command('get')
  .description('the value at KEY (kv:<key>, account:<id>, bundle:<sha256>, …), or with --proof its inclusion / non-inclusion proof against the state root')
  .argument('<key>', 'state key')
  .option('--proof', 'print a state proof (checkable offline with stele check-proof)')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .option('--json', 'machine output')
  .action(run((key: string, opts: { proof?: boolean; json?: boolean; at?: number; atTime?: string }) => stateGetCommand(dataDir(), cliLogger(), flags(), key, opts)));
state
  .command('dump')
  .description('every entry as NDJSON [key, value], sorted by key: recompute the state root from it independently')
  .option('--prefix <p>', 'only keys starting with this prefix')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .action(run((opts: { prefix?: string } & AtFlags) => stateDumpCommand(dataDir(), cliLogger(), flags(), opts.prefix, atSpecOf(opts))));

const ledger = program.command('ledger').description('the ledger module: accounts and balances');
ledger
  .command('balance')
  .description('the balance of account ID (u128 integer string, minor units)')
  .argument('<id>', 'account id')
  .option('--json', 'machine output: the whole account value')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .action(run((id: string, opts: { json?: boolean } & AtFlags) => ledgerBalanceCommand(dataDir(), cliLogger(), flags(), id, opts.json === true, atSpecOf(opts))));
ledger
  .command('accounts')
  .description('every account and its balance, sorted by id')
  .option('--json', 'NDJSON, one account per line')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .action(run((opts: { json?: boolean } & AtFlags) => ledgerAccountsCommand(dataDir(), cliLogger(), flags(), opts.json === true, atSpecOf(opts))));

program
  .command('stats')
  .description('the audit dashboard statistics: executions by status, success rate, attacks by type and layer, telemetry percentiles, rejections by reason')
  .option('--json', 'machine output')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .action(run((opts: { json?: boolean } & AtFlags) => statsCommand(dataDir(), cliLogger(), flags(), opts.json === true, atSpecOf(opts))));

program
  .command('replay')
  .description('re-derive the complete state and roots from the files: now, or as of a position with --at / --at-time (from the newest valid snapshot at or below it, verifying every line after it)')
  .option('--at <seq>', 'as of event SEQ: the state right after it (time travel)', intArg('--at'))
  .option('--at-time <iso>', 'as of an ISO 8601 time: the state after the last event at or before it')
  .option('--json', 'machine output')
  .action(run((opts: { json?: boolean } & AtFlags) => replayCommand(dataDir(), cliLogger(), flags(), opts)));

program
  .command('diff')
  .description('every state key added, changed or removed between two positions, with its value before and after (A and B: event seqs, or ISO 8601 times; "genesis" is the empty state)')
  .argument('<a>', 'first position: SEQ, ISO 8601 time, or genesis')
  .argument('<b>', 'second position: SEQ, ISO 8601 time, or genesis')
  .option('--prefix <p>', 'only keys starting with this prefix')
  .option('--json', 'NDJSON: a summary line, then one line per change')
  .action(run((a: string, b: string, opts: { prefix?: string; json?: boolean }) => diffCommand(dataDir(), cliLogger(), flags(), positionArg(a), positionArg(b), opts)));

const bundle = program.command('bundle').description('the vault: content-addressed bundles');
bundle
  .command('put')
  .description('store a file\'s bytes in the vault (deduplicated) and record it; "-" reads stdin')
  .argument('<file>', 'file to store')
  .option('--media-type <type>', 'media type', 'application/octet-stream')
  .option('--meta <json>', 'metadata object as JSON')
  .option('--json', 'errors as JSON on stdout')
  .action(run((file: string, opts: { mediaType: string; meta?: string }) => bundlePutCommand(dataDir(), cliLogger(), flags(), file, opts.mediaType, opts.meta)));
bundle
  .command('get')
  .description('write a bundle\'s bytes to stdout (or --out FILE), re-hashed on read')
  .argument('<hash>', 'SHA-256 of the bundle, 64 lowercase hex')
  .option('--out <file>', 'write to a file instead of stdout')
  .option('--json', 'errors as JSON on stdout')
  .action(run((hash: string, opts: { out?: string }) => bundleGetCommand(dataDir(), hash, opts.out)));
bundle
  .command('verify')
  .description('re-hash a bundle (or every bundle with --all) and compare with its name and its record in the state')
  .argument('[hash]', 'SHA-256 of the bundle')
  .option('--all', 'every bundle recorded in the state')
  .option('--json', 'machine output')
  .action(run((hash: string | undefined, opts: { all?: boolean; json?: boolean }) => bundleVerifyCommand(dataDir(), cliLogger(), flags(), hash, opts.all === true, opts.json === true)));

const snapshot = program.command('snapshot').description('state snapshots (DESIGN.md §5): speed-ups, never sources of truth');
snapshot
  .command('create')
  .description('replay and write a snapshot of the current log to snapshots/<size>.ndjson')
  .option('--json', 'machine output')
  .action(run((opts: { json?: boolean }) => snapshotCreateCommand(dataDir(), cliLogger(), flags(), opts.json === true)));
snapshot
  .command('list')
  .description('every snapshot with its size, roots and whether it is readable')
  .option('--json', 'NDJSON, one snapshot per line')
  .action(run((opts: { json?: boolean }) => snapshotListCommand(dataDir(), opts.json === true)));
snapshot
  .command('verify')
  .description('verify snapshots (all, or the files named) against a full replay from genesis: head, log root, state root, module states')
  .argument('[files...]', 'snapshot files (default: all)')
  .option('--json', 'NDJSON, one verdict per line')
  .action(run((files: string[], opts: { json?: boolean }) => snapshotVerifyCommand(dataDir(), cliLogger(), files, opts.json === true, pinnedKeys(flags()))));

program
  .command('verify')
  .description('verify everything from genesis: canonical form, schema, seq, prev chain, ts order, tree file, and by replaying every event, every checkpoint\'s log and state roots, its signature (against <data>/keys and --pubkey keys) and the module invariants')
  .option('--json', 'machine output')
  .option('--log-only', 'only the log (issue #2 checks, no state): faster, and parallel with --threads')
  .option('--threads <n>', 'with --log-only: worker threads (default: one per core, up to 4, for logs over 16 MiB; 1 = this thread only)', intArg('--threads'))
  .action(run((opts: { json?: boolean; logOnly?: boolean; threads?: number }) => verifyCommand(dataDir(), cliLogger(), { ...opts, publicKeys: pinnedKeys(flags()) })));

program
  .command('log')
  .description('list events with their derived hash')
  .option('--from <seq>', 'first seq', intArg('--from'))
  .option('--limit <n>', 'at most N events', intArg('--limit'))
  .option('--type <type>', 'only events of this type')
  .option('--json', 'NDJSON output, one event per line')
  .action(
    run((opts: { from?: number; limit?: number; type?: string; json?: boolean }) => {
      const query = { ...(opts.from === undefined ? {} : { from: opts.from }), ...(opts.limit === undefined ? {} : { limit: opts.limit }), ...(opts.type === undefined ? {} : { type: opts.type }) };
      for (const event of readEvents(dataDir(), query)) {
        if (opts.json === true) printJson(event);
        else process.stdout.write(`${event.seq}\t${event.ts}\t${event.type}@${event.v}\t${event.hash.slice(0, 16)}…\t${JSON.stringify(event.data)}\n`);
      }
    }),
  );

registerProveCommands(program, { dataDir, flags, logger: cliLogger, run, intArg });

program
  .command('consistency')
  .description('consistency proof between the log of size M and the log of size N')
  .argument('<m>', 'first size', intArg('M'))
  .argument('[n]', 'second size (default: current size)', intArg('N'))
  .option('--json', 'machine output')
  .action(
    run(async (m: number, n: number | undefined, opts: { json?: boolean }) => {
      const proof = await proveLogConsistency(dataDir(), m, n);
      if (opts.json === true) printJson(proof);
      else process.stdout.write(JSON.stringify(proof, null, 2) + '\n');
    }),
  );

program
  .command('keygen')
  .description('generate an Ed25519 key pair for signed checkpoints: FILE (secret, mode 0600; pass it to --signing-key) and FILE.pub (public: give it to auditors); never overwrites')
  .requiredOption('--out <file>', 'the secret key file to create (the public key goes to FILE.pub)')
  .option('--json', 'machine output')
  .action(run((opts: { out: string; json?: boolean }) => keygenCommand(opts.out, opts.json === true)));

program
  .command('schemas')
  .description('write the JSON Schemas of the event envelope and every registered (type, v)')
  .option('--out <dir>', 'directory to write into', 'schemas')
  .option('--check', 'exit 1 if the files differ from what would be written')
  .action(run((opts: { out: string; check?: boolean }) => writeSchemas(opts.out, opts.check === true)));

program
  .command('start')
  .description('open the data directory (creating it) as the writer: replay, recover a torn tail, repair derived files, write a checkpoint, print the status')
  .option('--json', 'machine output')
  .action(run((opts: { json?: boolean }) => startCommand(dataDir(), cliLogger('info'), flags(), opts.json === true)));

function portArg(value: string): number {
  const n = intArg('--port')(value);
  if (n > 65535) throw new InvalidArgumentError('--port must be 0…65535');
  return n;
}

program
  .command('serve')
  .description('run the writer service on the data directory (creating it): HTTP API, live stream and dashboard (docs/http-api.md)')
  .option('--host <host>', 'address to listen on (loopback unless told otherwise)', '127.0.0.1')
  .option('--port <port>', `port (0: any free port)`, portArg, servePortDefault)
  .option('--token-file <file>', 'read the bearer token from this file (else STELE_TOKEN, else <data>/service.token, generated on first start)')
  .action(run((opts: { host: string; port: number; tokenFile?: string }) => serveCommand(dataDir(), cliLogger('info'), flags(), listenFlags(opts))));

program
  .command('observe')
  .description('follow a data directory read-only (no lock; works on a read-only copy) and serve the read API, stream and dashboard')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port (0: any free port)', portArg, observePortDefault)
  .option('--poll', 'poll the log file instead of using file system events (network file systems, some bind mounts)')
  .option('--audit-interval-ms <ms>', 'period of the rolling re-hash that catches in-place changes, 8 MiB of log per run (default 2000; 0: only when the file changes without growing)', intArg('--audit-interval-ms'))
  .action(
    run((opts: { host: string; port: number; poll?: boolean; auditIntervalMs?: number }) =>
      observeCommand(dataDir(), cliLogger('info'), flags(), listenFlags(opts), { poll: opts.poll === true, ...(opts.auditIntervalMs === undefined ? {} : { auditIntervalMs: opts.auditIntervalMs }) }),
    ),
  );

program
  .command('demo')
  .description('fill a data directory with a realistic, deterministic demo workload; with --serve, serve it with a live trickle of commands')
  .option('--commands <n>', 'commands to run (default 5000)', intArg('--commands'))
  .option('--seed <n>', 'workload seed (default 42)', intArg('--seed'))
  .option('--serve', 'then serve it (dashboard at the printed URL)')
  .option('--trickle <perSecond>', 'live commands per second while serving (0: none)', intArg('--trickle'), 5)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port (0: any free port)', portArg, servePortDefault)
  .option('--token-file <file>', 'bearer token file (see serve)')
  .action(
    run((opts: { commands?: number; seed?: number; serve?: boolean; trickle: number; host: string; port: number; tokenFile?: string }) =>
      demoCommand(dataDir(), cliLogger('info'), flags(), listenFlags(opts), {
        serve: opts.serve === true,
        trickle: opts.trickle,
        ...(opts.commands === undefined ? {} : { commands: opts.commands }),
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      }),
    ),
  );

program
  .command('backup')
  .description('copy a consistent state of the data directory to DEST while its writer keeps writing (no lock): the log up to its newest checkpoint, stele.json, keys, snapshots, the bundles the copied log records; verified completely before DEST is created')
  .argument('<dest>', 'the backup directory to create (must not exist, or be empty)')
  .option('--json', 'machine output')
  .action(run((dest: string, opts: { json?: boolean }) => backupCommand(dataDir(), dest, cliLogger(), flags(), opts.json === true)));

program
  .command('restore')
  .description('verify SRC (a backup or a data directory) completely, then install a copy of it as --data DIR; --at SEQ / --at-time ISO restores the log only up to that position')
  .argument('<src>', 'the backup (or data directory) to restore from; only read')
  .option('--at <seq>', 'restore the log up to and including event SEQ (the meaning of replay --at)', intArg('--at'))
  .option('--at-time <iso>', 'restore the log up to the last event at or before this ISO 8601 time')
  .option('--force', 'replace a non-empty --data DIR: its current contents are moved to DIR.replaced-<time>, never deleted')
  .option('--json', 'machine output')
  .action(run((src: string, opts: AtFlags & { force?: boolean; json?: boolean }) => restoreCommand(src, dataDir(), cliLogger(), flags(), opts)));

registerForensicCommands(program, { dataDir, flags, logger: cliLogger, run, intArg });
registerMonitorCommand(program, { flags, logger: cliLogger, run, intArg });

function listenFlags(opts: { host: string; port: number; tokenFile?: string }): ListenFlags {
  return { host: opts.host, port: opts.port, ...(opts.tokenFile === undefined ? {} : { tokenFile: opts.tokenFile }) };
}

/** A position argument: an event seq, `genesis` (size 0), or an ISO 8601 time. */
function positionArg(text: string): AtSpec {
  if (text === 'genesis') return { size: 0 };
  if (/^\d+$/.test(text)) return { seq: intArg('position')(text) };
  return { time: text };
}

function commandList(): string {
  return new StateMachine().commandNames().join(', ');
}

function usage(message: string) {
  return steleError('STELE_E_USAGE', message, { fix: 'see stele --help' });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its message on stderr; help and version are not errors. A
    // bad flag or argument of a command run with --json is also the JSON error on stdout,
    // like every other error of that command (the action, which sets jsonMode, never ran).
    const helpOrVersion = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    if (!helpOrVersion && process.argv.slice(2).includes('--json')) printJson({ error: usage(err.message.replace(/^error: /, '')).toJSON() });
    process.exitCode = helpOrVersion ? 0 : exitCodes.usage;
  } else if (isSteleError(err)) {
    process.exitCode = reportError(err, jsonMode);
  } else {
    process.exitCode = reportError(err, jsonMode);
  }
}


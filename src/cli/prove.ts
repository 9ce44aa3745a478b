/**
 * `stele prove`, `stele prove event SEQ`, `stele prove state KEY` and `stele check-proof FILE`
 * (issue #5): writing proof bundles (src/proof/bundle.ts) from a data directory and checking
 * them with nothing but the file. Registered on the program by `registerProveCommands`, so
 * main.ts holds one line.
 *
 * - `prove SEQ [--size N]` keeps its meaning: the bare RFC 9162 inclusion proof of SEQ in the
 *   log of size N (what a monitor holding the root of size N checks against); `consistency`
 *   stays beside it. `prove event` is the self-contained, signed bundle.
 * - The bundle goes to stdout (the exact file bytes) or to `--out FILE`; a bundle that no
 *   signed checkpoint anchors is still written, with a note on stderr.
 * - `check-proof` pins keys with the global `--pubkey` (repeatable).
 *
 * Exit codes: 0 written / valid, 1 invalid, 2 usage or malformed.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { PublicKey } from '../crypto/keys.js';
import { steleError } from '../errors.js';
import type { AtSpec } from '../history/at.js';
import { proveEvent } from '../log/read.js';
import { DataDirBundles } from '../proof/build.js';
import type { BuiltBundle } from '../proof/build.js';
import { ioError } from '../store/file-store.js';
import { checkProofFile } from './check-proof.js';
import { pinnedKeys } from './engine.js';
import type { CliContext } from './forensic.js';
import { exitCodes, printJson } from './output.js';

interface ProveFlags {
  size?: number;
  out?: string;
  json?: boolean;
}

export function registerProveCommands(program: Command, ctx: CliContext): void {
  const prove = program
    .command('prove')
    .description('proofs of the log: `prove SEQ` is the bare inclusion proof of event SEQ in the log of size N (default: current size); `prove event` and `prove state` write self-contained, signed proof bundles (stele check-proof verifies them offline)')
    .argument('[seq]', 'event seq (bare inclusion proof)', ctx.intArg('SEQ'))
    .option('--size <n>', 'tree size to prove against', ctx.intArg('--size'))
    .option('--json', 'machine output')
    .action(
      ctx.run(async (seq: number | undefined, opts: ProveFlags) => {
        if (seq === undefined) throw steleError('STELE_E_USAGE', 'prove needs SEQ, or a subcommand: prove event SEQ, prove state KEY', { fix: 'see stele prove --help' });
        const proof = await proveEvent(ctx.dataDir(), seq, opts.size);
        if (opts.json === true) printJson(proof);
        else process.stdout.write(JSON.stringify(proof, null, 2) + '\n');
      }),
    );

  // `prove` owns --size and --json too (for `prove SEQ`): commander gives an option to the
  // first command that declares it, so the subcommands read theirs with optsWithGlobals().
  prove
    .command('event')
    .description('a proof bundle of event SEQ: the exact line, the newest signed checkpoint that commits to it (size ≤ N) and the inclusion proof into the tree it signs; verified before it is written')
    .argument('<seq>', 'event seq', ctx.intArg('SEQ'))
    .option('--size <n>', 'anchor to the newest signed checkpoint among the first N events (default: all)', ctx.intArg('--size'))
    .option('--out <file>', 'write the bundle to FILE (default: stdout)')
    .option('--json', 'machine output (with --out: a summary object; errors as JSON)')
    .action((seq: number, _opts: unknown, cmd: Command) =>
      ctx.run(async (flags: ProveFlags) => {
        const bundles = await DataDirBundles.open(ctx.dataDir(), { ...keysOption(pinnedKeys(ctx.flags())), logger: ctx.logger(), snapshot: ctx.flags().snapshot });
        try {
          const built = await bundles.eventBundle(seq, flags.size === undefined ? {} : { size: flags.size });
          return emit(built, flags);
        } finally {
          bundles.close();
        }
      })(cmd.optsWithGlobals<ProveFlags>()),
    );

  prove
    .command('state')
    .description('a proof bundle of the state KEY (its value, or its absence) as of the newest signed checkpoint at or before the position (default: the newest), whose signed stateRoot the proof leads to; verified before it is written')
    .argument('<key>', 'state key (kv:<key>, account:<id>, bundle:<sha256>, …)')
    .option('--at <seq>', 'the position: after event SEQ', ctx.intArg('--at'))
    .option('--at-time <iso>', 'the position: after the last event at or before this ISO 8601 time')
    .option('--out <file>', 'write the bundle to FILE (default: stdout)')
    .option('--json', 'machine output (with --out: a summary object; errors as JSON)')
    .action((key: string, _opts: unknown, cmd: Command) =>
      ctx.run(async (flags: ProveFlags & { at?: number; atTime?: string }) => {
        if (flags.at !== undefined && flags.atTime !== undefined) throw steleError('STELE_E_USAGE', 'give --at or --at-time, not both', { fix: 'see stele prove state --help' });
        // `prove` owns --size (for `prove SEQ`): here it would be silently ignored.
        if (flags.size !== undefined) throw steleError('STELE_E_USAGE', 'prove state takes --at or --at-time, not --size', { fix: 'see stele prove state --help' });
        const at: AtSpec | undefined = flags.at !== undefined ? { seq: flags.at } : flags.atTime !== undefined ? { time: flags.atTime } : undefined;
        const bundles = await DataDirBundles.open(ctx.dataDir(), { ...keysOption(pinnedKeys(ctx.flags())), logger: ctx.logger(), snapshot: ctx.flags().snapshot });
        try {
          return emit(bundles.stateBundle(key, at === undefined ? {} : { at }), flags);
        } finally {
          bundles.close();
        }
      })(cmd.optsWithGlobals<ProveFlags & { at?: number; atTime?: string }>()),
    );

  program
    .command('check-proof')
    .description('verify a proof file offline, with nothing but the file ("-" reads stdin): a bundle of stele prove event/state (every check and the verdict; pin the signer with the global --pubkey KEY, repeatable), or a bare inclusion, consistency or state proof. Exit 0 valid, 1 invalid, 2 malformed')
    .argument('<file>', 'proof file written by stele prove / consistency / state get --proof')
    .option('--json', 'machine output')
    .action(ctx.run((file: string, opts: { json?: boolean }) => checkProofFile(file, opts.json === true, pinnedKeys(ctx.flags()))));
}

function keysOption(keys: PublicKey[] | undefined): { publicKeys?: PublicKey[] } {
  return keys === undefined ? {} : { publicKeys: keys };
}

/** Writes a built bundle to stdout or --out, with the note of an unanchored bundle on stderr. */
function emit(built: BuiltBundle, flags: ProveFlags): number {
  if (built.note !== undefined) process.stderr.write(`stele: note: ${built.note}\n`);
  if (flags.out === undefined) {
    process.stdout.write(built.text);
    return exitCodes.ok;
  }
  try {
    fs.writeFileSync(flags.out, built.text);
  } catch (err) {
    throw ioError(err, flags.out, 'write the bundle');
  }
  const what = built.bundle.kind === 'event' ? `event ${built.bundle.seq}` : `state ${built.bundle.proof.key} (${built.bundle.proof.valueHash === undefined ? 'absent' : 'present'}) as of size ${built.size}`;
  if (flags.json === true) {
    printJson({ file: flags.out, kind: built.bundle.kind, bytes: Buffer.byteLength(built.text), anchored: built.anchored, checkpoint: built.checkpoint, size: built.size, ...(built.note === undefined ? {} : { note: built.note }) });
  } else {
    const anchor = built.checkpoint === null ? 'not anchored (no signed checkpoint)' : `anchored to the checkpoint of size ${built.checkpoint.size} signed by ${built.checkpoint.keyId}`;
    process.stdout.write(`wrote ${flags.out}: ${what}, ${anchor}\n`);
  }
  return exitCodes.ok;
}

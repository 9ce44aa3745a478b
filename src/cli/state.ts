/**
 * The CLI's state reads (issue #3): `status`, `state get|dump|root`, `ledger balance|accounts`,
 * `stats`. Each replays the data directory read-only (no lock, so it runs beside a writer),
 * from the newest usable snapshot unless `--no-snapshot`.
 */
import type { Logger } from 'pino';
import type { JsonValue } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { fromHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { formatStateProof } from '../proof/state-proof.js';
import type { EngineFlags } from './engine.js';
import { readState } from './engine.js';
import { exitCodes, printJson } from './output.js';
import type { AtSpec } from '../history/at.js';
import type { AtFlags } from './history.js';
import { atSpecOf, readMachine } from './history.js';
import { signatureLine, signatureWarnings } from './verify.js';

/** Exit code of a read: 0, or 1 when the log is damaged (the read still printed what it could). */
function readExit(damaged: boolean): number {
  return damaged ? exitCodes.verifyFailed : exitCodes.ok;
}

export async function statusCommand(dir: string, logger: Logger, flags: EngineFlags, json: boolean): Promise<number> {
  const { machine, stats, scan, damaged, fault } = await readState(dir, logger, flags, json);
  const modules: Record<string, JsonValue> = {};
  for (const m of machine.modules) {
    const entries: Record<string, number> = {};
    for (const p of m.keyPrefixes) entries[p] = machine.entries.count(p);
    modules[m.name] = { version: m.version, entries };
  }
  const status = {
    size: stats.size,
    logRoot: stats.logRoot,
    headHash: stats.headHash,
    lastTs: scan.verifier.head.lastTs === '' ? null : scan.verifier.head.lastTs,
    stateRoot: stats.stateRoot,
    entries: stats.entries,
    integrity: damaged ? 'damaged' : 'ok',
    ...(fault === undefined ? {} : { fault: fault.toJSON() }),
    ...(scan.tornTail === undefined ? {} : { tornTail: { offset: scan.tornTail.offset, bytes: scan.tornTail.bytes } }),
    checkpoints: stats.checkpoints,
    modules,
    replay: { snapshot: stats.snapshot ?? null, reduced: stats.reduced, ms: stats.ms },
  };
  if (json) printJson(status);
  else {
    const lines = [
      `size       ${status.size}`,
      `logRoot    ${status.logRoot}`,
      `stateRoot  ${status.stateRoot}`,
      `headHash   ${status.headHash}`,
      `lastTs     ${status.lastTs ?? '-'}`,
      `integrity  ${status.integrity}`,
      `entries    ${status.entries} (${machine.modules.map((m) => `${m.name} ${Object.values((modules[m.name] as { entries: Record<string, number> }).entries).reduce((a, b) => a + b, 0)}`).join(', ')})`,
      `checkpoint ${stats.checkpoints.last === undefined ? 'none yet' : `last at seq ${stats.checkpoints.last.seq}; ${stats.checkpoints.logRootsChecked} verified`}`,
      `signatures ${signatureLine(stats.checkpoints)}`,
      `replay     ${stats.ms.total} ms (${stats.snapshot === undefined ? 'from genesis' : `from ${stats.snapshot.file}`}, ${stats.reduced} events reduced)`,
    ];
    if (status.tornTail !== undefined) lines.push(`warning    torn last line of ${status.tornTail.bytes} bytes (the writer quarantines it on open)`);
    for (const w of signatureWarnings(stats.checkpoints)) lines.push(`warning    ${w}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return readExit(damaged);
}

export async function stateGetCommand(dir: string, logger: Logger, flags: EngineFlags, key: string, opts: { proof?: boolean; json?: boolean } & AtFlags): Promise<number> {
  const { machine, damaged } = await readMachine(dir, logger, flags, atSpecOf(opts), opts.json === true);
  const value = machine.entries.get(key);
  const stateRoot = machine.stateRoot();
  if (opts.proof === true) {
    const proof = formatStateProof(sha256, key, machine.entries.prove(key), fromHex(stateRoot)!, value);
    if (opts.json === true) printJson(proof);
    else process.stdout.write(JSON.stringify(proof, null, 2) + '\n');
    return readExit(damaged);
  }
  if (value === undefined) {
    throw steleError('STELE_E_NOT_FOUND', `no state entry ${key}`, { where: { path: key }, fix: 'list keys with stele state dump; kv keys are kv:<key>, accounts account:<id>, bundles bundle:<sha256>' });
  }
  if (opts.json === true) printJson({ key, value, stateRoot, size: machine.size });
  else process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  return readExit(damaged);
}

/** NDJSON `[key, value]`, sorted by key: what an independent checker recomputes the state root from. */
export async function stateDumpCommand(dir: string, logger: Logger, flags: EngineFlags, prefix: string | undefined, at?: AtSpec): Promise<number> {
  const { machine, damaged } = await readMachine(dir, logger, flags, at, true);
  const out: string[] = [];
  for (const entry of machine.entries.entries()) {
    if (prefix !== undefined && !entry[0].startsWith(prefix)) continue;
    out.push(JSON.stringify(entry));
    if (out.length >= 4096) {
      process.stdout.write(out.join('\n') + '\n');
      out.length = 0;
    }
  }
  if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
  return readExit(damaged);
}

export async function ledgerBalanceCommand(dir: string, logger: Logger, flags: EngineFlags, id: string, json: boolean, at?: AtSpec): Promise<number> {
  const { machine, damaged } = await readMachine(dir, logger, flags, at, json);
  const value = machine.entries.get(`account:${id}`);
  if (value === undefined) throw steleError('STELE_E_NOT_FOUND', `no account ${id}`, { where: { path: id }, fix: 'open it with stele cmd ledger.open \'{"account":"…"}\'; list accounts with stele ledger accounts' });
  const account = value as { balance: string };
  if (json) printJson({ account: id, ...account, size: machine.size, stateRoot: machine.stateRoot() });
  else process.stdout.write(`${account.balance}\n`);
  return readExit(damaged);
}

export async function ledgerAccountsCommand(dir: string, logger: Logger, flags: EngineFlags, json: boolean, at?: AtSpec): Promise<number> {
  const { machine, damaged } = await readMachine(dir, logger, flags, at, json);
  for (const [key, value] of machine.entries.list('account:')) {
    const id = key.slice('account:'.length);
    if (json) printJson({ account: id, ...(value as object) });
    else process.stdout.write(`${id}\t${(value as { balance: string }).balance}\n`);
  }
  return readExit(damaged);
}

/** The audit dashboard statistics (and the other modules' summary views). */
export async function statsCommand(dir: string, logger: Logger, flags: EngineFlags, json: boolean, at?: AtSpec): Promise<number> {
  const { machine, damaged } = await readMachine(dir, logger, flags, at, json);
  const stats = machine.view('audit', 'stats');
  const out = { size: machine.size, stateRoot: machine.stateRoot(), ...(stats as object) };
  if (json) printJson(out);
  else process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return readExit(damaged);
}


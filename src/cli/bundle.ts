/**
 * `stele bundle put|get|verify`: the vault's bytes (src/store/vault-store.ts) and their
 * records in the log (`vault.put` → vault.bundle_stored, state `bundle:<sha256>`).
 *
 * put: the bytes are stored first (atomic, fsynced, under the writer lock), then recorded;
 * a crash between the two leaves an unrecorded file, which the next put of the same bytes
 * records (the file is content-addressed, so it is never wrong, only unreferenced).
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { JsonObject } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import { limits } from '../limits.js';
import { VaultStore } from '../store/vault-store.js';
import { parseArg } from './append.js';
import type { EngineFlags } from './engine.js';
import { readState, withEngine } from './engine.js';
import { putBundle } from '../runtime/bundles.js';
import { exitCodes, printJson } from './output.js';
import { checkDataDir } from '../store/data-dir.js';

export async function bundlePutCommand(dir: string, logger: Logger, flags: EngineFlags, file: string, mediaType: string, meta: string | undefined): Promise<number> {
  const metaValue = meta === undefined ? undefined : parseArg(meta, '--meta');
  const bytes = readInput(file);
  const out = await withEngine(dir, logger, flags, async (engine) => {
    const { command, ...stored } = await putBundle(engine, bytes, mediaType, metaValue as JsonObject | undefined);
    return { ...stored, result: command.result ?? null, acks: command.acks };
  });
  printJson({ ok: true, ...out });
  return exitCodes.ok;
}

export async function bundleGetCommand(dir: string, hash: string, out: string | undefined): Promise<number> {
  const paths = checkDataDir(dir, false);
  const bytes = await new VaultStore(paths.dir, { readOnly: true }).get(hash);
  if (out === undefined) process.stdout.write(bytes);
  else fs.writeFileSync(out, bytes);
  return exitCodes.ok;
}

export async function bundleVerifyCommand(dir: string, logger: Logger, flags: EngineFlags, hash: string | undefined, all: boolean, json: boolean): Promise<number> {
  if ((hash === undefined) === !all) throw steleError('STELE_E_USAGE', 'give either HASH or --all', { fix: 'stele bundle verify <sha256> | stele bundle verify --all' });
  const { machine, damaged } = await readState(dir, logger, flags, json);
  const vault = new VaultStore(checkDataDir(dir, false).dir, { readOnly: true });
  const hashes = hash !== undefined ? [hash] : machine.entries.list('bundle:').map(([k]) => k.slice('bundle:'.length));
  let failed = false;
  for (const h of hashes) {
    const record = machine.entries.get(`bundle:${h}`) as { size: number } | undefined;
    let verdict: { sha256: string; ok: boolean; size?: number; recorded: boolean; error?: unknown };
    try {
      const checked = await vault.verify(h);
      const sizeOk = record === undefined || record.size === checked.size;
      verdict = { sha256: h, ok: checked.ok && sizeOk && record !== undefined, size: checked.size, recorded: record !== undefined };
      if (!sizeOk) verdict.error = { code: 'STELE_E_BUNDLE_CORRUPT', message: `recorded size ${record.size}, file has ${checked.size} bytes` };
      else if (record === undefined) verdict.error = { code: 'STELE_E_NOT_FOUND', message: 'the bytes are in the vault but no vault.bundle_stored event records them' };
    } catch (err) {
      if (!isSteleError(err)) throw err;
      verdict = { sha256: h, ok: false, recorded: record !== undefined, error: err.toJSON() };
    }
    if (!verdict.ok) failed = true;
    if (json) printJson(verdict);
    else process.stdout.write(verdict.ok ? `ok      ${h} (${verdict.size} bytes)\n` : `FAILED  ${h}: ${JSON.stringify(verdict.error)}\n`);
  }
  return failed || damaged ? exitCodes.verifyFailed : exitCodes.ok;
}

/** A file's bytes, or stdin's for "-", refusing anything over the bundle limit before reading it all. */
function readInput(file: string): Buffer {
  if (file === '-') {
    const bytes = fs.readFileSync(0);
    if (bytes.length > limits.bundleBytesMax) throw tooLarge(bytes.length);
    return bytes;
  }
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    throw steleError('STELE_E_NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { where: { file }, fix: 'check the path' });
  }
  if (size > limits.bundleBytesMax) throw tooLarge(size);
  return fs.readFileSync(file);
}

function tooLarge(bytes: number) {
  return steleError('STELE_E_INPUT_TOO_LARGE', `the bundle is ${bytes} bytes, over the limit of ${limits.bundleBytesMax}`, {
    expected: `<= ${limits.bundleBytesMax} bytes`,
    found: `${bytes} bytes`,
    fix: 'split the content, or raise limits.bundleBytesMax in a build of your own',
  });
}

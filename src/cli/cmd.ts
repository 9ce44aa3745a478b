/**
 * `stele cmd NAME JSON` and `stele cmd --stdin`: commands through the modules' deciders.
 *
 * One command: prints `{"ok":true,"cmd":…,"result":…,"acks":[…]}` and exits 0; a guard's
 * rejection prints its code and reason (recorded in the log as audit.command_rejected) and
 * exits 2; malformed input is refused before anything is written.
 *
 * `--stdin`: NDJSON of `{cmd, data, meta?}`. Each line is decided in order, each seeing
 * the effects of the lines before it; one NDJSON result per non-empty line, in input
 * order (`{"line":n,"ok":true,…}` or `{"line":n,"ok":false,"error":{code,message,…}}`);
 * processing goes on after a rejection or a malformed line; exit 2 if any line failed.
 * Lines are submitted together so they share group commits (one fsync per batch), which
 * keeps their order: the writer decides queued commands first in, first out.
 */
import type { Logger } from 'pino';
import type { JsonObject, JsonValue } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import type { SteleError } from '../errors.js';
import { limits } from '../limits.js';
import type { CommandInput } from '../runtime/machine.js';
import type { Engine } from '../runtime/engine.js';
import { parseArg, readStdinLines } from './append.js';
import { withEngine } from './engine.js';
import type { EngineFlags } from './engine.js';
import { exitCodes, printJson } from './output.js';

export async function cmdFromArgs(dir: string, logger: Logger, flags: EngineFlags, name: string, json: string, meta: string | undefined, expectedSize: number | undefined): Promise<number> {
  const input: CommandInput = { cmd: name, data: parseArg(json, 'JSON') };
  if (meta !== undefined) input.meta = parseArg(meta, '--meta') as JsonObject;
  const out = await withEngine(dir, logger, flags, (engine) => engine.run(input, expectedSize === undefined ? {} : { expectedSize }));
  printJson({ ok: true, cmd: name, result: out.result ?? null, acks: out.acks });
  return exitCodes.ok;
}

type LineResult = { line: number; ok: true; cmd: string; result: JsonValue; acks: unknown[] } | { line: number; ok: false; error: ReturnType<SteleError['toJSON']> };

export async function cmdFromStdin(dir: string, logger: Logger, flags: EngineFlags): Promise<number> {
  const lines = (await readStdinLines()).filter((l) => l.text.trim() !== '');
  if (lines.length > limits.stdinEventsMax) {
    throw steleError('STELE_E_BATCH_TOO_LARGE', `more than ${limits.stdinEventsMax} commands on stdin`, { fix: `split the input into batches of at most ${limits.stdinEventsMax} commands` });
  }
  const results = await withEngine(dir, logger, flags, (engine) => Promise.all(lines.map((l) => runLine(engine, l.text, l.lineNumber))));
  let failed = false;
  for (const r of results) {
    if (!r.ok) failed = true;
    printJson(r);
  }
  return failed ? exitCodes.usage : exitCodes.ok;
}

async function runLine(engine: Engine, text: string, lineNumber: number): Promise<LineResult> {
  try {
    const value = parseArg(text, `input line ${lineNumber}`);
    const input = value as unknown as CommandInput;
    const out = await engine.run(input);
    return { line: lineNumber, ok: true, cmd: input.cmd, result: out.result ?? null, acks: out.acks };
  } catch (err) {
    if (!isSteleError(err)) throw err;
    return { line: lineNumber, ok: false, error: err.at({ inputLine: lineNumber }).toJSON() };
  }
}

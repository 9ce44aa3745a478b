/**
 * `stele append TYPE JSON` and `stele append --stdin`.
 *
 * stdin is NDJSON of `{type, v?, data, meta?}`. It is read whole (bounded by
 * `limits.stdinEventsMax` events and `limits.inputBytesMax` bytes), every line is parsed
 * with the strict parser (duplicate keys, lone surrogates… are errors naming the line),
 * and the events go to the writer as one batch: either all are written or none is.
 * `ndjson` is not used here because its JSON.parse silently keeps the last of duplicate keys.
 */
import type { Logger } from 'pino';
import { parseJson } from '../canonical/json.js';
import type { JsonValue } from '../canonical/json.js';
import { isSteleError, steleError } from '../errors.js';
import { limits } from '../limits.js';
import { LineSplitter } from '../log/line-splitter.js';
import type { Ack, AppendInput } from '../log/writer.js';
import { withEngine } from './engine.js';
import type { EngineFlags } from './engine.js';
import { exitCodes, printJson } from './output.js';

export async function appendFromArgs(dir: string, logger: Logger, flags: EngineFlags, type: string, json: string, v: number | undefined, meta: string | undefined): Promise<number> {
  const data = parseArg(json, 'JSON');
  const input: AppendInput = { type, data };
  if (v !== undefined) input.v = v;
  if (meta !== undefined) input.meta = parseArg(meta, '--meta');
  const acks = await withEngine(dir, logger, flags, (engine) => engine.append([input]));
  for (const ack of acks) printJson(ack);
  return exitCodes.ok;
}

export async function appendFromStdin(dir: string, logger: Logger, flags: EngineFlags): Promise<number> {
  const lines = await readStdinLines();
  const inputs: AppendInput[] = [];
  const lineNumbers: number[] = [];
  for (const { text, lineNumber } of lines) {
    if (text.trim() === '') continue;
    if (inputs.length >= limits.stdinEventsMax) {
      throw steleError('STELE_E_BATCH_TOO_LARGE', `more than ${limits.stdinEventsMax} events on stdin`, {
        where: { inputLine: lineNumber },
        fix: `split the input into batches of at most ${limits.stdinEventsMax} events`,
      });
    }
    inputs.push(toInput(text, lineNumber));
    lineNumbers.push(lineNumber);
  }
  if (inputs.length === 0) return exitCodes.ok;
  let acks: Ack[];
  try {
    acks = await withEngine(dir, logger, flags, (engine) => engine.append(inputs));
  } catch (err) {
    // The writer numbers inputs 1…n; report the line of stdin instead.
    if (isSteleError(err) && err.where.inputLine !== undefined) {
      const line = lineNumbers[err.where.inputLine - 1] ?? err.where.inputLine;
      throw Object.assign(err.at({}), { where: { ...err.where, inputLine: line } });
    }
    if (isSteleError(err) && inputs.length === 1) throw err.at({ inputLine: lineNumbers[0]! });
    throw err;
  }
  for (const ack of acks) printJson(ack);
  return exitCodes.ok;
}

export function parseArg(text: string, what: string): JsonValue {
  if (Buffer.byteLength(text) > limits.inputBytesMax) {
    throw steleError('STELE_E_INPUT_TOO_LARGE', `${what} is over ${limits.inputBytesMax} bytes`, { fix: 'use --stdin for large inputs' });
  }
  try {
    return parseJson(text);
  } catch (err) {
    if (isSteleError(err)) throw steleError(err.code, `${what}: ${err.message}`, { where: err.where, fix: err.fix ?? `pass ${what} as one JSON value, quoted for the shell` });
    throw err;
  }
}

const inputKeys = new Set(['type', 'v', 'data', 'meta']);

function toInput(text: string, lineNumber: number): AppendInput {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (err) {
    if (isSteleError(err)) throw err.at({ inputLine: lineNumber });
    throw err;
  }
  const where = { inputLine: lineNumber };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw steleError('STELE_E_SCHEMA', 'each line must be an object {type, v?, data, meta?}', { where, fix: 'write one JSON object per line' });
  }
  for (const key of Object.keys(value)) {
    if (!inputKeys.has(key)) throw steleError('STELE_E_SCHEMA', `unknown field ${key}; a line is {type, v?, data, meta?}`, { where: { ...where, path: key } });
  }
  const input: AppendInput = { type: value.type as string, data: value.data };
  if (typeof value.type !== 'string') throw steleError('STELE_E_SCHEMA', 'type must be a string', { where: { ...where, path: 'type' } });
  if (value.data === undefined) throw steleError('STELE_E_SCHEMA', 'data is missing', { where: { ...where, path: 'data' } });
  if (value.v !== undefined) {
    if (typeof value.v !== 'number' || !Number.isSafeInteger(value.v) || value.v < 1) throw steleError('STELE_E_SCHEMA', 'v must be an integer ≥ 1', { where: { ...where, path: 'v' } });
    input.v = value.v;
  }
  if (value.meta !== undefined) input.meta = value.meta;
  return input;
}

/** Reads stdin into lines, refusing over-long lines and inputs over the byte limit. */
export async function readStdinLines(): Promise<{ text: string; lineNumber: number }[]> {
  const out: { text: string; lineNumber: number }[] = [];
  let lineNumber = 0;
  let total = 0;
  let failure: Error | undefined;
  const splitter = new LineSplitter(
    {
      line: (chunk, start, end) => {
        lineNumber++;
        out.push({ text: chunk.toString('utf8', start, end), lineNumber });
      },
      overlong: (_offset, bytes) => {
        lineNumber++;
        failure ??= steleError('STELE_E_LINE_TOO_LARGE', `input line is ${bytes} bytes, over the limit of ${limits.lineBytesMax}`, {
          where: { inputLine: lineNumber },
          fix: 'store large content as a bundle, or split the payload',
        });
      },
    },
    limits.lineBytesMax,
  );
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limits.inputBytesMax) {
      throw steleError('STELE_E_INPUT_TOO_LARGE', `stdin is over ${limits.inputBytesMax} bytes`, { fix: 'split the input into several appends' });
    }
    splitter.push(chunk);
    if (failure !== undefined) throw failure;
  }
  const tail = splitter.finish();
  if (failure !== undefined) throw failure;
  if (tail.bytes > 0 && tail.data !== undefined) out.push({ text: tail.data.toString('utf8'), lineNumber: lineNumber + 1 });
  return out;
}

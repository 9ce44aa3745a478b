/**
 * The monitor's state file (`stele monitor --state FILE`): what it remembers between looks.
 * `format`/`parse` only; the shell (src/monitor/monitor.ts) reads and writes the file.
 *
 * One line of RFC 8785 canonical JSON and `\n`:
 *
 *   {"checked":{"at":ts,"keyId"?:hex64,"signature":"valid"|"unsigned"|"unknown-key","verdict":"first"|"unchanged"|"advanced"},
 *    "checkpoint":{"data":{size,logRoot,stateRoot,sig?,keyId?},"hash":hex64,"seq":n,"ts":ts},
 *    "format":"stele.monitor.state",
 *    "head":{"logRoot":hex64,"size":n},
 *    "keys":[{"keyId":hex64,"publicKey":hex64}…],
 *    "source":"<URL or absolute directory>",
 *    "trusted":{"at":ts,"seq":n},
 *    "v":1}
 *
 * `checkpoint` and `head` are the trust anchor (src/monitor/verdict.ts); `trusted` says when
 * and at which checkpoint the log was first trusted (trust on first use); `keys` are the keys
 * learned on first use; `checked` is the last look that advanced the file. The parser is
 * strict (size cap before parsing, canonical form, no unknown fields, the anchor's own
 * invariants): it rejects what `formatMonitorState` would never write.
 */
import { z } from 'zod';
import { canonicalize, isCanonical, parseJson } from '../canonical/json.js';
import { keyIdOf } from '../crypto/checkpoint-sig.js';
import { steleError } from '../errors.js';
import { fromHex } from '../hash/hex.js';
import type { Sha256 } from '../hash/sha256.js';
import { limits } from '../limits.js';
import type { MonitoredCheckpoint, OkVerdict, TreeHead } from './verdict.js';

export const monitorStateFormat = 'stele.monitor.state';

export interface MonitorState {
  format: typeof monitorStateFormat;
  v: 1;
  /** The URL or absolute data directory it was last checked against. */
  source: string;
  /** When the log was first trusted, and the checkpoint trusted then. */
  trusted: { at: string; seq: number };
  checkpoint: MonitoredCheckpoint;
  head: TreeHead;
  /** Keys learned on first use (not the pinned ones, which come from the command line each time). */
  keys: { keyId: string; publicKey: string }[];
  checked: { at: string; verdict: OkVerdict; signature: 'valid' | 'unsigned' | 'unknown-key'; keyId?: string };
}

const hash64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const ts = z.string().min(1).max(64);

const stateSchema = z
  .object({
    format: z.literal(monitorStateFormat),
    v: z.literal(1),
    source: z.string().min(1).max(4096),
    trusted: z.object({ at: ts, seq: count }).strict(),
    checkpoint: z
      .object({
        seq: count,
        ts,
        hash: hash64,
        data: z
          .object({ size: count, logRoot: hash64, stateRoot: hash64, sig: z.string().max(256).optional(), keyId: z.string().max(256).optional() })
          .strict(),
      })
      .strict(),
    head: z.object({ size: count, logRoot: hash64 }).strict(),
    keys: z.array(z.object({ keyId: hash64, publicKey: hash64 }).strict()).max(limits.keyringKeysMax),
    checked: z
      .object({ at: ts, verdict: z.enum(['first', 'unchanged', 'advanced']), signature: z.enum(['valid', 'unsigned', 'unknown-key']), keyId: hash64.optional() })
      .strict(),
  })
  .strict();

/** The file's text: canonical JSON and `\n`. */
export function formatMonitorState(state: MonitorState): string {
  return `${canonicalize(state)}\n`;
}

/** Parses a state file's bytes (see the file comment); STELE_E_USAGE naming the file on anything off. */
export function parseMonitorState(sha: Sha256, bytes: Uint8Array, file: string): MonitorState {
  const bad = (why: string): never => {
    throw steleError('STELE_E_USAGE', `the monitor state file ${file} is not valid: ${why}`, {
      where: { file },
      fix: 'stele monitor alone writes this file: restore it from a backup, or move it away so the next run trusts the log again on first use (and says so)',
    });
  };
  if (bytes.length > limits.monitorStateBytesMax) bad(`it is ${bytes.length} bytes, over the ${limits.monitorStateBytesMax} of a state file`);
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) bad('it does not end with a newline');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, bytes.length - 1));
  } catch {
    return bad('it is not UTF-8');
  }
  if (!isCanonical(text)) bad('it is not one line of canonical JSON');
  const parsed = stateSchema.safeParse(parseJson(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return bad(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const state: MonitorState = parsed.data;
  const { checkpoint, head } = state;
  if (checkpoint.seq !== checkpoint.data.size) bad(`checkpoint seq ${checkpoint.seq} differs from its size ${checkpoint.data.size}`);
  if (head.size <= checkpoint.seq) bad(`the head (size ${head.size}) does not contain the checkpoint at seq ${checkpoint.seq}`);
  if (state.trusted.seq > checkpoint.seq) bad(`trusted.seq ${state.trusted.seq} is after the checkpoint's ${checkpoint.seq}`);
  for (const k of state.keys) if (keyIdOf(sha, fromHex(k.publicKey)!) !== k.keyId) bad(`key ${k.keyId} is not the SHA-256 of its public key`);
  return state;
}

/**
 * The answers of the time-travel reads (`?at=` on /v1/state, /v1/accounts, /v1/stats), as
 * of a past position, from the data directory's files. Runs in the time-travel worker (or
 * on the server's thread when the worker is not built). Shapes match the live routes, plus
 * `at`: the position and roots the answer is derived at.
 */
import type { JsonObject, JsonValue } from '../canonical/json.js';
import { steleError } from '../errors.js';
import { fromHex } from '../hash/hex.js';
import { sha256 } from '../hash/sha256.js';
import { stateAt } from '../history/at.js';
import { formatStateProof } from '../proof/state-proof.js';

export type AtQuery = { seq: number } | { time: string };

export type TimeTravelAsk = { at: AtQuery } & ({ route: 'state'; key: string } | { route: 'account'; id: string } | { route: 'stats' });

export function answerAt(dataDir: string, ask: TimeTravelAsk): JsonValue {
  const r = stateAt(dataDir, ask.at);
  const machine = r.machine;
  const at: JsonObject = { size: r.size, seq: r.seq, ts: r.ts, logRoot: r.logRoot, stateRoot: r.stateRoot, headHash: r.headHash, base: r.base, replayed: r.replayed };
  if (ask.route === 'state') {
    const value = machine.entries.get(ask.key);
    const proof = formatStateProof(sha256, ask.key, machine.entries.prove(ask.key), fromHex(r.stateRoot)!, value);
    return { key: ask.key, found: value !== undefined, ...(value === undefined ? {} : { value }), size: r.size, proof: proof as unknown as JsonValue, at };
  }
  if (ask.route === 'account') {
    const state = machine.entries.get(`account:${ask.id}`) as JsonObject | undefined;
    if (state === undefined) {
      throw steleError('STELE_E_NOT_FOUND', `no ledger account ${ask.id} as of size ${r.size}`, { where: { path: ask.id }, fix: 'the account may have been opened later: ask without at, or at a later position' });
    }
    return { id: ask.id, balance: state['balance'] as string, allowNegative: state['allowNegative'] === true, open: state['open'] === true, state, at };
  }
  const audit = machine.view('audit', 'stats') as JsonObject;
  return { ...audit, ledger: machine.view('ledger', 'totals'), size: r.size, at };
}

/**
 * explainAccount: on generated histories the balance derived event by event equals the
 * state's for every account (from genesis and from a snapshot), each change is the running
 * balance's step; with a changed reducer, or a forged snapshot, the two differ and the
 * result carries STELE_E_DIVERGENCE (which the CLI maps to exit 1).
 */
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/canonical/json.js';
import { exitCodeOf } from '../../src/cli/output.js';
import { explainAccount } from '../../src/forensic/explain.js';
import type { ExplainChange } from '../../src/forensic/explain.js';
import { replayDir } from '../../src/runtime/replay.js';
import { caughtSteleError } from '../helpers.js';
import { alterSnapshotEntry, generousOptions, makeHistory, readLog, snapshotEntries } from './fixtures.js';

describe('explainAccount', () => {
  it('derives every account balance from zero, equal to the state, from genesis and from a snapshot', async () => {
    for (const seed of [11, 12]) {
      const history = await makeHistory({ seed, commands: 150, chunk: 50, snapshotAfter: [1], bundles: 0, workload: { accounts: 6 } });
      const state = (await replayDir(history.data, { snapshot: false })).machine;
      const accounts = state.entries.list('account:');
      expect(accounts.length).toBeGreaterThan(3);
      for (const [key, value] of accounts) {
        const id = key.slice('account:'.length);
        for (const snapshot of [false, true]) {
          const result = await explainAccount(history.data, id, { snapshot });
          expect(result.snapshot === null).toBe(!snapshot);
          expect(result).toMatchObject({ ok: true, error: undefined, fault: undefined, stateBalance: (value as { balance: string }).balance, derivedBalance: (value as { balance: string }).balance });
          // Each change steps the running balance, in log order, starting with the opening.
          let running = 0n;
          let lastSeq = -1;
          for (const c of result.changes) {
            expect(c.seq).toBeGreaterThan(lastSeq);
            lastSeq = c.seq;
            running += BigInt(c.delta);
            expect(c.balance).toBe(running.toString());
          }
          expect(result.changes[0]).toMatchObject({ kind: 'opened', delta: '0', balance: '0', type: 'ledger.account_opened' });
          expect(result.count).toBe(result.changes.length);
        }
      }
    }
  });

  it('a changed reducer makes the balances differ: STELE_E_DIVERGENCE, exit 1', async () => {
    const history = await makeHistory({ seed: 11, commands: 150, chunk: 75, snapshotAfter: [], bundles: 0, workload: { accounts: 6 } });
    const log = readLog(history.data);
    const deposits = log.filter((e) => e.type === 'ledger.deposited');
    const id = deposits[0]!.data['account'] as string;
    const credited = BigInt(deposits.filter((e) => e.data['account'] === id).length);
    const result = await explainAccount(history.data, id, { ...generousOptions(), snapshot: false });
    expect(result.ok).toBe(false);
    expect(BigInt(result.stateBalance!) - BigInt(result.derivedBalance)).toBe(credited);
    expect(result.error).toMatchObject({ code: 'STELE_E_DIVERGENCE', expected: result.derivedBalance, found: result.stateBalance, where: { path: `account:${id}` } });
    expect(exitCodeOf(result.error!.kind)).toBe(1);
    // An account that never got a deposit still agrees.
    const untouched = [...new Set(log.filter((e) => e.type === 'ledger.account_opened').map((e) => e.data['account'] as string))].find((a) => !deposits.some((d) => d.data['account'] === a));
    if (untouched !== undefined) expect((await explainAccount(history.data, untouched, { ...generousOptions(), snapshot: false })).ok).toBe(true);
  });

  it('a forged snapshot makes the state differ from the log', async () => {
    const history = await makeHistory({ seed: 12, commands: 120, chunk: 60, snapshotAfter: [1], bundles: 0, workload: { accounts: 6 } });
    const snap = history.snapshots[0]!;
    const key = [...snapshotEntries(snap.file).keys()].find((k) => k.startsWith('account:'))!;
    const value = snapshotEntries(snap.file).get(key) as JsonObject;
    alterSnapshotEntry(snap.file, key, { ...value, balance: String(BigInt(value['balance'] as string) + 7n) });
    const id = key.slice('account:'.length);
    const fromSnapshot = await explainAccount(history.data, id);
    expect(fromSnapshot.snapshot?.size).toBe(snap.size);
    expect(fromSnapshot.ok).toBe(false);
    expect(BigInt(fromSnapshot.stateBalance!) - BigInt(fromSnapshot.derivedBalance)).toBe(7n);
    expect((await explainAccount(history.data, id, { snapshot: false })).ok).toBe(true);
  });

  it('streams changes to onChange; an unknown account is STELE_E_NOT_FOUND', async () => {
    const history = await makeHistory({ seed: 11, commands: 60, chunk: 60, snapshotAfter: [], bundles: 0, workload: { accounts: 3 } });
    const streamed: ExplainChange[] = [];
    const result = await explainAccount(history.data, 'acct-000001', { onChange: (c) => streamed.push(c) });
    expect(result.changes).toEqual([]);
    expect(streamed.length).toBe(result.count);
    expect(streamed.at(-1)?.balance).toBe(result.derivedBalance);
    expect((await caughtSteleError(explainAccount(history.data, 'nobody'))).code).toBe('STELE_E_NOT_FOUND');
  });
});

import { describe, expect, it } from 'vitest';
import { canonicalize, parseJson } from '../../../src/canonical/json.js';
import { isSteleError } from '../../../src/errors.js';
import { ledgerModule } from '../../../src/modules/ledger/index.js';
import type { LedgerState } from '../../../src/modules/ledger/index.js';
import { batchTransferred, closed, deposited, ledger, max, opened, t, transferred, withdrawn } from './helpers.js';

const codec = ledgerModule.snapshot;

function busy() {
  return ledger(
    opened('a'),
    opened('b'),
    opened('n', true),
    deposited('d', 'a', max),
    transferred(t('t', 'a', 'b', 7, 'm')),
    batchTransferred('B', [t('b1', 'n', 'a', 7), t('b2', 'b', 'n', 2)]),
    withdrawn('w', 'n', 100),
    opened('z'),
    closed('z'),
  );
}

function expectInvalid(json: unknown, message: RegExp): void {
  let caught: unknown;
  try {
    codec.decode(json as never);
  } catch (err) {
    caught = err;
  }
  expect(isSteleError(caught) && caught.code).toBe('STELE_E_SNAPSHOT_INVALID');
  expect((caught as Error).message).toMatch(message);
}

describe('ledger snapshot codec', () => {
  it('round trips the initial and a busy state, through canonical JSON text, byte-identically', () => {
    expect(codec.decode(codec.encode(ledgerModule.initialState()))).toEqual(ledgerModule.initialState());
    const spec = busy();
    const text = canonicalize(codec.encode(spec.state));
    const decoded = codec.decode(parseJson(text));
    expect(decoded).toEqual(spec.state);
    expect(canonicalize(codec.encode(decoded))).toBe(text);
    expect((decoded as LedgerState).balanceSum).toBe(max - 100n);
  });

  it('is strict: unknown, missing, mistyped and non-canonical fields are STELE_E_SNAPSHOT_INVALID', () => {
    const good = codec.encode(busy().state) as Record<string, unknown>;
    expectInvalid(null, /ledger/);
    expectInvalid([], /ledger/);
    expectInvalid({ ...good, extra: 1 }, /ledger/);
    const { deposits: _drop, ...missing } = good;
    expectInvalid(missing, /deposits/);
    expectInvalid({ ...good, deposited: Number(good['deposited']) }, /deposited/);
    expectInvalid({ ...good, withdrawn: '0100' }, /withdrawn/);
    expectInvalid({ ...good, withdrawn: '-1' }, /withdrawn/);
    expectInvalid({ ...good, balanceSum: '-0' }, /balanceSum/);
    expectInvalid({ ...good, accounts: 1.5 }, /accounts/);
    expectInvalid({ ...good, accounts: -1 }, /accounts/);
    expectInvalid({ ...good, deposited: '9'.repeat(65) }, /deposited/);
  });

  it('refuses totals that break conservation or counts', () => {
    const good = codec.encode(busy().state) as Record<string, unknown>;
    expectInvalid({ ...good, balanceSum: '1' }, /conservation/);
    expectInvalid({ ...good, openAccounts: 99 }, /openAccounts 99 exceeds accounts/);
  });
});

describe('ledger views', () => {
  it('totals: counts and bigint totals as strings', () => {
    expect(busy().view('totals')).toEqual({
      accounts: 4,
      openAccounts: 3,
      deposited: max.toString(),
      withdrawn: '100',
      balanceSum: (max - 100n).toString(),
      transferred: '16',
      deposits: 1,
      withdrawals: 1,
      transfers: 1,
      batches: 1,
      batchTransfers: 2,
    });
  });

  it('accounts: [id, value] sorted by id', () => {
    expect(busy().view('accounts')).toEqual([
      ['a', { balance: max.toString(), allowNegative: false, open: true, openedSeq: 0 }],
      ['b', { balance: '5', allowNegative: false, open: true, openedSeq: 1 }],
      ['n', { balance: '-105', allowNegative: true, open: true, openedSeq: 2 }],
      ['z', { balance: '0', allowNegative: false, open: false, openedSeq: 7, closedSeq: 8 }],
    ]);
  });
});

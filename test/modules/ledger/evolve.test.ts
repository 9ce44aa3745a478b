/**
 * The reducer refuses every event no decider could have emitted (a hand-made or damaged
 * log), with STELE_E_INVARIANT naming the event's seq, and leaves its state untouched.
 */
import { describe, expect, it } from 'vitest';
import { isSteleError } from '../../../src/errors.js';
import { ledgerModule } from '../../../src/modules/ledger/index.js';
import type { LedgerState } from '../../../src/modules/ledger/index.js';
import type { NewEvent } from '../../../src/modules/module.js';
import type { Spec } from '../spec.js';
import { batchTransferred, closed, deposited, frozen, ledger, max, opened, state, t, transferred, withdrawn } from './helpers.js';

function expectInvariant(spec: Spec, event: NewEvent, message: RegExp): void {
  const before = frozen(spec);
  const seq = spec.seq;
  let caught: unknown;
  try {
    spec.apply(event);
  } catch (err) {
    caught = err;
  }
  expect(isSteleError(caught), String(caught)).toBe(true);
  if (!isSteleError(caught)) return;
  expect(caught.code).toBe('STELE_E_INVARIANT');
  expect(caught.where.seq).toBe(seq);
  expect(caught.message).toMatch(message);
  // Spec.apply took the seq before evolve threw; the reducer's own state must be unchanged.
  spec.seq = seq;
  expect(frozen(spec)).toEqual(before);
}

describe('ledger evolve: hand-made events are STELE_E_INVARIANT', () => {
  const given = () => ledger(opened('a'), opened('b'), deposited('d', 'a', 100), opened('c'), closed('c'), opened('n', true), opened('full'), deposited('df', 'full', max));

  it('opening an existing account', () => {
    expectInvariant(given(), opened('a'), /account a already exists/);
    expectInvariant(given(), opened('c', true), /account c already exists/);
  });

  it('closing a missing, closed, or non-zero account', () => {
    expectInvariant(given(), closed('zz'), /does not exist/);
    expectInvariant(given(), closed('c'), /closed/);
    expectInvariant(given(), closed('a'), /balance 100/);
  });

  it('movements on missing or closed accounts', () => {
    expectInvariant(given(), deposited('x', 'zz', 1), /account zz does not exist/);
    expectInvariant(given(), deposited('x', 'c', 1), /account c is closed/);
    expectInvariant(given(), withdrawn('x', 'c', 1), /account c is closed/);
    expectInvariant(given(), transferred(t('x', 'a', 'zz', 1)), /account zz does not exist/);
    expectInvariant(given(), transferred(t('x', 'c', 'a', 1)), /account c is closed/);
  });

  it('overdraft, overflow and underflow', () => {
    expectInvariant(given(), withdrawn('x', 'a', 101), /overdraws/);
    expectInvariant(given(), transferred(t('x', 'b', 'a', 1)), /overdraws/);
    expectInvariant(given(), deposited('x', 'full', 1), /exceeds 2\^128−1/);
    expectInvariant(given(), transferred(t('x', 'n', 'full', 1)), /exceeds 2\^128−1/);
    const spec = given().given(withdrawn('w', 'n', max));
    expectInvariant(spec, withdrawn('x', 'n', 1), /below −\(2\^128−1\)/);
  });

  it('a reused movement id, of any kind', () => {
    expectInvariant(given(), deposited('d', 'a', 100), /id d is already used/);
    expectInvariant(given(), withdrawn('d', 'a', 1), /id d is already used/);
    expectInvariant(given(), transferred(t('d', 'a', 'b', 1)), /id d is already used/);
    expectInvariant(given(), batchTransferred('d', [t('x', 'a', 'b', 1)]), /id d is already used/);
    expectInvariant(given(), batchTransferred('B', [t('d', 'a', 'b', 1)]), /id d is already used/);
  });

  it('a transfer to the same account', () => {
    expectInvariant(given(), transferred(t('x', 'a', 'a', 1)), /to itself/);
    expectInvariant(given(), batchTransferred('B', [t('x', 'a', 'a', 1)]), /transfers\.0.*to itself/);
  });

  it('batches: repeated inner ids, the batch id inside, a later overdraft — nothing is applied', () => {
    expectInvariant(given(), batchTransferred('B', [t('x', 'a', 'b', 1), t('x', 'a', 'b', 1)]), /transfers\.1: id x is repeated/);
    expectInvariant(given(), batchTransferred('B', [t('B', 'a', 'b', 1)]), /transfers\.0: id B is repeated/);
    expectInvariant(given(), batchTransferred('B', [t('x', 'a', 'b', 60), t('y', 'a', 'b', 41)]), /overdraws/);
    expectInvariant(given(), batchTransferred('B', [t('x', 'a', 'b', 1), t('y', 'a', 'c', 1)]), /account c is closed/);
  });

  it('amounts the schema would refuse are refused by evolve too, and unknown types', () => {
    const spec = given();
    const call = (type: string, data: Record<string, unknown>) => () =>
      ledgerModule.evolve(spec.state, { seq: spec.seq, ts: '2026-11-22T10:00:00.000Z', type, v: 1, data: data as never }, spec.entries);
    expect(call('ledger.deposited', { id: 'x', account: 'a', amount: '0' })).toThrow(/outside 1 … 2\^128−1/);
    expect(call('ledger.deposited', { id: 'x', account: 'a', amount: (max + 1n).toString() })).toThrow(/outside 1 … 2\^128−1/);
    expect(call('ledger.batch_transferred', { id: 'x', transfers: [] })).toThrow(/no transfers/);
    expect(call('ledger.refunded', { id: 'x' })).toThrow(/no event type ledger\.refunded/);
    expect(state(spec).balanceSum).toBe(100n + max);
  });
});

describe('checkInvariants', () => {
  it('holds along a normal history', () => {
    const spec = ledger(opened('a'), opened('b'), deposited('d', 'a', 100), transferred(t('t', 'a', 'b', 30)), batchTransferred('B', [t('b1', 'b', 'a', 30)]), withdrawn('w', 'a', 100), closed('a'));
    expect(ledgerModule.checkInvariants!(spec.state, spec.entries)).toBeUndefined();
  });

  it('catches a broken conservation (a reducer that credits differently than it debits)', () => {
    const spec = ledger(opened('a'), opened('b'), deposited('d', 'a', 100));
    // Simulate the bug by hand: the entries say a=100, b=1 but nothing was deposited to b.
    spec.entries.map.set('account:b', { balance: '1', allowNegative: false, open: true, openedSeq: 1 });
    (spec.state as LedgerState).balanceSum += 1n;
    expect(ledgerModule.checkInvariants!(spec.state, spec.entries)).toMatch(/conservation broken/);
  });

  it('catches counts that disagree with the entries', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 100));
    spec.entries.map.delete('transfer:d');
    expect(ledgerModule.checkInvariants!(spec.state, spec.entries)).toMatch(/1 movement ids were recorded, but the state holds 0/);
    const other = ledger(opened('a'));
    other.entries.map.set('account:ghost', { balance: '0', allowNegative: false, open: true, openedSeq: 9 });
    expect(ledgerModule.checkInvariants!(other.state, other.entries)).toMatch(/1 accounts were opened, but the state holds 2/);
    (other.state as LedgerState).openAccounts = 2;
    other.entries.map.delete('account:ghost');
    expect(ledgerModule.checkInvariants!(other.state, other.entries)).toMatch(/2 open accounts out of 1/);
  });
});

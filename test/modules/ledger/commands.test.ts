/**
 * Given/when/then specifications of every ledger command and every guard: given events in
 * the log, when a command is decided, then events (and their effect on the entries) or a
 * rejection with its reason and path.
 */
import { describe, expect, it } from 'vitest';
import { ledgerModule } from '../../../src/modules/ledger/index.js';
import { ledgerReasons } from '../../../src/modules/ledger/rejections.js';
import {
  balance,
  batchTransferred,
  closed,
  deposited,
  expectRejected,
  expectSchemaError,
  frozen,
  ledger,
  max,
  opened,
  state,
  t,
  transferred,
  withdrawn,
} from './helpers.js';

describe('ledger.open', () => {
  it('opens an account with balance 0, allowNegative false by default; result {account}', () => {
    const spec = ledger();
    expect(spec.when('ledger.open', { account: 'alice' })).toEqual({
      ok: true,
      events: [{ type: 'ledger.account_opened', data: { account: 'alice', allowNegative: false } }],
      result: { account: 'alice' },
    });
    expect(spec.entries.get('account:alice')).toEqual({ balance: '0', allowNegative: false, open: true, openedSeq: 0 });
    expect(state(spec)).toMatchObject({ accounts: 1, openAccounts: 1 });
  });

  it('keeps allowNegative and meta', () => {
    const spec = ledger(opened('x'));
    const outcome = spec.when('ledger.open', { account: 'credit', allowNegative: true, meta: { owner: 'bank', tags: ['a'] } });
    expect(outcome).toMatchObject({ ok: true, events: [{ type: 'ledger.account_opened', data: { account: 'credit', allowNegative: true, meta: { owner: 'bank', tags: ['a'] } } }] });
    expect(spec.entries.get('account:credit')).toEqual({ balance: '0', allowNegative: true, open: true, openedSeq: 1, meta: { owner: 'bank', tags: ['a'] } });
  });

  it('LEDGER_ACCOUNT_EXISTS for an open account and for a closed one (ids are never reused)', () => {
    const spec = ledger(opened('a'), opened('b'), closed('b'));
    const before = frozen(spec);
    expect(expectRejected(spec.when('ledger.open', { account: 'a' }), 'LEDGER_ACCOUNT_EXISTS', 'data.account').detail).toEqual({ account: 'a', open: true });
    expect(expectRejected(spec.when('ledger.open', { account: 'b', allowNegative: true }), 'LEDGER_ACCOUNT_EXISTS', 'data.account').detail).toEqual({ account: 'b', open: false });
    expect(frozen(spec)).toEqual(before);
  });

  it('schema: id non-empty and at most 128 UTF-8 bytes, meta an object, no unknown fields', () => {
    const spec = ledger();
    expectSchemaError(spec.when('ledger.open', { account: '' }));
    expectSchemaError(spec.when('ledger.open', {}));
    expectSchemaError(spec.when('ledger.open', { account: 'a', extra: 1 }));
    expectSchemaError(spec.when('ledger.open', { account: 'a', allowNegative: 'yes' }));
    expectSchemaError(spec.when('ledger.open', { account: 'a', meta: [1] }));
    expectSchemaError(spec.when('ledger.open', { account: 'a', meta: 'm' }));
    expectSchemaError(spec.when('ledger.open', { account: 'a', meta: null }));
    expectSchemaError(spec.when('ledger.open', { account: 'x'.repeat(129) }));
    expectSchemaError(spec.when('ledger.open', { account: 'é'.repeat(65) })); // 65 characters, 130 bytes
    expect(spec.when('ledger.open', { account: 'x'.repeat(128) })).toMatchObject({ ok: true });
    expect(spec.when('ledger.open', { account: 'é'.repeat(64) })).toMatchObject({ ok: true });
  });
});

describe('ledger.deposit', () => {
  it('credits the account and records the id; result {id, seq} with seq the event seq', () => {
    const spec = ledger(opened('a'));
    expect(spec.when('ledger.deposit', { id: 'd1', account: 'a', amount: '12500' })).toEqual({
      ok: true,
      events: [{ type: 'ledger.deposited', data: { id: 'd1', account: 'a', amount: '12500' } }],
      result: { id: 'd1', seq: 1 },
    });
    expect(balance(spec, 'a')).toBe('12500');
    expect(spec.entries.get('transfer:d1')).toEqual({ kind: 'deposit', account: 'a', amount: '12500', seq: 1 });
    expect(state(spec)).toMatchObject({ deposited: 12500n, balanceSum: 12500n, deposits: 1 });
  });

  it('LEDGER_AMOUNT_NOT_POSITIVE for 0', () => {
    const spec = ledger(opened('a'));
    expectRejected(spec.when('ledger.deposit', { id: 'd1', account: 'a', amount: '0' }), 'LEDGER_AMOUNT_NOT_POSITIVE', 'data.amount');
  });

  it('LEDGER_ACCOUNT_NOT_FOUND and LEDGER_ACCOUNT_CLOSED at data.account', () => {
    const spec = ledger(opened('c'), closed('c'));
    expectRejected(spec.when('ledger.deposit', { id: 'd1', account: 'nobody', amount: '1' }), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.account');
    expectRejected(spec.when('ledger.deposit', { id: 'd1', account: 'c', amount: '1' }), 'LEDGER_ACCOUNT_CLOSED', 'data.account');
  });

  it('LEDGER_OVERFLOW exactly above 2^128−1; up to it is fine', () => {
    const spec = ledger(opened('a'), deposited('d0', 'a', max - 5n));
    expect(spec.when('ledger.deposit', { id: 'd1', account: 'a', amount: '5' })).toMatchObject({ ok: true });
    expect(balance(spec, 'a')).toBe(max.toString());
    const before = frozen(spec);
    const r = expectRejected(spec.when('ledger.deposit', { id: 'd2', account: 'a', amount: '1' }), 'LEDGER_OVERFLOW', 'data.amount');
    expect(r.detail).toEqual({ account: 'a', balance: max.toString(), amount: '1', direction: 'credit' });
    expect(frozen(spec)).toEqual(before);
    expect(ledger(opened('b')).when('ledger.deposit', { id: 'd', account: 'b', amount: max.toString() })).toMatchObject({ ok: true });
  });

  it('a deposit may lift a negative balance of an allowNegative account', () => {
    const spec = ledger(opened('n', true), withdrawn('w', 'n', 150));
    expect(balance(spec, 'n')).toBe('-150');
    spec.when('ledger.deposit', { id: 'd', account: 'n', amount: '200' });
    expect(balance(spec, 'n')).toBe('50');
  });

  it('schema: malformed amounts and ids are schema errors, not rejections', () => {
    const spec = ledger(opened('a'));
    for (const amount of ['-1', '01', '+1', '1.5', '1e3', '', ' 1', (max + 1n).toString(), 12500, null]) {
      expectSchemaError(spec.when('ledger.deposit', { id: 'd', account: 'a', amount }));
    }
    expectSchemaError(spec.when('ledger.deposit', { account: 'a', amount: '1' }));
    expectSchemaError(spec.when('ledger.deposit', { id: '', account: 'a', amount: '1' }));
    expectSchemaError(spec.when('ledger.deposit', { id: 'd', account: 'a', amount: '1', memo: 'm' }));
  });
});

describe('ledger.withdraw', () => {
  it('debits the account and records the id', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 100));
    expect(spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '40' })).toEqual({
      ok: true,
      events: [{ type: 'ledger.withdrawn', data: { id: 'w', account: 'a', amount: '40' } }],
      result: { id: 'w', seq: 2 },
    });
    expect(balance(spec, 'a')).toBe('60');
    expect(spec.entries.get('transfer:w')).toEqual({ kind: 'withdrawal', account: 'a', amount: '40', seq: 2 });
    expect(state(spec)).toMatchObject({ deposited: 100n, withdrawn: 40n, balanceSum: 60n, withdrawals: 1 });
  });

  it('LEDGER_INSUFFICIENT_FUNDS one above the balance; the whole balance is fine', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 100));
    const r = expectRejected(spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '101' }), 'LEDGER_INSUFFICIENT_FUNDS', 'data.amount');
    expect(r.detail).toEqual({ account: 'a', balance: '100', amount: '101' });
    expect(spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '100' })).toMatchObject({ ok: true });
    expect(balance(spec, 'a')).toBe('0');
    expectRejected(spec.when('ledger.withdraw', { id: 'w2', account: 'a', amount: '1' }), 'LEDGER_INSUFFICIENT_FUNDS', 'data.amount');
  });

  it('allowNegative: goes below zero, down to exactly −(2^128−1), then LEDGER_OVERFLOW', () => {
    const spec = ledger(opened('n', true));
    expect(spec.when('ledger.withdraw', { id: 'w1', account: 'n', amount: '150' })).toMatchObject({ ok: true });
    expect(balance(spec, 'n')).toBe('-150');
    expect(spec.when('ledger.withdraw', { id: 'w2', account: 'n', amount: (max - 150n).toString() })).toMatchObject({ ok: true });
    expect(balance(spec, 'n')).toBe(`-${max}`);
    const r = expectRejected(spec.when('ledger.withdraw', { id: 'w3', account: 'n', amount: '1' }), 'LEDGER_OVERFLOW', 'data.amount');
    expect(r.detail).toMatchObject({ direction: 'debit', balance: `-${max}` });
    expect(state(spec).balanceSum).toBe(-max);
  });

  it('LEDGER_AMOUNT_NOT_POSITIVE, LEDGER_ACCOUNT_NOT_FOUND, LEDGER_ACCOUNT_CLOSED', () => {
    const spec = ledger(opened('a'), opened('c'), closed('c'));
    expectRejected(spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '0' }), 'LEDGER_AMOUNT_NOT_POSITIVE', 'data.amount');
    expectRejected(spec.when('ledger.withdraw', { id: 'w', account: 'zz', amount: '1' }), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.account');
    expectRejected(spec.when('ledger.withdraw', { id: 'w', account: 'c', amount: '1' }), 'LEDGER_ACCOUNT_CLOSED', 'data.account');
  });
});

describe('ledger.transfer', () => {
  const given = () => ledger(opened('a'), opened('b'), deposited('d', 'a', 100));

  it('moves money and records the body with its memo', () => {
    const spec = given();
    expect(spec.when('ledger.transfer', { id: 't1', from: 'a', to: 'b', amount: '30', memo: 'rent' })).toEqual({
      ok: true,
      events: [{ type: 'ledger.transferred', data: { id: 't1', from: 'a', to: 'b', amount: '30', memo: 'rent' } }],
      result: { id: 't1', seq: 3 },
    });
    expect([balance(spec, 'a'), balance(spec, 'b')]).toEqual(['70', '30']);
    expect(spec.entries.get('transfer:t1')).toEqual({ kind: 'transfer', from: 'a', to: 'b', amount: '30', memo: 'rent', seq: 3 });
    spec.when('ledger.transfer', { id: 't2', from: 'b', to: 'a', amount: '5' });
    expect(spec.entries.get('transfer:t2')).toEqual({ kind: 'transfer', from: 'b', to: 'a', amount: '5', seq: 4 });
    expect(state(spec)).toMatchObject({ transferred: 35n, transfers: 2, balanceSum: 100n });
  });

  it('LEDGER_SAME_ACCOUNT at data.to', () => {
    expectRejected(given().when('ledger.transfer', { id: 't', from: 'a', to: 'a', amount: '1' }), 'LEDGER_SAME_ACCOUNT', 'data.to');
  });

  it('LEDGER_AMOUNT_NOT_POSITIVE', () => {
    expectRejected(given().when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '0' }), 'LEDGER_AMOUNT_NOT_POSITIVE', 'data.amount');
  });

  it('LEDGER_ACCOUNT_NOT_FOUND and LEDGER_ACCOUNT_CLOSED name the side: data.from or data.to', () => {
    const spec = given().given(opened('c'), closed('c'));
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'zz', to: 'b', amount: '1' }), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.from');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'zz', amount: '1' }), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.to');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'c', to: 'b', amount: '1' }), 'LEDGER_ACCOUNT_CLOSED', 'data.from');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'c', amount: '1' }), 'LEDGER_ACCOUNT_CLOSED', 'data.to');
  });

  it('LEDGER_INSUFFICIENT_FUNDS; allowNegative lets the sender go below zero', () => {
    const spec = given().given(opened('n', true));
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'b', to: 'a', amount: '1' }), 'LEDGER_INSUFFICIENT_FUNDS', 'data.amount');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '101' }), 'LEDGER_INSUFFICIENT_FUNDS', 'data.amount');
    expect(spec.when('ledger.transfer', { id: 't', from: 'n', to: 'b', amount: '1000' })).toMatchObject({ ok: true });
    expect([balance(spec, 'n'), balance(spec, 'b')]).toEqual(['-1000', '1000']);
    expect(state(spec).balanceSum).toBe(100n);
  });

  it('LEDGER_OVERFLOW when the receiver would pass 2^128−1', () => {
    const spec = ledger(opened('full'), deposited('d', 'full', max), opened('n', true));
    const r = expectRejected(spec.when('ledger.transfer', { id: 't', from: 'n', to: 'full', amount: '1' }), 'LEDGER_OVERFLOW', 'data.amount');
    expect(r.detail).toMatchObject({ account: 'full', direction: 'credit' });
  });

  it('schema: memo at most 512 UTF-8 bytes, no unknown fields', () => {
    const spec = given();
    expectSchemaError(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '1', memo: 'm'.repeat(513) }));
    expectSchemaError(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '1', memo: '€'.repeat(171) })); // 513 bytes
    expectSchemaError(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '1', fee: '1' }));
    expectSchemaError(spec.when('ledger.transfer', { id: 't', from: 'a', amount: '1' }));
    expect(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '1', memo: 'm'.repeat(512) })).toMatchObject({ ok: true });
  });
});

describe('idempotency: one id namespace for deposit, withdraw, transfer and batch', () => {
  it('the same id with the same body is a no-op returning exactly the first result', () => {
    const spec = ledger(opened('a'), opened('b'));
    const first = spec.when('ledger.deposit', { id: 'd', account: 'a', amount: '100' });
    spec.when('ledger.deposit', { id: 'other', account: 'a', amount: '1' });
    const before = frozen(spec);
    const again = spec.when('ledger.deposit', { id: 'd', account: 'a', amount: '100' });
    expect(again).toEqual({ ok: true, events: [], result: (first as { result: unknown }).result });
    expect(again).toEqual({ ok: true, events: [], result: { id: 'd', seq: 2 } });
    expect(frozen(spec)).toEqual(before);

    const w = spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '10' });
    expect(spec.when('ledger.withdraw', { id: 'w', account: 'a', amount: '10' })).toEqual({ ok: true, events: [], result: (w as { result: unknown }).result });
    const tr = spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '10', memo: 'x' });
    expect(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '10', memo: 'x' })).toEqual({ ok: true, events: [], result: (tr as { result: unknown }).result });
  });

  it('a retry succeeds even when its guards would now fail (the account was emptied and closed)', () => {
    const spec = ledger(opened('a'), opened('b'), deposited('d', 'a', 10), transferred(t('t', 'a', 'b', 10)), withdrawn('w', 'b', 10), closed('a'), closed('b'));
    expect(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '10' })).toEqual({ ok: true, events: [], result: { id: 't', seq: 3 } });
    expect(spec.when('ledger.deposit', { id: 'd', account: 'a', amount: '10' })).toEqual({ ok: true, events: [], result: { id: 'd', seq: 2 } });
  });

  it('the same id with a different body is LEDGER_ID_CONFLICT at data.id', () => {
    const spec = ledger(opened('a'), opened('b'), deposited('d', 'a', 100), withdrawn('w', 'a', 1), transferred(t('t', 'a', 'b', 5, 'memo')));
    const before = frozen(spec);
    const r = expectRejected(spec.when('ledger.deposit', { id: 'd', account: 'a', amount: '101' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expect(r.detail).toEqual({ id: 'd', kind: 'deposit', seq: 2 });
    expectRejected(spec.when('ledger.deposit', { id: 'd', account: 'b', amount: '100' }), 'LEDGER_ID_CONFLICT', 'data.id');
    // Same account and amount, different kind.
    expectRejected(spec.when('ledger.withdraw', { id: 'd', account: 'a', amount: '100' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.deposit', { id: 'w', account: 'a', amount: '1' }), 'LEDGER_ID_CONFLICT', 'data.id');
    // A memo is part of the body: different, added or dropped is a conflict.
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '5', memo: 'other' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'a', to: 'b', amount: '5' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.transfer', { id: 't', from: 'b', to: 'a', amount: '5', memo: 'memo' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.transfer', { id: 'd', from: 'a', to: 'b', amount: '100' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.batch', { id: 't', transfers: [t('t1', 'a', 'b', 5, 'memo')] }), 'LEDGER_ID_CONFLICT', 'data.id');
    expect(frozen(spec)).toEqual(before);
  });

  it('the id check comes before the other guards: a conflicting retry with a zero amount is a conflict', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 1));
    expectRejected(spec.when('ledger.deposit', { id: 'd', account: 'nobody', amount: '0' }), 'LEDGER_ID_CONFLICT', 'data.id');
  });
});

describe('ledger.batch', () => {
  const given = () => ledger(opened('a'), opened('b'), opened('c'), deposited('d', 'a', 100));

  it('applies every transfer in order, one event; a later transfer spends what an earlier one brought', () => {
    const spec = given();
    const transfers = [t('t1', 'a', 'b', 100, 'first'), t('t2', 'b', 'c', 60), t('t3', 'c', 'a', 10)];
    expect(spec.when('ledger.batch', { id: 'B', transfers })).toEqual({
      ok: true,
      events: [{ type: 'ledger.batch_transferred', data: { id: 'B', transfers } }],
      result: { id: 'B', seq: 4 },
    });
    expect([balance(spec, 'a'), balance(spec, 'b'), balance(spec, 'c')]).toEqual(['10', '40', '50']);
    expect(spec.entries.get('transfer:B')).toEqual({ kind: 'batch', transfers: ['t1', 't2', 't3'], seq: 4 });
    expect(spec.entries.get('transfer:t1')).toEqual({ kind: 'batch_transfer', batch: 'B', index: 0, from: 'a', to: 'b', amount: '100', memo: 'first', seq: 4 });
    expect(spec.entries.get('transfer:t3')).toEqual({ kind: 'batch_transfer', batch: 'B', index: 2, from: 'c', to: 'a', amount: '10', seq: 4 });
    expect(state(spec)).toMatchObject({ batches: 1, batchTransfers: 3, transferred: 170n, balanceSum: 100n });
    expect(ledgerModule.checkInvariants!(spec.state, spec.entries)).toBeUndefined();
  });

  it('all or nothing: a refused transfer refuses the batch, names its index, and writes nothing', () => {
    const spec = given();
    const before = frozen(spec);
    const r = expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [t('t1', 'a', 'b', 50), t('t2', 'b', 'c', 20), t('t3', 'b', 'c', 31)] }), 'LEDGER_INSUFFICIENT_FUNDS', 'data.transfers.2.amount');
    // The balance in the detail is the one the batch had reached, not the stored one.
    expect(r.detail).toEqual({ account: 'b', balance: '30', amount: '31' });
    expect(frozen(spec)).toEqual(before);
    expect(spec.entries.get('transfer:t1')).toBeUndefined();
    // The ids of a refused batch stay free.
    expect(spec.when('ledger.batch', { id: 'B', transfers: [t('t1', 'a', 'b', 50)] })).toMatchObject({ ok: true });
  });

  it('every guard inside a batch, with the inner index in the path', () => {
    const spec = given().given(opened('x'), closed('x'), opened('n', true), opened('full'), deposited('dfull', 'full', max));
    const pre = [t('ok0', 'a', 'b', 1)];
    const cases: [unknown, string, string][] = [
      [t('i', 'a', 'b', 0), 'LEDGER_AMOUNT_NOT_POSITIVE', 'data.transfers.1.amount'],
      [t('i', 'a', 'a', 1), 'LEDGER_SAME_ACCOUNT', 'data.transfers.1.to'],
      [t('i', 'zz', 'b', 1), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.transfers.1.from'],
      [t('i', 'a', 'zz', 1), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.transfers.1.to'],
      [t('i', 'x', 'b', 1), 'LEDGER_ACCOUNT_CLOSED', 'data.transfers.1.from'],
      [t('i', 'a', 'x', 1), 'LEDGER_ACCOUNT_CLOSED', 'data.transfers.1.to'],
      [t('i', 'a', 'b', 100), 'LEDGER_INSUFFICIENT_FUNDS', 'data.transfers.1.amount'],
      [t('i', 'n', 'full', 1), 'LEDGER_OVERFLOW', 'data.transfers.1.amount'],
      [t('d', 'a', 'b', 1), 'LEDGER_ID_CONFLICT', 'data.transfers.1.id'],
    ];
    const before = frozen(spec);
    for (const [transfer, reason, path] of cases) expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [...pre, transfer] }), reason, path);
    expect(frozen(spec)).toEqual(before);
  });

  it('an allowNegative account may go below −(2^128−1) in no batch', () => {
    const spec = ledger(opened('n', true), opened('m'), opened('k'));
    expect(spec.when('ledger.batch', { id: 'B', transfers: [t('b1', 'n', 'm', max), t('b2', 'm', 'k', max)] })).toMatchObject({ ok: true });
    expect(balance(spec, 'n')).toBe(`-${max}`);
    expectRejected(spec.when('ledger.batch', { id: 'C', transfers: [t('c1', 'k', 'm', 1), t('c2', 'n', 'k', 1)] }), 'LEDGER_OVERFLOW', 'data.transfers.1.amount');
  });

  it('inner ids: a repeat inside the batch, the batch id itself, or any used id is a conflict', () => {
    const spec = given().given(batchTransferred('B0', [t('old', 'a', 'b', 1)]));
    const before = frozen(spec);
    let r = expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [t('x', 'a', 'b', 1), t('y', 'a', 'b', 1), t('x', 'a', 'b', 1)] }), 'LEDGER_ID_CONFLICT', 'data.transfers.2.id');
    expect(r.detail).toEqual({ id: 'x', firstIndex: 0 });
    r = expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [t('B', 'a', 'b', 1)] }), 'LEDGER_ID_CONFLICT', 'data.transfers.0.id');
    expect(r.detail).toEqual({ id: 'B', firstIndex: -1 });
    // Even with the very same body as in the earlier batch: an inner id is used once.
    r = expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [t('old', 'a', 'b', 1)] }), 'LEDGER_ID_CONFLICT', 'data.transfers.0.id');
    expect(r.detail).toEqual({ id: 'old', kind: 'batch_transfer', seq: 4 });
    expectRejected(spec.when('ledger.batch', { id: 'B', transfers: [t('n1', 'a', 'b', 1), t('B0', 'a', 'b', 1)] }), 'LEDGER_ID_CONFLICT', 'data.transfers.1.id');
    // A standalone command reusing an inner id conflicts too.
    expectRejected(spec.when('ledger.transfer', { id: 'old', from: 'a', to: 'b', amount: '1' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.deposit', { id: 'old', account: 'a', amount: '1' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expect(frozen(spec)).toEqual(before);
  });

  it('a retried batch with the same body is a no-op returning the first result; any change is a conflict', () => {
    const spec = given();
    const body = { id: 'B', transfers: [t('t1', 'a', 'b', 10, 'm'), t('t2', 'b', 'c', 5)] };
    const first = spec.when('ledger.batch', body);
    spec.when('ledger.deposit', { id: 'later', account: 'a', amount: '1' });
    const before = frozen(spec);
    expect(spec.when('ledger.batch', structuredClone(body))).toEqual({ ok: true, events: [], result: (first as { result: unknown }).result });
    const variants = [
      { id: 'B', transfers: [t('t1', 'a', 'b', 10, 'm')] },
      { id: 'B', transfers: [t('t1', 'a', 'b', 10, 'm'), t('t2', 'b', 'c', 6)] },
      { id: 'B', transfers: [t('t1', 'a', 'b', 10), t('t2', 'b', 'c', 5)] },
      { id: 'B', transfers: [t('t2', 'b', 'c', 5), t('t1', 'a', 'b', 10, 'm')] },
      { id: 'B', transfers: [t('t1', 'a', 'b', 10, 'm'), t('t3', 'b', 'c', 5)] },
      { id: 'B', transfers: [t('t1', 'a', 'b', 10, 'm'), t('t2', 'b', 'c', 5), t('t3', 'b', 'c', 1)] },
    ];
    for (const v of variants) expectRejected(spec.when('ledger.batch', v), 'LEDGER_ID_CONFLICT', 'data.id');
    expectRejected(spec.when('ledger.transfer', { id: 'B', from: 'a', to: 'b', amount: '10' }), 'LEDGER_ID_CONFLICT', 'data.id');
    expect(frozen(spec)).toEqual(before);
  });

  it(`holds 1 … ${100} transfers; the schema refuses 0, 101 and unknown inner fields`, () => {
    const spec = ledger(opened('a'), opened('b'), deposited('d', 'a', 1000));
    expectSchemaError(spec.when('ledger.batch', { id: 'B', transfers: [] }));
    const many = (n: number) => Array.from({ length: n }, (_, i) => t(`i${i}`, i % 2 === 0 ? 'a' : 'b', i % 2 === 0 ? 'b' : 'a', 1));
    expectSchemaError(spec.when('ledger.batch', { id: 'B', transfers: many(101) }));
    expectSchemaError(spec.when('ledger.batch', { id: 'B', transfers: [{ ...t('x', 'a', 'b', 1), extra: 1 }] }));
    expectSchemaError(spec.when('ledger.batch', { id: 'B', transfers: [t('x', 'a', 'b', '01')] }));
    expectSchemaError(spec.when('ledger.batch', { id: 'B', transfers: [t('x', 'a', 'b', 1)], memo: 'm' }));
    expect(spec.when('ledger.batch', { id: 'B', transfers: many(100) })).toMatchObject({ ok: true });
    expect(state(spec)).toMatchObject({ batchTransfers: 100, batches: 1 });
    expect(spec.entries.count('transfer:')).toBe(102);
  });
});

describe('ledger.close', () => {
  it('closes an account with balance 0; result {account}', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 5), withdrawn('w', 'a', 5));
    expect(spec.when('ledger.close', { account: 'a' })).toEqual({ ok: true, events: [{ type: 'ledger.account_closed', data: { account: 'a' } }], result: { account: 'a' } });
    expect(spec.entries.get('account:a')).toEqual({ balance: '0', allowNegative: false, open: false, openedSeq: 0, closedSeq: 3 });
    expect(state(spec)).toMatchObject({ accounts: 1, openAccounts: 0 });
  });

  it('LEDGER_BALANCE_NOT_ZERO for a positive or a negative balance', () => {
    const spec = ledger(opened('a'), deposited('d', 'a', 5), opened('n', true), withdrawn('w', 'n', 7));
    expect(expectRejected(spec.when('ledger.close', { account: 'a' }), 'LEDGER_BALANCE_NOT_ZERO', 'data.account').detail).toEqual({ account: 'a', balance: '5' });
    expect(expectRejected(spec.when('ledger.close', { account: 'n' }), 'LEDGER_BALANCE_NOT_ZERO', 'data.account').detail).toEqual({ account: 'n', balance: '-7' });
  });

  it('LEDGER_ACCOUNT_NOT_FOUND, and LEDGER_ACCOUNT_CLOSED when already closed', () => {
    const spec = ledger(opened('a'), closed('a'));
    expectRejected(spec.when('ledger.close', { account: 'zz' }), 'LEDGER_ACCOUNT_NOT_FOUND', 'data.account');
    expectRejected(spec.when('ledger.close', { account: 'a' }), 'LEDGER_ACCOUNT_CLOSED', 'data.account');
    expectSchemaError(spec.when('ledger.close', { account: 'a', force: true }));
  });
});

describe('module definition', () => {
  it('events are v1, past tense, described, and never direct', () => {
    expect(ledgerModule.events.map((e) => `${e.type}@${e.v}`)).toEqual([
      'ledger.account_opened@1',
      'ledger.account_closed@1',
      'ledger.deposited@1',
      'ledger.withdrawn@1',
      'ledger.transferred@1',
      'ledger.batch_transferred@1',
    ]);
    for (const e of ledgerModule.events) {
      expect(e.direct).not.toBe(true);
      expect(e.description.length).toBeGreaterThan(20);
    }
    expect(ledgerModule.commands.map((c) => c.name)).toEqual(['ledger.open', 'ledger.deposit', 'ledger.withdraw', 'ledger.transfer', 'ledger.batch', 'ledger.close']);
    expect(ledgerModule.keyPrefixes).toEqual(['account:', 'transfer:']);
  });

  it('reason codes are LEDGER_ UPPER_SNAKE and equal their names', () => {
    for (const [name, code] of Object.entries(ledgerReasons)) {
      expect(code).toBe(name);
      expect(code).toMatch(/^LEDGER_[A-Z]+(_[A-Z]+)*$/);
    }
  });
});

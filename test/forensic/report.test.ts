/**
 * The report's pure parts: the bounded finding list (the first divergence stays exact past
 * the limit, the rest are counted), the first difference inside two JSON values, value
 * cutting, and the Markdown rendering of a real failed audit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { forensicAudit } from '../../src/forensic/audit.js';
import type { Finding } from '../../src/forensic/finding.js';
import { FindingList, cut, firstDifference, showValue } from '../../src/forensic/finding.js';
import { formatMarkdown } from '../../src/forensic/report.js';
import { limits } from '../../src/limits.js';
import { makeHistory, vaultFile } from './fixtures.js';

const finding = (size: number | undefined, severity: Finding['severity'] = 'divergence', message = `at ${size}`): Finding => ({
  kind: 'checkpoint',
  severity,
  message,
  ...(size === undefined ? {} : { size }),
  where: size === undefined ? {} : { seq: size },
});

describe('FindingList', () => {
  it('keeps the earliest findings in log order up to its limit, counts the rest, and knows the first divergence', () => {
    const list = new FindingList(3);
    for (const size of [50, 40, 30, 20, 60, 70, 80]) list.add(finding(size));
    list.add(finding(undefined, 'warning'));
    // Found last (bundles are checked after the scan), yet earliest in the log.
    list.add(finding(5));
    const { findings, omitted } = list.list();
    expect(findings.map((f) => f.size)).toEqual([5, 20, 30]);
    expect(omitted).toBe(6);
    expect(list.first?.size).toBe(5);
    expect([list.divergences, list.warnings, list.total]).toEqual([8, 1, 9]);
  });

  it('a warning is never the first divergence; equal positions keep discovery order', () => {
    const list = new FindingList(10);
    list.add(finding(3, 'warning', 'w'));
    list.add(finding(7, 'divergence', 'a'));
    list.add(finding(7, 'divergence', 'b'));
    expect(list.first?.message).toBe('a');
    expect(list.list().findings.map((f) => f.message)).toEqual(['w', 'a', 'b']);
  });

  it('defaults to limits.forensicFindingsMax', () => {
    const list = new FindingList();
    for (let i = 0; i < limits.forensicFindingsMax + 5; i++) list.add(finding(i));
    expect(list.list()).toMatchObject({ omitted: 5 });
    expect(list.list().findings).toHaveLength(limits.forensicFindingsMax);
  });
});

describe('firstDifference', () => {
  it('names the path of the first difference, object keys sorted, arrays by index', () => {
    expect(firstDifference({ a: 1, b: { c: [1, 2, 3] } }, { a: 1, b: { c: [1, 2, 4] } })).toEqual({ path: 'b.c[2]', recorded: 3, derived: 4 });
    expect(firstDifference({ z: 1, b: 1 }, { z: 2, b: 2 })).toEqual({ path: 'b', recorded: 1, derived: 2 });
    expect(firstDifference({ a: 1 }, { a: 1, extra: true })).toEqual({ path: 'extra', recorded: undefined, derived: true });
    expect(firstDifference([1], [1, 2])).toEqual({ path: '[1]', recorded: undefined, derived: 2 });
    expect(firstDifference('x', 1)).toEqual({ path: '', recorded: 'x', derived: 1 });
    expect(firstDifference({ a: [null, { b: '1' }] }, { a: [null, { b: '1' }] })).toBeUndefined();
  });

  it('values are shown canonical and cut at limits.forensicValueCharsMax', () => {
    expect(showValue({ b: 1, a: 'x' })).toBe('{"a":"x","b":1}');
    expect(showValue(undefined)).toBe('(absent)');
    const long = 'y'.repeat(limits.forensicValueCharsMax + 10);
    expect(cut(long)).toBe(`${'y'.repeat(limits.forensicValueCharsMax)}… (${long.length} characters)`);
  });
});

describe('formatMarkdown', () => {
  it('leads with the verdict and the first divergence, then the findings table, counts and timings', async () => {
    const history = await makeHistory({ commands: 90, chunk: 45, snapshotAfter: [0], bundles: 1 });
    const hash = history.bundles[0]!;
    fs.writeFileSync(vaultFile(history.data, hash), 'altered | bytes');
    const report = await forensicAudit(history.data);
    const md = formatMarkdown(report);
    const file = path.join('vault', hash.slice(0, 2), hash);
    expect(md.startsWith('# stele forensic report\n\n**Result: 2 divergences** (STELE_E_DIVERGENCE)\n')).toBe(true);
    expect(md).toContain('- base: genesis (every event re-derived)');
    const first = md.slice(md.indexOf('## First divergence'), md.indexOf('## Findings'));
    expect(first).toContain('- what: **bundle**');
    expect(first).toContain(`- where: ${file} (seq ${report.first!.where.seq})`);
    expect(first).toContain(`- key: \`bundle:${hash}\``);
    expect(first).toContain(`- derived: \`${hash}\``);
    expect(first).toContain('- fix: restore the vault file');
    // One table row per finding.
    const rows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.split(' | ')[5])).toEqual(['sha256', 'size']);
    expect(md).toContain('| bundles checked | 1 |');
    expect(md).toMatch(/\| total \| [\d.]+ \|/);

    // A `|` or a newline inside a value cannot break the table.
    const odd = formatMarkdown({ ...report, findings: [{ ...report.findings[0]!, recorded: 'a|b\nc' }] });
    expect(odd).toContain('| a\\|b c |');
  });
});

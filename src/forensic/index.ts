/**
 * Forensics (issue #5): checking a data directory from its files alone, for someone who
 * does not trust the operator. `forensicAudit` re-derives everything and lists every
 * divergence from what is recorded on disk; `traceKey` lists the events that touched a
 * state key; `explainAccount` re-derives a balance event by event.
 */
export { forensicAudit } from './audit.js';
export type { ForensicOptions } from './audit.js';
export type { ForensicChecked } from './auditor.js';
export { findingKinds, firstDifference } from './finding.js';
export type { Finding, FindingKind, FindingSeverity, JsonDifference } from './finding.js';
export { formatMarkdown, forensicReportFormat } from './report.js';
export type { ForensicBase, ForensicReport } from './report.js';
export { traceKey, tracingModules } from './trace.js';
export type { TraceEntry, TraceOptions, TraceResult } from './trace.js';
export { explainAccount } from './explain.js';
export type { ExplainChange, ExplainOptions, ExplainResult } from './explain.js';

/**
 * stele as a library: the same operations as the CLI, for embedding.
 */
export { SteleError, isSteleError, errorCodes } from './errors.js';
export type { ErrorCode, ErrorKind, ErrorWhere, SteleErrorJson } from './errors.js';
export { limits } from './limits.js';
export { canonicalize, parseJson, parseJsonBytes, isCanonical } from './canonical/json.js';
export type { JsonValue } from './canonical/json.js';
export { envelopeSchema, formatEventLine } from './events/envelope.js';
export type { EventEnvelope, HashedEvent } from './events/envelope.js';
export { EventRegistry } from './events/registry.js';
export type { EventTypeDef } from './events/registry.js';
export { createRegistry, builtinEventTypes } from './events/builtin.js';
export { generateJsonSchemas } from './events/json-schema.js';
export { sha256 } from './hash/sha256.js';
export type { Sha256 } from './hash/sha256.js';
export { sha256Portable } from './hash/portable.js';
export { toHex, fromHex } from './hash/hex.js';
export * from './merkle/log-tree.js';
export { parseProof, checkProof, formatInclusionProof, formatConsistencyProof } from './proof/format.js';
export type { LogProof, InclusionProof, ConsistencyProof } from './proof/format.js';
export { ChainVerifier } from './log/chain.js';
export type { ChainHead } from './log/chain.js';
export { LogWriter } from './log/writer.js';
export type { Ack, AppendInput, AppendOptions, LogStatus, TreeStore } from './log/writer.js';
export { openWriter } from './log/open.js';
export type { OpenedLog, OpenWriterOptions } from './log/open.js';
export { verifyLog, readStatus, readEvents, proveEvent, proveLogConsistency } from './log/read.js';
export type { VerifyReport, StatusReport, EventQuery } from './log/read.js';
export { initDataDir, checkDataDir, dataPaths } from './store/data-dir.js';
export type { LogStore, StoredLine } from './store/log-store.js';
export { MemoryStore } from './store/memory-store.js';
export { FileStore } from './store/file-store.js';

// Issue #3: modules, the state machine, replay, snapshots.
export type { JsonObject } from './canonical/json.js';
export { defineCommand, defineModule } from './modules/module.js';
export type {
  AnyModule,
  AnyCommandDef,
  CommandDef,
  DecideContext,
  Decision,
  DomainEvent,
  Evolution,
  Module,
  ModuleView,
  NewEvent,
  Rejection,
  SnapshotCodec,
  StateReader,
  StateWrite,
} from './modules/module.js';
export { invariantBroken, snapshotInvalid } from './modules/errors.js';
export { builtinModules } from './modules/builtin.js';
export { kvModule } from './modules/kv/index.js';
export { ledgerModule } from './modules/ledger/index.js';
export { vaultModule } from './modules/vault/index.js';
export { auditModule } from './modules/audit/index.js';
export { StateMachine } from './runtime/machine.js';
export type { CommandInput, CommandOutcome, MachineOptions, ModulePart, ValidCommand } from './runtime/machine.js';
export { Engine, checkpointEveryDefault } from './runtime/engine.js';
export type { CommandResult, EngineOptions } from './runtime/engine.js';
export { replayDir, loadSnapshot } from './runtime/replay.js';
export type { Replayed, ReplayOptions, ReplayStats } from './runtime/replay.js';
export { createSnapshot, listSnapshotInfo, verifySnapshots } from './runtime/snapshots.js';
export { verifyDir } from './runtime/verify.js';
export { StateStore } from './state/store.js';
export { StateTree, checkStateProof, stateKeyHash, stateValueHash } from './state/smt.js';
export type { StateProof } from './state/smt.js';
export { formatStateProof, parseStateProof, checkStateProofJson } from './proof/state-proof.js';
export type { StateProofJson } from './proof/state-proof.js';
export { VaultStore } from './store/vault-store.js';
export { workload, takeCommands } from './workload/generate.js';

// Issue #5: signed checkpoints.
export { checkCheckpointSignature, checkpointSignatureChecker, checkpointMessage, keyIdOf } from './crypto/checkpoint-sig.js';
export type { CheckpointCommitment, CheckpointData, CheckpointSignatureChecker, Ed25519Verify, SignatureCheck } from './crypto/checkpoint-sig.js';
export { ed25519VerifyPortable } from './crypto/ed25519-portable.js';
export { ed25519VerifyNode, loadKeyring, loadPublicKey, loadSigningKey, writeKeyPair } from './crypto/keys.js';
export type { PublicKey, SigningKey } from './crypto/keys.js';
export { signaturePolicy } from './runtime/signatures.js';
export type { CheckpointSummary, SignaturePolicy } from './runtime/replay-sink.js';

// Issue #5: forensic audit, trace, explain.
export { forensicAudit, traceKey, tracingModules, explainAccount, formatMarkdown as formatForensicMarkdown, findingKinds, firstDifference, forensicReportFormat } from './forensic/index.js';
export type { ForensicOptions, ForensicReport, ForensicBase, ForensicChecked, Finding, FindingKind, FindingSeverity, JsonDifference, TraceEntry, TraceOptions, TraceResult, ExplainChange, ExplainOptions, ExplainResult } from './forensic/index.js';

// Issue #5: proof bundles (src/proof/bundle.ts is portable: the browser runs the same verifier).
export { bundleType, bundleVersion, formatBundle, makeEventBundle, makeStateBundle, parseBundle, parseBundleValue, verifyBundle } from './proof/bundle.js';
export type { BundleCheck, BundleCheckId, BundleCheckpoint, BundleVerdict, EventBundle, ProofBundle, SignedCheckpoint, StateBundle, VerifyBundleOptions } from './proof/bundle.js';
export { BundleBuilder, DataDirBundles, StateAtCache, findSignedCheckpoint, proveEventBundle, proveStateBundle } from './proof/build.js';
export type { BuiltBundle, BundleLog, BundleState, DataDirBundleOptions } from './proof/build.js';

// Issue #5: the monitor (src/monitor/verdict.ts is pure: the decision on plain data).
export { alarmCodes as monitorAlarmCodes, decide as decideMonitorLook, parseCheckpointLine, proofsNeeded as monitorProofsNeeded } from './monitor/verdict.js';
export type { AlarmVerdict, Decision as MonitorDecision, Latest as MonitorLatest, MonitorCrypto, MonitoredCheckpoint, OkVerdict, Proofs as MonitorProofs, Remembered as MonitorRemembered, SignaturePolicy as MonitorSignaturePolicy, TreeHead } from './monitor/verdict.js';
export { pollOnce as monitorPollOnce, runMonitor } from './monitor/monitor.js';
export type { MonitorOptions, PollReport as MonitorPollReport } from './monitor/monitor.js';
export { HttpSource as MonitorHttpSource } from './monitor/http-source.js';
export { DataDirSource as MonitorDataDirSource } from './monitor/data-source.js';
export type { MonitorSource } from './monitor/source.js';

// Issue #6: online backup and restore.
export { backupDir, restoreDir } from './backup/copy.js';
export type { CopyOptions, CopyPhase, CopySummary, RestoreOptions, RestoreSummary } from './backup/copy.js';

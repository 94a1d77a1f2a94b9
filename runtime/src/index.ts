/** Sprig's public API: the one barrel. */
export { task, sendTask, signature, configure, defaultApp, App, type ApplyOptions } from './app/app.js';
export type { Task, TaskOptions, TaskContext, BoundTaskFn, BoundArgs, BoundTaskOptions, UnboundTaskOptions } from './app/task.js';
export type { DeliveryInfo, SignatureInput } from './app/task.js';
export { pythonException, type PythonExceptionSpec } from './app/python-exception.js';
export { currentTask } from './app/context.js';
export { AsyncResult, type GetOptions } from './app/result.js';
export { chain, group, chord, Signature, Group, GroupResult, type CanvasStep, type SignatureOptions, type SignatureLike } from './app/canvas.js';
export type { SignatureDict, Embed } from './protocol/signature.js';
export { defineConfig, resolveConfig, type SprigConfig, type WorkerConfig, type BeatConfig, type PoolKind, type ResolveConfigOptions } from './app/config.js';
export { defineSchedule, type ScheduleDefinition, type ScheduleEntry, type ScheduleOptions, type CrontabFields, type CatchUpPolicy, type Duration } from './app/schedule.js';
export { Beat, beatTaskId, BEAT_HEADERS, type BeatOptions, type BeatListEntry } from './beat/beat.js';
export type { LeaseStore, LeaseSnapshot, LeaseStateChange, LeaseCommitResult } from './brokers/lease.js';
export { registeredTaskNames, getTask } from './app/registry.js';
export { taskTraceback, isRuntimeFrame, firstUserLocation, type TracebackOptions, type FrameLocation } from './app/traceback.js';
export * from './errors.js';
export {
  buildTaskMessage,
  parseTaskMessage,
  encodeEnvelope,
  decodeEnvelope,
  decodeBody,
  type TransportMessage,
  type TaskRequest,
  type TaskHeaders,
} from './protocol/message.js';
export { serializers, registerSerializer, type Serializer } from './serialization/registry.js';
export { configureSigning, SignatureError, type SigningConfig } from './serialization/signed.js';
export { workerMetrics } from './worker/metrics.js';
export { Control, type BroadcastOptions, type Replies, type HeldTask } from './control/client.js';
export { compressors, registerCompressor, type Compressor } from './compression/registry.js';
export { createBroker, registerTransport } from './brokers/registry.js';
export { redactUrl } from './util/url.js';
export type { Broker, Delivery, Consumer, BrokerCapabilities } from './brokers/types.js';
export type { ControlRequest } from './protocol/control.js';
export type { ResultBackend, ResultMeta, TaskState } from './backends/types.js';
export * from './events/types.js';
export {
  ClusterState,
  newTask,
  TASK_STATES,
  READY_STATES,
  type TaskInfo,
  type WorkerInfo,
  type TaskStateName,
  type ClusterSnapshot,
  type ClusterStateOptions,
  type Change,
} from './events/state.js';
export { EventDispatcher } from './events/dispatcher.js';
export {
  EventReceiver,
  AppEvents,
  type EventHandlerMap,
  type ReceiverListener,
  type ReceiverLifecycle,
  type ReceiverHandlers,
  type ReceiverOptions,
  type CaptureOptions,
  type EventGap,
} from './events/receiver.js';
export { TRACE_HEADERS, parseTraceparent, type TraceCarrier } from './tracing/types.js';
export { Worker, type WorkerOptions } from './worker/worker.js';
export type { Step } from './worker/blueprint.js';
export { VERSION } from './version.js';
export { runCli, cliFlags } from './cli/main.js';
export { runPoolChild } from './worker/pool/child-runner.js';
export { stopEmbeddedBroker } from './brokers/embedded/client.js';
export { ensureEmbeddedBroker, findRunningBroker, type BrokerEndpoint, type EnsureBrokerOptions } from './brokers/embedded/discovery.js';
export { findProjectDir } from './util/paths.js';
export {
  stopChild,
  onParentShutdown,
  sendToParent,
  isShutdownRequest,
  isWorkerReady,
  isTasksFileStatus,
  type TasksFileStatus,
  type ShutdownMode,
  type ShutdownRequest,
  type WorkerReady,
  type ChildExit,
  type StopChildOptions,
} from './util/child-ipc.js';

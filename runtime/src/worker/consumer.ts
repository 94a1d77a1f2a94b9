/**
 * The task data path in the worker: delivery -> parse -> checks (registered, revoked, expired, ETA)
 * -> reserved (priority order) -> revoked/expired again -> pool -> outcome -> result + events -> ack.
 */
import type { Broker, Consumer, Delivery } from '../brokers/types.js';
import { parseTaskMessage, buildTaskMessage, customHeaders, type TaskRequest, type ParseOptions, type TransportMessage } from '../protocol/message.js';
import { getTask, registeredTaskNames } from '../app/registry.js';
import type { ProgressReport, Task } from '../app/task.js';
import { ProgressRelay } from './progress.js';
import { ConfigError, NotRegisteredError, type ExceptionInfo } from '../errors.js';
import { PriorityFifo } from '../brokers/priority-queue.js';
import { pyrepr } from '../protocol/pyrepr.js';
import { toCeleryDateDone, toCeleryIso } from '../protocol/time.js';
import { serializers } from '../serialization/registry.js';
import { errorToInfo, type Job, type Outcome } from './trace.js';
import type { Worker } from './worker.js';
import { READY_STATES, type ResultMeta } from '../backends/types.js';
import { PrefetchTuner } from './prefetch.js';
import { discardReason } from './hand-off.js';
import { EtaHold, type HeldEta } from './eta-hold.js';
import { passTraceHeaders, startProcessSpan, tracing } from '../tracing/otel.js';
import type { ProcessSpan, PublishSpan } from '../tracing/types.js';
import { isEmptyEmbed } from '../protocol/signature.js';
import { Workflow } from './canvas.js';
import { resultIdOf } from '../app/canvas-apply.js';

/** A retry's next attempt, built before RETRY is stored, published after; `pub`: its publish span. */
interface RetryMessage {
  message: TransportMessage;
  pub?: PublishSpan;
}

const SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1, SIGUSR1: 10, SIGUSR2: 12, SIGQUIT: 3 };

export interface Request {
  delivery: Delivery;
  req: TaskRequest;
  task: Task;
  acked: boolean;
  timer?: NodeJS.Timeout;
  /** When it started running in a pool slot (epoch ms); unset while it waits (reserved). */
  startedAt?: number;
  /** The pid of the process running it (a pool child's, or this one's for the async pool). */
  workerPid?: number;
  /** OpenTelemetry's process span, when the API is installed (tracing/otel.ts). */
  span?: ProcessSpan;
  /** Made on its first ctx.progress / ctx.updateState (progress.ts). */
  progress?: ProgressRelay;
}

export class TaskConsumer {
  private consumer?: Consumer;
  private readonly ready = new PriorityFifo<Request>();
  readonly active = new Map<string, Request>();
  private basePrefetch: number;
  private stopping = false;
  private touchTimer?: NodeJS.Timeout;
  private readonly parseOpts: ParseOptions;
  private idleWaiters: Array<() => void> = [];
  private readonly tuner?: PrefetchTuner;
  /** Chains, callbacks, errbacks and chord joins of the tasks that carry a canvas embed. */
  private readonly workflow: Workflow;
  /** ETA tasks held until their time, and the bound on them (eta-hold.ts). */
  readonly eta: EtaHold;

  constructor(private readonly w: Worker) {
    this.workflow = new Workflow({
      get backend() {
        return w.backend;
      },
      log: w.log,
      get resultExpires() {
        return w.config.resultExpires;
      },
    });
    this.basePrefetch = Math.max(1, w.concurrency * w.prefetchMultiplier);
    this.eta = new EtaHold(
      {
        broker: w.broker,
        log: w.log,
        heldChanged: () => this.adjustPrefetch(),
        due: (d) => this.receive(d, false, true),
        decode: (d) => this.decode(d),
      },
      w.config.worker?.etaTaskLimit,
    );
    if (w.prefetchAdaptive) this.tuner = new PrefetchTuner((m) => this.setMultiplier(m), w.prefetchMultiplier, w.pool.maxPrefetchMultiplier);
    this.parseOpts = {
      accept: serializers.resolveAccept(w.config.accept ?? ['json']),
      maxBodyBytes: w.config.maxMessageBytes,
    };
  }

  get broker(): Broker {
    return this.w.broker;
  }

  /** ETA tasks held here until their time, by task id. */
  get scheduled(): ReadonlyMap<string, HeldEta> {
    return this.eta.scheduled;
  }

  /** The prefetch count now in force. */
  prefetchCount(): number {
    return this.basePrefetch + this.eta.windowGrowth();
  }

  /** The adaptive window moved (prefetch.ts): children may hold as many, the broker sends as many. */
  private setMultiplier(m: number): void {
    this.w.log.info(`prefetch window ${this.w.prefetchMultiplier} -> ${m} per pool slot (tasks average ${this.tuner!.averageMs.toFixed(3)} ms)`);
    this.w.prefetchMultiplier = m;
    this.w.pool.setDepth?.(m);
    this.onPoolResized();
  }

  /** The pool changed size: keep prefetch = concurrency x multiplier, and start what fits. */
  onPoolResized(): void {
    this.setBasePrefetch(this.w.pool.size * this.w.prefetchMultiplier);
    this.pump();
  }

  /** Messages waiting for a pool slot (autoscale grows on these). */
  get waiting(): number {
    return this.ready.length;
  }

  /** Running in a pool slot now (Celery's active requests): the pool said it started. */
  running(): Request[] {
    return [...this.active.values()].filter((r) => r.startedAt !== undefined);
  }

  /** Reserved, waiting for a slot: handed to the pool and not started (in a pool child's batch), then prefetched here in priority order. */
  reserved(): Request[] {
    return [...[...this.active.values()].filter((r) => r.startedAt === undefined), ...this.ready.values()];
  }

  async start(): Promise<void> {
    this.w.pool.onFree = () => this.pump();
    this.consumer = await this.broker.consume(this.w.queues, this.basePrefetch, (d) => this.onDelivery(d));
    this.adjustPrefetch();
    this.adjustRefillBatch();
    const vt = this.broker.capabilities.visibilityTimeoutMs;
    if (vt && this.broker.touch) {
      this.touchTimer = setInterval(() => void this.touchHeld(), Math.max(200, Math.min(vt / 4, 60_000)));
      this.touchTimer.unref();
    }
  }

  /** Queue changes (add_consumer / cancel_consumer) run one after another. */
  private queueChange: Promise<void> = Promise.resolve();

  /**
   * Consume from `queues` from now on (Celery's add_consumer / cancel_consumer): the broker
   * consumer is replaced by one on the new list. What the old one delivered stays held here and is
   * acked as usual (a cancelled consumer keeps its deliveries until they are settled).
   */
  setQueues(queues: readonly string[]): Promise<void> {
    const change = this.queueChange.then(async () => {
      if (this.stopping) return;
      const old = this.consumer;
      this.consumer = undefined;
      this.w.queues = [...queues];
      await old?.cancel().catch((err) => this.w.log.warn(`cannot cancel the consumer: ${(err as Error).message}`));
      if (!queues.length || this.stopping) return;
      this.consumer = await this.broker.consume(queues, this.basePrefetch, (d) => this.onDelivery(d));
      this.adjustPrefetch();
      this.adjustRefillBatch();
    });
    this.queueChange = change.catch(() => undefined);
    return change;
  }

  private async touchHeld(): Promise<void> {
    const held: Delivery[] = [];
    for (const r of this.ready.values()) held.push(r.delivery);
    for (const h of this.scheduled.values()) held.push(h.delivery);
    for (const r of this.active.values()) if (!r.acked) held.push(r.delivery);
    if (held.length) await this.broker.touch!(held).catch((err) => this.w.log.warn(`cannot extend visibility: ${(err as Error).message}`));
  }

  private adjustPrefetch(): void {
    // ETA tasks held in memory must not block the prefetch of others (Celery's qos.increment_eventually).
    this.consumer?.setPrefetch(this.prefetchCount());
    // Past the ETA bound, far ETA messages are parked as they are fetched (a broker that can).
    this.consumer?.setParkBeyond?.(this.eta.parkBeyond(), this.eta.parkedByBroker);
  }

  setBasePrefetch(n: number): void {
    this.basePrefetch = Math.max(1, n);
    this.adjustPrefetch();
    this.adjustRefillBatch();
  }

  /**
   * Refill in batches of up to half the prefetch, but never let fewer than `concurrency` messages
   * stay held meanwhile, so a free pool slot always finds one reserved (with a multiplier of 1
   * this is a batch of 1: every freed slot refills at once).
   */
  private adjustRefillBatch(): void {
    const base = this.basePrefetch;
    this.consumer?.setRefillBatch?.(Math.max(1, Math.min(Math.floor(base / 2), base - this.w.pool.size)));
  }

  onDelivery(d: Delivery): void {
    this.receive(d, true);
  }

  /** A held ETA task's request again, from its bytes (they were parsed once when it was received). */
  private decode(d: Delivery): Request | undefined {
    if (!d.message) return undefined;
    try {
      const req = parseTaskMessage(d.message, this.parseOpts);
      const task = getTask(req.name);
      return task ? { delivery: d, req, task, acked: false } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * `mayPark`: false when the broker could not keep it a moment ago (it is held here then);
   * `announced`: a held ETA task come due, whose task-received event was sent when it arrived.
   */
  private receive(d: Delivery, mayPark: boolean, announced = false): void {
    if (d.error || !d.message) return this.rejectBad(d, d.error?.message ?? 'empty message', null);
    let req: TaskRequest;
    try {
      req = parseTaskMessage(d.message, this.parseOpts);
    } catch (err) {
      const id = typeof d.message.headers?.id === 'string' ? d.message.headers.id : null;
      return this.rejectBad(d, `${(err as Error).name}: ${(err as Error).message}`, id);
    }
    const task = getTask(req.name);
    if (!task) return void this.notRegistered(d, req);
    const r: Request = { delivery: d, req, task, acked: false };
    if (this.discarded(r)) return;
    const delay = req.eta ? req.eta.getTime() - Date.now() : 0;
    // Past the bound, the broker keeps it: it is received when it comes back, due.
    if (mayPark && this.eta.shouldPark(delay)) return this.eta.park(r, req.eta!.getTime(), (again) => this.receive(again, false));
    if (this.w.events.active && !announced) this.w.events.send({
      type: 'task-received',
      uuid: req.id,
      name: req.name,
      args: req.argsrepr,
      kwargs: req.kwargsrepr,
      retries: req.retries,
      eta: req.eta ? toCeleryIso(req.eta) : null,
      expires: req.expires ? toCeleryIso(req.expires) : null,
      root_id: req.rootId,
      parent_id: req.parentId,
      ...(req.groupId ? { group: req.groupId } : {}),
      ...(req.embed.chord ? { chord: resultIdOf(req.embed.chord) ?? null } : {}),
    });
    if (delay > 0) return this.eta.hold(r, delay);
    this.reserve(r);
  }

  private reserve(r: Request): void {
    this.ready.push(r, this.level(r));
    this.pump();
  }

  /** PriorityFifo serves level 0 first; AMQP's priorities run the other way. */
  private level(r: Request): number {
    const p = r.req.priority;
    return this.broker.capabilities.priorities === 'higher-first' ? 9 - Math.min(9, p) : p;
  }

  /** A rate limit's wake-up: one function for every task, not a closure per task started. */
  private readonly pumpLater = (): void => this.pump();

  /** Start as many reserved tasks as the pool has free slots. */
  pump(): void {
    const pool = this.w.pool;
    // Tasks over their rate wait aside so other task types behind them still run.
    let limited: Request[] | undefined;
    while (!this.stopping && pool.free > 0 && this.ready.length > 0) {
      const r = this.ready.shift()!;
      if (this.broker.isStale?.(r.delivery)) {
        // Its connection was lost: the broker delivers it again, so running it here would run it twice.
        this.w.log.debug(`dropping ${r.req.name}[${r.req.id}]: its delivery is from a lost connection`);
        continue;
      }
      if (this.discarded(r)) continue;
      if (!this.w.rateLimits.take(r.req.name, this.pumpLater)) {
        (limited ??= []).push(r);
        continue;
      }
      this.execute(r);
    }
    if (limited) for (let i = limited.length - 1; i >= 0; i--) this.ready.unshift(limited[i]!, this.level(limited[i]!));
  }

  /** Revoked, or expired, by the time it got here: it ends REVOKED without running. */
  private discarded(r: Request): boolean {
    const why = discardReason(r.req.id, r.req.expires?.getTime(), this.w.revoked);
    if (why) void this.revoke(r, why === 'expired');
    return why !== undefined;
  }

  private acksLate(r: Request): boolean {
    return r.task.options.acksLate ?? this.w.acksLate;
  }

  private ack(r: Request): void {
    if (r.acked) return;
    r.acked = true;
    this.broker.ack(r.delivery);
  }

  private execute(r: Request): void {
    const { req } = r;
    if (!this.acksLate(r)) this.ack(r);
    this.active.set(req.id, r);
    const job: Job = {
      id: req.id,
      name: req.name,
      args: req.args,
      kwargs: req.kwargs,
      retries: req.retries,
      eta: req.eta ? req.eta.toISOString() : null,
      rootId: req.rootId,
      parentId: req.parentId,
      groupId: req.groupId,
      queue: r.delivery.queue,
      headers: customHeaders(req.headers),
      hostname: this.w.hostname,
      timeLimit: req.timeLimit ?? this.w.timeLimits.get(req.name)?.hard ?? r.task.options.timeLimit ?? this.w.config.worker?.timeLimit ?? null,
      softTimeLimit: req.softTimeLimit ?? this.w.timeLimits.get(req.name)?.soft ?? r.task.options.softTimeLimit ?? this.w.config.worker?.softTimeLimit ?? null,
      expires: req.expires ? req.expires.getTime() : null,
    };
    if (req.contentType !== 'application/json') job.binary = true;
    requestFields(job, req, r.delivery);
    if (tracing(this.w.config.projectDir)) {
      r.span = startProcessSpan({
        taskId: req.id,
        taskName: req.name,
        retries: req.retries,
        queue: r.delivery.queue,
        brokerKind: this.broker.kind,
        hostname: this.w.hostname,
        headers: req.headers,
        projectDir: this.w.config.projectDir,
      });
      job.trace = r.span?.carrier;
    }
    this.w.pool.run(
      job,
      (o) => this.complete(r, o),
      (pid) => this.started(r, pid),
      (p) => this.progressed(r, p),
    );
  }

  /** ctx.progress / ctx.updateState: the custom state stored (Celery's update_state) and a task-progress event. */
  private progressed(r: Request, p: ProgressReport): void {
    if (!this.active.has(r.req.id)) return;
    r.progress ??= new ProgressRelay({
      // A custom state (Celery stores update_state's state as it is); the union names only the built-in ones.
      store: (x) => this.store(r, { status: x.state as ResultMeta['status'], result: x.meta, traceback: null }),
      send: (x) => {
        if (this.w.events.active) this.w.events.send({ type: 'task-progress', uuid: r.req.id, custom_state: x.state, meta: x.meta, done: x.done ?? null, total: x.total ?? null });
      },
      log: (m) => this.w.log.warn(`Task ${r.req.name}[${r.req.id}]: ${m}`),
    });
    r.progress.report(p);
  }

  /** The pool started it (not when it was handed over: it may wait in a child's batch first). */
  private started(r: Request, pid: number): void {
    r.startedAt = Date.now();
    r.workerPid = pid;
    if (this.w.events.active) this.w.events.send({ type: 'task-started', uuid: r.req.id, worker_pid: pid });
    if (r.task.options.trackStarted) void this.store(r, { status: 'STARTED', result: { pid, hostname: this.w.hostname }, traceback: null });
  }

  private complete(r: Request, o: Outcome): void {
    const { req } = r;
    r.span?.outcome(o);
    // One the pool discarded before it started did not run: it counts for neither.
    if (o.state !== 'REVOKED') {
      this.w.totals.set(req.name, (this.w.totals.get(req.name) ?? 0) + 1);
      this.tuner?.observe(o.runtime);
    }
    // Asked to terminate: it ends as REVOKED unless it succeeded first. Either way the mark goes.
    let terminatedWith: string | undefined;
    if (this.w.terminated.size) {
      terminatedWith = this.w.terminated.get(req.id);
      this.w.terminated.delete(req.id);
    }
    // The common case, a success with no result to store, needs no await at all.
    if (o.state === 'SUCCESS' && !o.added && (req.ignoreResult || r.task.options.ignoreResult) && isEmptyEmbed(req.embed)) {
      void r.progress?.close();
      this.succeeded(r, o);
      this.finished(r);
      return;
    }
    void this.completeAsync(r, o, terminatedWith);
  }

  private succeeded(r: Request, o: Outcome & { state: 'SUCCESS' }): void {
    const { req } = r;
    if (this.w.events.active) this.w.events.send({ type: 'task-succeeded', uuid: req.id, result: pyrepr(o.result, 256), runtime: o.runtime });
    if (this.w.log.enabled('info')) this.w.log.info(`Task ${req.name}[${req.id}] succeeded in ${o.runtime.toFixed(6)}s: ${pyrepr(o.result, 200)}`);
    this.w.stats.succeeded++;
    this.ack(r);
  }

  /** The task is done with, whatever happened: free its place and start what fits. */
  private finished(r: Request): void {
    r.span?.end();
    // A replacement (ctx.replace) has the same id and may already run here: it keeps its place.
    if (this.active.get(r.req.id) === r) this.active.delete(r.req.id);
    this.w.stats.processed++;
    if (this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    this.pump();
  }

  private async completeAsync(r: Request, outcome: Outcome, terminatedWith: string | undefined): Promise<void> {
    let o = outcome;
    const { req } = r;
    try {
      // A progress store under way finishes first: the outcome is stored after it, never under it.
      if (r.progress) await r.progress.close();
      if (terminatedWith !== undefined && o.state !== 'SUCCESS' && o.state !== 'REVOKED') {
        // Stopped by `revoke --terminate`: REVOKED, not a failure, and never redelivered.
        await this.revoke(r, false, terminatedWith);
        return;
      }
      // Parts the task added to its chord (ctx.addToChord) are counted and sent before its own part returns.
      if (o.added) o = await this.addedToChord(r, o);
      switch (o.state) {
        case 'SUCCESS':
          // Celery's order: callbacks and the next chain step, the result, then the chord part.
          if (!isEmptyEmbed(req.embed)) await this.workflow.deliveredFrom(req, r.delivery.queue).succeeded(req, o.result);
          await this.store(r, { status: 'SUCCESS', result: o.result, traceback: null });
          if (req.embed.chord) await this.workflow.deliveredFrom(req, r.delivery.queue).partReturned(req, 'SUCCESS', o.result);
          this.succeeded(r, o);
          break;
        case 'FAILURE':
          await this.storeFailure(r, o);
          this.w.log.error(`Task ${req.name}[${req.id}] raised unexpected: ${o.repr}\n${o.traceback}`);
          this.w.stats.failed++;
          this.ack(r);
          break;
        case 'RETRY': {
          // A value the message's serializer cannot write fails this task (it would never be sent).
          let retry: RetryMessage;
          try {
            retry = this.retryMessage(r, o.countdown);
          } catch (err) {
            const info = errorToInfo(err);
            await this.storeFailure(r, info);
            this.w.log.error(`Task ${req.name}[${req.id}] cannot be retried: ${info.repr}`);
            this.w.stats.failed++;
            this.ack(r);
            break;
          }
          // RETRY is stored and announced before the next attempt is published: that attempt can
          // run (and succeed) at once, and a late RETRY would then overwrite its result and state.
          await this.store(r, { status: 'RETRY', result: o.exc, traceback: o.traceback || null });
          this.w.events.send({ type: 'task-retried', uuid: req.id, exception: o.repr, traceback: o.traceback });
          await this.republishForRetry(r, retry);
          this.w.log.info(`Task ${req.name}[${req.id}] retry: ${o.repr}`);
          this.w.stats.retried++;
          this.ack(r);
          break;
        }
        case 'IGNORED':
          this.ack(r);
          break;
        case 'REPLACED':
          await this.replaced(r, o);
          break;
        case 'REVOKED':
          await this.revoke(r, o.expired);
          break;
        case 'REJECTED':
          // The task raised Reject: requeue or dead-letter (acks late; with an early ack the message
          // is already gone), and tell the monitor either way.
          this.w.log.warn(`Task ${req.name}[${req.id}] rejected${o.requeue ? ' (requeued)' : ''}: ${o.reason}`);
          if (!r.acked) await this.rejectDelivery(r, o.requeue, o.reason, false);
          this.w.events.send({ type: 'task-rejected', uuid: req.id, requeue: o.requeue, reason: o.reason, name: req.name });
          break;
        case 'LOST': {
          const requeue = this.acksLate(r) && r.task.options.rejectOnWorkerLost !== false;
          if (requeue && !r.acked) {
            this.w.log.warn(`${o.reason}: requeued (acks late)`);
            await this.rejectDelivery(r, true, o.reason);
          } else {
            const info = errorToInfo(Object.assign(new Error(o.reason), { name: 'WorkerLostError' }));
            await this.storeFailure(r, info);
            this.ack(r);
          }
          break;
        }
      }
    } catch (err) {
      // The result could not be recorded: don't ack, so the message is delivered again.
      this.w.log.error(`Task ${req.name}[${req.id}]: cannot record its outcome (${(err as Error).message}); requeueing`);
      if (!r.acked) await this.rejectDelivery(r, true, (err as Error).message).catch(() => undefined);
    } finally {
      this.finished(r);
    }
  }

  /** ctx.addToChord(): the chord waits for one more part each, then they are sent; a backend that cannot fails the task. */
  private async addedToChord(r: Request, o: Outcome): Promise<Outcome> {
    try {
      await this.workflow.deliveredFrom(r.req, r.delivery.queue).addToChord(r.req, o.added!);
      return o;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return { state: 'FAILURE', ...errorToInfo(err), runtime: o.runtime };
    }
  }

  /**
   * ctx.replace(sig): the replacement is sent with the task's id, chain, callbacks, errbacks and
   * chord membership; the task itself stores nothing (Celery raises Ignore), its id's result is
   * the replacement's. A replacement that cannot be sent (a chord on rpc://) fails the task.
   */
  private async replaced(r: Request, o: Outcome & { state: 'REPLACED' }): Promise<void> {
    const { req } = r;
    try {
      await this.workflow.deliveredFrom(req, r.delivery.queue).replaced(req, o.sig);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const info = errorToInfo(err);
      await this.storeFailure(r, info);
      this.w.log.error(`Task ${req.name}[${req.id}] cannot be replaced: ${info.repr}`);
      this.w.stats.failed++;
      this.ack(r);
      return;
    }
    this.w.log.info(`Task ${req.name}[${req.id}] replaced by ${o.sig.task}`);
    this.ack(r);
  }

  /** FAILURE stored, then its chord part, chain steps and errbacks (Celery's order), then task-failed. */
  private async storeFailure(r: Request, f: { exc: ExceptionInfo; traceback: string; repr: string }): Promise<void> {
    const { req } = r;
    await this.store(r, { status: 'FAILURE', result: f.exc, traceback: f.traceback });
    if (!isEmptyEmbed(req.embed)) {
      const flow = this.workflow.deliveredFrom(req, r.delivery.queue);
      if (req.embed.chord) await flow.partReturned(req, 'FAILURE', f.exc);
      await flow.failed(req, f.exc, f.traceback);
    }
    this.w.events.send({ type: 'task-failed', uuid: req.id, exception: f.repr, traceback: f.traceback });
  }

  private async rejectDelivery(r: Request, requeue: boolean, reason: string, announce = true): Promise<void> {
    if (r.acked) return;
    r.acked = true;
    await this.broker.reject(r.delivery, requeue, reason);
    if (!requeue && announce) this.w.events.send({ type: 'task-rejected', uuid: r.req.id, requeue, reason, name: r.req.name });
  }

  private retryMessage(r: Request, countdown: number): RetryMessage {
    const { req } = r;
    // The retry stays in the task's trace: published from its process span, or with the context it came with.
    const pub = r.span?.retryPublish(req.retries + 1);
    try {
      const message = buildTaskMessage({
      id: req.id,
      name: req.name,
      args: req.args,
      kwargs: req.kwargs,
      queue: r.delivery.queue,
      countdown,
      expires: req.expires ?? undefined,
      priority: req.priority,
      retries: req.retries + 1,
      timeLimit: req.timeLimit,
      softTimeLimit: req.softTimeLimit,
      rootId: req.rootId,
      parentId: req.parentId,
      groupId: req.groupId,
      replyTo: req.replyTo ?? undefined,
      ignoreResult: req.ignoreResult,
      serializer: serializers.has(req.contentType) ? req.contentType : 'json',
      embed: req.embed,
      origin: this.w.hostname,
      // The caller's own headers (a trace id, say) go with every retry, with the trace context.
      headers: { ...customHeaders(req.headers), ...(pub?.headers ?? passTraceHeaders(req.headers)) },
    });
      return { message, pub };
    } catch (err) {
      pub?.end(err);
      throw err;
    }
  }

  private async republishForRetry(r: Request, { message, pub }: RetryMessage): Promise<void> {
    try {
      await this.broker.publish(r.delivery.queue, message);
    } catch (err) {
      pub?.end(err);
      throw err;
    }
    pub?.end();
  }

  async store(r: Request, s: Pick<ResultMeta, 'status' | 'result' | 'traceback'>): Promise<void> {
    const { req, task } = r;
    if ((req.ignoreResult || task.options.ignoreResult) && s.status !== 'FAILURE') return;
    await this.w.backend.store(this.resultMeta(req, s, r.delivery.queue), task.options.resultExpires ?? this.w.config.resultExpires);
  }

  /**
   * A stored state in Celery's shape (backends/base.py `_get_result_meta`, with result_extended):
   * group_id and parent_id only when set, date_done in Celery's format once the task is ready.
   */
  private resultMeta(req: TaskRequest, s: Pick<ResultMeta, 'status' | 'result' | 'traceback'>, queue: string): ResultMeta {
    const meta: ResultMeta = {
      status: s.status,
      result: s.result,
      traceback: s.traceback,
      children: [],
      date_done: READY_STATES.has(s.status) ? toCeleryDateDone(new Date()) : null,
      task_id: req.id,
    };
    if (req.groupId) meta.group_id = req.groupId;
    if (req.parentId) meta.parent_id = req.parentId;
    Object.assign(meta, { name: req.name, args: req.args, kwargs: req.kwargs, worker: this.w.hostname, retries: req.retries, queue });
    // Only the rpc backend needs it (the Redis backend would store it in the result).
    if (this.w.backend.kind === 'rpc' && req.replyTo) meta.replyTo = req.replyTo;
    return meta;
  }

  /** Bad input: dead-letter it with the reason, tell the monitor, keep going. */
  private rejectBad(d: Delivery, reason: string, id: string | null): void {
    this.w.stats.rejected++;
    this.w.log.warn(`Rejected message ${id ?? d.tag} from queue ${d.queue}: ${reason}`);
    this.w.events.send({ type: 'task-rejected', uuid: id, requeue: false, reason });
    this.broker.reject(d, false, reason).catch((err) => this.w.log.error(`cannot dead-letter ${d.tag}: ${(err as Error).message}`));
  }

  /** Unknown task: store NotRegistered so a waiting caller learns at once, and dead-letter it. */
  private async notRegistered(d: Delivery, req: TaskRequest): Promise<void> {
    const err = new NotRegisteredError(req.name, registeredTaskNames());
    this.w.log.error(`Received unregistered task of type ${JSON.stringify(req.name)} [${req.id}]: ${err.message}`);
    const info = errorToInfo(err);
    try {
      await this.w.backend.store(this.resultMeta(req, { status: 'FAILURE', result: { ...info.exc, exc_type: 'NotRegistered', exc_module: 'celery.exceptions' }, traceback: null }, d.queue));
    } catch (e) {
      this.w.log.error(`cannot store NotRegistered for ${req.id}: ${(e as Error).message}`);
    }
    this.rejectBad(d, err.message, req.id);
  }

  private async revoke(r: Request, expired: boolean, terminatedWith?: string): Promise<void> {
    const { req } = r;
    this.w.log.info(terminatedWith ? `Terminated revoked task ${req.name}[${req.id}] (${terminatedWith})` : `Discarding ${expired ? 'expired' : 'revoked'} task ${req.name}[${req.id}]`);
    // Celery's reasons: TaskRevokedError('terminated' | 'expired' | 'revoked').
    const exc: ExceptionInfo = { exc_type: 'TaskRevokedError', exc_message: [terminatedWith ? 'terminated' : expired ? 'expired' : 'revoked'], exc_module: 'celery.exceptions' };
    try {
      await this.store(r, { status: 'REVOKED', result: exc, traceback: null });
      if (req.embed.chord) await this.workflow.deliveredFrom(req, r.delivery.queue).partReturned(req, 'REVOKED', exc);
    } catch (err) {
      this.w.log.error(`cannot store REVOKED for ${req.id}: ${(err as Error).message}`);
    }
    this.w.events.send({ type: 'task-revoked', uuid: req.id, terminated: !!terminatedWith, signum: terminatedWith ? SIGNALS[terminatedWith] ?? 15 : null, expired });
    this.ack(r);
  }

  /**
   * A task was revoked (its id is in `w.revoked` already): an ETA one ends now; a reserved one ends
   * when its turn comes (pump); one handed to the pool that has not started is discarded there.
   */
  discard(id: string): boolean {
    const s = this.eta.take(id);
    if (s) {
      const r = this.eta.request(s);
      if (r) void this.revoke(r, false);
      return true;
    }
    return this.active.has(id) && !!this.w.pool.revoke?.(id);
  }

  /** Where a task is in this worker, in Celery's words (inspect query_task), if it is here. */
  find(id: string): { state: 'active' | 'reserved' | 'scheduled'; request: Request } | undefined {
    const a = this.active.get(id);
    if (a) return { state: a.startedAt === undefined ? 'reserved' : 'active', request: a };
    const s = this.scheduled.get(id);
    const r = s && this.eta.request(s);
    if (r) return { state: 'scheduled', request: r };
    for (const r of this.ready.values()) if (r.req.id === id) return { state: 'reserved', request: r };
    return undefined;
  }

  /** Warm shutdown: stop consuming, give back what is not started, wait for what is running. */
  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    clearInterval(this.touchTimer);
    await this.queueChange;
    await this.consumer?.cancel().catch(() => undefined);
    const giveBack: Request[] = [...this.ready.values()];
    this.ready.clear();
    const heldBack = this.eta.drain().map((h) => this.broker.reject(h.delivery, true, 'worker shutdown').catch(() => undefined));
    await Promise.all([...heldBack, ...giveBack.map((r) => this.rejectDelivery(r, true, 'worker shutdown').catch(() => undefined))]);
    if (graceful && this.active.size) await new Promise<void>((res) => this.idleWaiters.push(res));
    await this.broker.flush().catch(() => undefined);
  }
}

/** The request fields a task reads (ctx.deliveryInfo, replyTo, correlationId, chord, callbacks, ...): set only when present. */
function requestFields(job: Job, req: TaskRequest, d: Delivery): void {
  const di = req.properties.delivery_info as { exchange?: unknown; routing_key?: unknown } | undefined;
  const exchange = typeof di?.exchange === 'string' ? di.exchange : '';
  const routingKey = typeof di?.routing_key === 'string' ? di.routing_key : d.queue;
  const priority = req.properties.priority === undefined || req.properties.priority === null ? null : req.priority;
  // The common case (default exchange, routed by queue name, no priority, first delivery) is left to ctx: nothing per task.
  if (exchange || routingKey !== d.queue || priority !== null || d.redelivered) job.deliveryInfo = { exchange, routingKey, priority, redelivered: d.redelivered === true };
  if (req.replyTo) job.replyTo = req.replyTo;
  if (req.correlationId) job.correlationId = req.correlationId;
  if (req.groupIndex !== null) job.groupIndex = req.groupIndex;
  const e = req.embed;
  if (e.chord) job.chord = e.chord;
  if (e.callbacks?.length) job.callbacks = e.callbacks;
  if (e.errbacks?.length) job.errbacks = e.errbacks;
}

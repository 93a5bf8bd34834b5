/**
 * The sidebar's state: executions and schedules, kept fresh by one server-sent-events stream
 * (`GET /api/events`: every execution's and schedule's changes), which it also passes on (`events`, for
 * the result views). Each connection of the stream opens with `ready`; the lists are then read once and
 * the events received since that read began are applied to them again, in order, so a reconnect misses
 * nothing. While the stream is down (or there is no EventSource) it polls instead: every 2 s while
 * someone looks or something runs, else every 15 s. Views listen to `changed`; nothing here touches the
 * DOM.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { getExecution, listExecutions, listSchedules } from './api';
import { parse } from './exactJson';
import { apiURL, NbgateRequestError } from './handler';
import { Execution, IExecutionEvent, INbgateModel, isTerminal, Schedule } from './tokens';

/** Poll period, while the stream is down, when the sidebar is visible or an execution is active. */
export const FAST_POLL_MS = 2000;
/** Poll period otherwise (and the wait before opening a stream the server refused again). */
export const SLOW_POLL_MS = 15000;
/** How many executions the sidebar lists. */
export const LISTED = 200;

/** The events of `GET /api/events` about executions (relayed on `events`), and about schedules. */
const EXECUTION_EVENTS = [
  'created',
  'status',
  'progress',
  'output',
  'notified',
  'finished',
  'deleted'
];
const OTHER_EVENTS = [
  'ready',
  'lagged',
  'schedule_created',
  'schedule_updated',
  'schedule_deleted'
];

/** What the model needs of an EventSource (tests give a fake one). */
export interface IEventStream {
  readonly readyState: number;
  onerror: ((event: Event) => void) | null;
  addEventListener(name: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

/** EventSource's `readyState` once it gave up (the server answered other than 200). */
const CLOSED = 2;

/** Where the ids of executions started in this tab are kept (a reload keeps them, another tab not). */
export const TRACKED_KEY = 'nbgate:started-executions';

/** The ids this tab follows to their end, kept in `storage` when there is one. */
class Tracked {
  constructor(private _storage: Pick<Storage, 'getItem' | 'setItem'> | null) {
    try {
      const saved = JSON.parse(_storage?.getItem(TRACKED_KEY) ?? '[]');
      this._ids = new Set(Array.isArray(saved) ? saved.filter(id => typeof id === 'string') : []);
    } catch {
      this._ids = new Set();
    }
  }

  get ids(): string[] {
    return [...this._ids];
  }

  add(id: string): void {
    this._ids.add(id);
    this._save();
  }

  delete(id: string): void {
    this._ids.delete(id);
    this._save();
  }

  private _save(): void {
    try {
      this._storage?.setItem(TRACKED_KEY, JSON.stringify([...this._ids]));
    } catch {
      // Storage full or refused: this tab still follows them.
    }
  }

  private _ids: Set<string>;
}

export class NbgateModel implements INbgateModel {
  constructor(
    options: {
      fastPollMs?: number;
      slowPollMs?: number;
      useEvents?: boolean;
      /** Opens the events stream (default: an EventSource with credentials). */
      openStream?: (url: string) => IEventStream;
      storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
    } = {}
  ) {
    this._fast = options.fastPollMs ?? FAST_POLL_MS;
    this._slow = options.slowPollMs ?? SLOW_POLL_MS;
    this._openStream =
      options.openStream ??
      ((options.useEvents ?? typeof EventSource !== 'undefined')
        ? (url: string) => new EventSource(url, { withCredentials: true })
        : null);
    this._tracked = new Tracked(
      options.storage !== undefined
        ? options.storage
        : typeof sessionStorage !== 'undefined'
          ? sessionStorage
          : null
    );
  }

  get executions(): Execution[] {
    return this._executions;
  }

  get schedules(): Schedule[] {
    return this._schedules;
  }

  get unavailable(): string | null {
    return this._unavailable;
  }

  /** True while the events stream is connected: the lists follow it, nothing polls. */
  get live(): boolean {
    return this._live;
  }

  get changed(): ISignal<INbgateModel, void> {
    return this._changed;
  }

  get ended(): ISignal<INbgateModel, Execution> {
    return this._ended;
  }

  get events(): ISignal<INbgateModel, IExecutionEvent> {
    return this._events;
  }

  focus: string | null = null;

  track(execution: Execution): void {
    this._tracked.add(execution.id);
    if (!this._executions.some(e => e.id === execution.id)) {
      this._executions = [execution, ...this._executions];
    }
    void this.refresh();
  }

  /** Whether someone is looking (the sidebar is visible): polls fast, while it polls, when true. */
  set watching(value: boolean) {
    const wasSlow = !this._isFast();
    this._watching = value;
    if (value && wasSlow && !this._live) {
      void this.refresh();
    }
  }

  /** The latest execution of a schedule, from the loaded list. */
  latestExecution(scheduleId: string): Execution | undefined {
    return this._executions.find(e => e.schedule_id === scheduleId);
  }

  /** Opens the events stream (its `ready` loads the lists), or starts polling without one. */
  start(): void {
    if (this._disposed || this._started) {
      return;
    }
    this._started = true;
    if (this._openStream) {
      this._connect();
    } else {
      void this.refresh();
    }
  }

  /**
   * Reads both lists; the events that arrive meanwhile are applied again on top of what was read. Then,
   * unless the stream is live, polls again.
   */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    this._clearTimer();
    const since = this._beginRead();
    const read = ++this._reads;
    try {
      const [executions, schedules] = await Promise.all([
        listExecutions({ limit: LISTED }),
        listSchedules()
      ]);
      // A read that began earlier but answered later is older than the lists: dropped.
      if (read > this._newest) {
        this._newest = read;
        this._executions = executions;
        this._schedules = schedules;
        this._unavailable = null;
        for (const event of this._log.slice(since)) {
          this._apply(event.name, event.data, false);
        }
      }
      await this._reportEnded();
    } catch (error) {
      this._unavailable = error instanceof NbgateRequestError ? error.message : String(error);
    }
    this._endRead();
    if (!this._disposed) {
      this._changed.emit();
      this._schedulePoll();
    }
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    this._stream?.close();
    this._stream = null;
    Signal.clearData(this);
  }

  private _isFast(): boolean {
    return (
      this._watching ||
      this._tracked.ids.length > 0 ||
      this._executions.some(e => !isTerminal(e.status))
    );
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  /** The next poll, unless the stream is live (or one is already due). */
  private _schedulePoll(): void {
    if (this._disposed || this._live || this._timer !== null) {
      return;
    }
    this._timer = setTimeout(
      () => {
        this._timer = null;
        void this.refresh();
      },
      this._isFast() ? this._fast : this._slow
    );
  }

  /** A read of the lists begins: events from here on are logged; returns where its share starts. */
  private _beginRead(): number {
    this._reading += 1;
    return this._log.length;
  }

  private _endRead(): void {
    this._reading -= 1;
    if (this._reading === 0) {
      this._log = [];
    }
  }

  private _connect(): void {
    if (this._disposed || !this._openStream) {
      return;
    }
    const stream = this._openStream(apiURL('events'));
    this._stream = stream;
    for (const name of [...EXECUTION_EVENTS, ...OTHER_EVENTS]) {
      stream.addEventListener(name, (message: MessageEvent) => {
        if (this._stream === stream) {
          this._onEvent(name, String(message.data));
        }
      });
    }
    stream.onerror = () => {
      if (this._stream !== stream) {
        return;
      }
      this._live = false;
      if (stream.readyState === CLOSED) {
        // Refused (the gateway is down or answers an error): EventSource gives up, so try again later.
        stream.close();
        this._stream = null;
        setTimeout(() => this._connect(), this._slow);
      }
      // Until the next `ready`, the lists are polled.
      this._schedulePoll();
    };
  }

  private _onEvent(name: string, data: string): void {
    if (this._disposed) {
      return;
    }
    if (name === 'ready') {
      // (Re)connected: one read of the lists, then only events.
      this._live = true;
      void this.refresh();
      return;
    }
    if (name === 'lagged') {
      void this.refresh();
      return;
    }
    if (this._reading > 0) {
      this._log.push({ name, data });
    }
    this._apply(name, data, true);
  }

  /**
   * One event, applied to the lists (`relay`: passed on and `changed` emitted; false when it is applied
   * again after a read of the lists).
   */
  private _apply(name: string, data: string, relay: boolean): void {
    let event: {
      execution_id?: string;
      schedule_id?: string;
      execution?: Execution;
      schedule?: Schedule;
      status?: Execution['status'];
      reason?: string | null;
      cell?: number;
      total?: number;
    };
    try {
      event = parse(data) as typeof event;
    } catch {
      return;
    }
    if (event.execution_id !== undefined && relay) {
      this._events.emit({ id: event.execution_id, name, data });
    }
    const changed = event.execution_id
      ? this._applyExecution(name, event.execution_id, event)
      : event.schedule_id
        ? this._applySchedule(name, event.schedule_id, event.schedule)
        : false;
    if (changed && relay) {
      this._changed.emit();
    }
  }

  private _applyExecution(
    name: string,
    id: string,
    event: {
      execution?: Execution;
      status?: Execution['status'];
      reason?: string | null;
      cell?: number;
      total?: number;
    }
  ): boolean {
    const index = this._executions.findIndex(e => e.id === id);
    const listed = index >= 0 ? this._executions[index] : undefined;
    let next: Execution | undefined;
    if ((name === 'created' || name === 'finished') && event.execution) {
      next = event.execution;
      if (!listed && name === 'created') {
        this._executions = [next, ...this._executions].slice(0, LISTED);
      }
      if (isTerminal(next.status)) {
        this._reportOne(next);
      }
    } else if (name === 'deleted') {
      if (!listed) {
        return false;
      }
      this._executions = this._executions.filter(e => e.id !== id);
      return true;
    } else if (listed && name === 'status' && event.status) {
      next = { ...listed, status: event.status, reason: event.reason ?? listed.reason };
    } else if (listed && name === 'progress' && event.cell !== undefined) {
      next = { ...listed, progress: { cell: event.cell, total: event.total ?? 0 } };
    }
    if (!next) {
      return false;
    }
    if (listed) {
      this._executions = this._executions.map(e => (e.id === id ? next : e));
    }
    return true;
  }

  private _applySchedule(name: string, id: string, schedule: Schedule | undefined): boolean {
    if (name === 'schedule_deleted') {
      this._schedules = this._schedules.filter(s => s.id !== id);
      // Its executions were deleted (each has its event) or unlinked: read them again.
      void this.refresh();
      return true;
    }
    if (!schedule) {
      return false;
    }
    this._schedules = [...this._schedules.filter(s => s.id !== id), schedule].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
    return true;
  }

  /** `ended` for a tracked execution that is over. */
  private _reportOne(execution: Execution): void {
    if (this._tracked.ids.includes(execution.id)) {
      this._tracked.delete(execution.id);
      this._ended.emit(execution);
    }
  }

  /** `ended` for each tracked execution now terminal (read alone when beyond the loaded page). */
  private async _reportEnded(): Promise<void> {
    for (const id of this._tracked.ids) {
      let execution = this._executions.find(e => e.id === id);
      if (!execution) {
        try {
          execution = await getExecution(id);
        } catch (error) {
          if (error instanceof NbgateRequestError && error.status === 404) {
            this._tracked.delete(id);
          }
          continue;
        }
      }
      // Still tracked: a refresh running alongside may have reported it while this one read it.
      if (isTerminal(execution.status)) {
        this._reportOne(execution);
      }
    }
  }

  private _executions: Execution[] = [];
  private _schedules: Schedule[] = [];
  private _unavailable: string | null = null;
  private _changed = new Signal<INbgateModel, void>(this);
  private _ended = new Signal<INbgateModel, Execution>(this);
  private _events = new Signal<INbgateModel, IExecutionEvent>(this);
  private _tracked: Tracked;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _watching = false;
  private _disposed = false;
  private _started = false;
  private _fast: number;
  private _slow: number;
  private _openStream: ((url: string) => IEventStream) | null;
  private _stream: IEventStream | null = null;
  private _live = false;
  /** Reads of the lists under way, and the events received since the oldest of them began. */
  private _reading = 0;
  private _log: { name: string; data: string }[] = [];
  /** Reads begun, and the latest of them whose lists were taken. */
  private _reads = 0;
  private _newest = 0;
}

/**
 * The sidebar's state: executions and schedules, kept fresh by polling (every 2 s while someone looks
 * or something runs) and, for running executions, by their server-sent events (cell n of m as it
 * happens), which it passes on (`events`: one stream per execution, shared with the result views).
 * Views listen to `changed`; nothing here touches the DOM.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { getExecution, listExecutions, listSchedules } from './api';
import { apiURL, NbgateRequestError } from './handler';
import { Execution, IExecutionEvent, INbgateModel, isTerminal, Schedule } from './tokens';

/** Poll period while the sidebar is visible or an execution is active. */
export const FAST_POLL_MS = 2000;
/** Poll period otherwise. */
export const SLOW_POLL_MS = 15000;

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
      storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
    } = {}
  ) {
    this._fast = options.fastPollMs ?? FAST_POLL_MS;
    this._slow = options.slowPollMs ?? SLOW_POLL_MS;
    this._useEvents = options.useEvents ?? typeof EventSource !== 'undefined';
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

  /** Whether someone is looking (the sidebar is visible): polls fast when true. */
  set watching(value: boolean) {
    const wasSlow = !this._isFast();
    this._watching = value;
    if (value && wasSlow) {
      void this.refresh();
    }
  }

  /** The latest execution of a schedule, from the loaded list. */
  latestExecution(scheduleId: string): Execution | undefined {
    return this._executions.find(e => e.schedule_id === scheduleId);
  }

  /** Starts polling. */
  start(): void {
    if (!this._disposed && this._timer === null) {
      void this.refresh();
    }
  }

  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    try {
      const [executions, schedules] = await Promise.all([
        listExecutions({ limit: 200 }),
        listSchedules()
      ]);
      this._executions = executions;
      this._schedules = schedules;
      this._unavailable = null;
      this._syncStreams();
      await this._reportEnded();
    } catch (error) {
      this._unavailable = error instanceof NbgateRequestError ? error.message : String(error);
    }
    if (!this._disposed) {
      this._changed.emit();
      this._timer = setTimeout(() => void this.refresh(), this._isFast() ? this._fast : this._slow);
    }
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    for (const source of this._streams.values()) {
      source.close();
    }
    this._streams.clear();
    Signal.clearData(this);
  }

  private _isFast(): boolean {
    return (
      this._watching ||
      this._tracked.ids.length > 0 ||
      this._executions.some(e => !isTerminal(e.status))
    );
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
      if (isTerminal(execution.status) && this._tracked.ids.includes(id)) {
        this._tracked.delete(id);
        this._ended.emit(execution);
      }
    }
  }

  /** One events stream per running execution; closed when it ends. */
  private _syncStreams(): void {
    if (!this._useEvents) {
      return;
    }
    const running = new Set(this._executions.filter(e => e.status === 'running').map(e => e.id));
    for (const [id, source] of this._streams) {
      if (!running.has(id)) {
        source.close();
        this._streams.delete(id);
      }
    }
    for (const id of running) {
      if (!this._streams.has(id)) {
        const source = new EventSource(apiURL(`executions/${encodeURIComponent(id)}/events`), {
          withCredentials: true
        });
        const onEvent = (message: MessageEvent) => this._onEvent(id, message.type, message.data);
        for (const name of ['message', 'status', 'progress', 'output', 'deleted']) {
          source.addEventListener(name, onEvent as EventListener);
        }
        source.onerror = () => {
          source.close();
          this._streams.delete(id);
        };
        this._streams.set(id, source);
      }
    }
  }

  /** An event of the stream: its kind is the SSE event name, or the `event` field of its JSON data. */
  private _onEvent(id: string, type: string, data: string): void {
    this._events.emit({ id, name: type, data });
    let event: { event?: string; status?: Execution['status']; cell?: number; total?: number };
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    event.event = event.event ?? (type !== 'message' ? type : undefined);
    const execution = this._executions.find(e => e.id === id);
    if (!execution) {
      return;
    }
    if (event.event === 'progress' && event.cell !== undefined && event.total !== undefined) {
      execution.progress = { cell: event.cell, total: event.total };
      this._executions = [...this._executions];
      this._changed.emit();
    } else if (event.event === 'status' && event.status) {
      execution.status = event.status;
      this._executions = [...this._executions];
      this._changed.emit();
      if (isTerminal(event.status)) {
        void this.refresh();
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
  private _streams = new Map<string, EventSource>();
  private _fast: number;
  private _slow: number;
  private _useEvents: boolean;
}

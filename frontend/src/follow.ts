/**
 * One execution and its output notebook, followed live for the result view: loaded once, then, while
 * the execution is not over, kept fresh by the events the model relays from its one stream
 * (`GET /api/events`: `status`, `progress`, `output`, `finished`, `deleted`; however many views, one
 * connection: a browser opens at most six to a server) and by the model's list (what a reconnect read
 * again). The notebook is fetched again when a cell progresses or prints (at most one fetch at a time,
 * the next one `refetchMs` after the last), and a last time when the execution ends. While the model's
 * stream is down (or there is no EventSource) it polls every `pollMs`. Nothing here touches the DOM.
 */
import type { INotebookContent } from '@jupyterlab/nbformat';
import { ISignal, Signal } from '@lumino/signaling';

import { executionNotebook, getExecution } from './api';
import { parse } from './exactJson';
import { NbgateRequestError } from './handler';
import { Execution, IExecutionEvent, isTerminal } from './tokens';

/** Where the events come from: the model (its stream and its list). */
export interface IExecutionSource {
  readonly executions: Execution[];
  /** The stream is connected: every event arrives, no need to poll. */
  readonly live: boolean;
  readonly changed: ISignal<unknown, void>;
  readonly events: ISignal<unknown, IExecutionEvent>;
}

export class ExecutionFollower {
  constructor(
    readonly id: string,
    private _source: IExecutionSource,
    options: { pollMs?: number; refetchMs?: number } = {}
  ) {
    this._pollMs = options.pollMs ?? 2000;
    this._refetchMs = options.refetchMs ?? 300;
  }

  /** The execution as last seen; null until loaded. */
  get execution(): Execution | null {
    return this._execution;
  }

  /** The output notebook as last fetched; null before the execution wrote it. */
  get notebook(): INotebookContent | null {
    return this._notebook;
  }

  /** Why the execution or its notebook could not be read (the server's words); null when fine. */
  get problem(): string | null {
    return this._problem ?? this._notebookProblem;
  }

  /** True once the execution was deleted (404 or a `deleted` event). */
  get deleted(): boolean {
    return this._deleted;
  }

  /** Emitted whenever the execution, the notebook or the problem changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Loads both and follows the execution until it is over. */
  async start(): Promise<void> {
    // Listening before reading: an event while the first reads are under way is not lost.
    this._listen();
    await this._loadExecution();
    await this._loadNotebook();
    this._follow();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._stopFollowing();
    Signal.clearData(this);
  }

  /** The execution is over (or gone): no more events or polls. */
  private get _over(): boolean {
    return this._deleted || (this._execution !== null && isTerminal(this._execution.status));
  }

  private _follow(): void {
    if (this._disposed || this._over) {
      this._stopFollowing();
      return;
    }
    this._listen();
    this._poll();
  }

  private _listen(): void {
    if (!this._following) {
      this._following = true;
      this._source.events.connect(this._onSourceEvent, this);
      this._source.changed.connect(this._onSourceChanged, this);
    }
  }

  /** Reads both again every `pollMs` while the model's stream is down. */
  private _poll(): void {
    if (this._timer !== null) {
      return;
    }
    this._timer = setTimeout(async () => {
      this._timer = null;
      if (this._disposed || this._over) {
        return;
      }
      if (!this._source.live) {
        await this._loadExecution();
        await this._loadNotebook();
      }
      this._follow();
    }, this._pollMs);
  }

  private _stopFollowing(): void {
    if (this._following) {
      this._following = false;
      this._source.events.disconnect(this._onSourceEvent, this);
      this._source.changed.disconnect(this._onSourceChanged, this);
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._refetchTimer !== null) {
      clearTimeout(this._refetchTimer);
      this._refetchTimer = null;
    }
  }

  private _onSourceEvent(_: unknown, event: IExecutionEvent): void {
    if (event.id === this.id) {
      this._onEvent(event.name, event.data);
    }
  }

  /**
   * The model's list moved on (a poll, or the read after a reconnect): a status or progress it saw
   * before any event did (queued → running, cells run while the stream was down).
   */
  private _onSourceChanged(): void {
    const listed = this._source.executions.find(e => e.id === this.id);
    if (
      !listed ||
      !this._execution ||
      (listed.status === this._execution.status &&
        listed.progress?.cell === this._execution.progress?.cell)
    ) {
      return;
    }
    if (isTerminal(listed.status)) {
      this._finish();
    } else {
      this._execution = { ...this._execution, status: listed.status, progress: listed.progress };
      this._changed.emit();
      this._refetchNotebook();
    }
  }

  /** Over: the final record (end time, duration, error) and the final notebook, once. */
  private _finish(): void {
    if (this._finishing) {
      return;
    }
    this._finishing = true;
    this._stopFollowing();
    void this._loadExecution().then(() => this._refetchNotebook());
  }

  /**
   * An event of the stream: its kind is the SSE name, or the `event` field of an unnamed one's data;
   * the data is JSON (numbers kept exactly, for the parameters).
   */
  private _onEvent(type: string, data: string): void {
    if (this._disposed || !this._execution || this._finishing) {
      return;
    }
    let event: {
      event?: string;
      status?: Execution['status'];
      reason?: string | null;
      cell?: number;
      total?: number;
      execution?: Execution;
    };
    try {
      event = parse(data) as typeof event;
    } catch {
      return;
    }
    const name = type === 'message' ? (event.event ?? type) : type;
    if (name === 'deleted') {
      this._deleted = true;
      this._stopFollowing();
      this._changed.emit();
    } else if (name === 'finished' && event.execution) {
      this._execution = event.execution;
      this._changed.emit();
      this._finish();
    } else if (name === 'status' && event.status) {
      this._execution = event.execution ?? {
        ...this._execution,
        status: event.status,
        reason: event.reason ?? this._execution.reason
      };
      this._changed.emit();
      if (isTerminal(event.status)) {
        this._finish();
      } else {
        this._refetchNotebook();
      }
    } else if (name === 'progress' && typeof event.cell === 'number') {
      this._execution = {
        ...this._execution,
        progress: { cell: event.cell, total: event.total ?? this._execution.progress?.total ?? 0 }
      };
      this._changed.emit();
      this._refetchNotebook();
    } else if (name === 'output') {
      this._refetchNotebook();
    }
  }

  /** Fetches the notebook again: now if idle, else once the fetch under way is done. */
  private _refetchNotebook(): void {
    if (this._fetching || this._refetchTimer !== null) {
      this._again = true;
      return;
    }
    this._fetching = true;
    void this._loadNotebook().finally(() => {
      this._fetching = false;
      if (this._again && !this._disposed) {
        this._again = false;
        this._refetchTimer = setTimeout(() => {
          this._refetchTimer = null;
          this._refetchNotebook();
        }, this._refetchMs);
      }
    });
  }

  private async _loadExecution(): Promise<void> {
    try {
      this._execution = await getExecution(this.id);
      this._problem = null;
    } catch (error) {
      if (error instanceof NbgateRequestError && error.status === 404) {
        this._deleted = true;
      }
      this._problem = (error as Error).message;
    }
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private async _loadNotebook(): Promise<void> {
    if (this._deleted) {
      return;
    }
    try {
      this._notebook = await executionNotebook(this.id);
      this._notebookProblem = null;
    } catch (error) {
      // 404 before the execution started: no output yet, not a problem.
      const missing = error instanceof NbgateRequestError && error.status === 404;
      if (!missing || (this._execution && isTerminal(this._execution.status))) {
        this._notebookProblem = (error as Error).message;
      }
    }
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _execution: Execution | null = null;
  private _notebook: INotebookContent | null = null;
  private _problem: string | null = null;
  private _notebookProblem: string | null = null;
  private _deleted = false;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _following = false;
  private _finishing = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _refetchTimer: ReturnType<typeof setTimeout> | null = null;
  private _fetching = false;
  private _again = false;
  private _pollMs: number;
  private _refetchMs: number;
}

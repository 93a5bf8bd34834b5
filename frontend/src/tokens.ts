/**
 * IDs, the executor API's types (DESIGN.md §3; names as the server spells them) and the model's token.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** The labextension's name; plugin ids start with it. */
export const EXTENSION_ID = 'nbgate-jupyter';

/** Under the Jupyter server, the server extension proxies the gateway's `/api/*` here. */
export const API_NAMESPACE = 'nbgate';

export namespace CommandIDs {
  /** Opens the Execute dialog for the current notebook, or the one selected in the file browser. */
  export const execute = 'nbgate:execute';
  /** Shows the sidebar. */
  export const openSidebar = 'nbgate:open-sidebar';
  /** Opens an execution's result, read-only (args: `{id}`, the execution's id). */
  export const viewResult = 'nbgate:view-result';
  /** Opens a schedule's detail: recorded values across runs, outputs (args: `{id}`). */
  export const openSchedule = 'nbgate:open-schedule';
  /** Compares two executions (args: `{a, b?}`; without `b`, the default other run of `a`). */
  export const compare = 'nbgate:compare';
}

/** The sidebar's widget id (its tab is `[data-id="nbgate-sidebar"]`). */
export const SIDEBAR_ID = 'nbgate-sidebar';

export type ExecutionStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'skipped';

export const EXECUTION_STATUSES: ExecutionStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'skipped'
];

export function isTerminal(status: ExecutionStatus): boolean {
  return status !== 'queued' && status !== 'running';
}

/** Parameter values by name, as typed JSON. */
export type ParameterValues = { [name: string]: unknown };

/** A kernelspec offered as a choice. */
export interface Environment {
  name: string;
  display_name: string;
  language: string;
}

/** int, float, bool, str, list, dict, null or unknown (an expression). */
export type ParameterType = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'null' | 'unknown';

export interface ParameterInfo {
  name: string;
  type: ParameterType | string;
  /** The default as written in the cell. */
  default: string;
  /** The default as JSON, when it is a literal. */
  default_value?: unknown;
  /** The comment beside it. */
  help: string;
}

export interface NotebookParameters {
  language?: string | null;
  kernel?: string | null;
  /** null when the notebook has no `parameters` cell. */
  parameters: ParameterInfo[] | null;
}

export interface ExecutionError {
  /** 0-based index of the failing cell in the user's notebook (the injected cell not counted). */
  cell_index?: number | null;
  ename: string;
  evalue: string;
  traceback?: string[];
}

export interface Execution {
  id: string;
  /** `<schedule>_at_YYYY_MM_DD_HH_MM_SS`. */
  name: string;
  schedule_id?: string | null;
  /** The schedule's name; kept (with `schedule_id` null) when the schedule was deleted. */
  schedule_name?: string | null;
  notebook: string;
  status: ExecutionStatus;
  reason?: string | null;
  parameters: ParameterValues;
  kernel?: string | null;
  attempt?: number;
  max_attempts?: number;
  created_at: string;
  started_at?: string | null;
  ended_at?: string | null;
  /** Seconds, once ended. */
  duration?: number | null;
  progress?: { cell: number; total: number } | null;
  error?: ExecutionError | null;
  /** The output notebook, relative to the Jupyter root. */
  output_path: string;
  /** Values the notebook recorded (scrapbook `glue`, papermill `record`), by name; exact numbers.
   * In `GET /api/executions/{id}` and in each item of the listing. */
  values?: RecordedValues;
  /** The `outputs` glob patterns it was given. */
  output_patterns?: string[];
  /** The `expect` rules it was given. */
  expect?: string[];
  /** The output files the run created or changed (matching them); only in `GET /api/executions/{id}`. */
  outputs?: OutputFile[];
}

/** Recorded values by name, as JSON (a text encoder's value is a string). */
export type RecordedValues = { [name: string]: unknown };

/** An output file of an execution, relative to the kernel's working directory. */
export interface OutputFile {
  path: string;
  bytes: number;
  /** When it was last written (RFC 3339). */
  modified: string;
  sha256?: string;
  /** Tables (CSV/TSV, JSON lines, Parquet): their rows and columns. */
  rows?: number | null;
  columns?: { name: string; type: string }[] | null;
}

/** The first rows of an output table (`GET /api/executions/{id}/outputs/preview`). */
export interface OutputPreview {
  columns: (string | { name: string; type?: string })[];
  rows: unknown[][];
}

/** One run's value of a recorded name (`GET /api/schedules/{id}/values`). */
export interface ValuePoint {
  execution_id: string;
  fire_time?: string | null;
  created_at: string;
  status: ExecutionStatus;
  value: unknown;
}

/** Each recorded name's values across a schedule's runs, oldest first. */
export interface ValueSeries {
  [name: string]: ValuePoint[];
}

/** Whether a schedule's outputs are up to date. */
export interface Freshness {
  last_success?: string | null;
  last_output_at?: string | null;
  /** No successful run with outputs within twice the schedule's period (or its `stale_after`). */
  stale: boolean;
}

export type Overlap = 'skip' | 'queue';
export type Catchup = 'skip' | 'once' | 'all';

export interface Notify {
  url: string;
  on_failure: boolean;
  on_success: boolean;
}

/** What the dialog submits for a run now (`POST /api/executions`). Times are in seconds. */
export interface CreateExecution {
  notebook: string;
  parameters?: ParameterValues;
  kernel?: string;
  timeout?: number;
  cell_timeout?: number;
  output_dir?: string;
  retries?: number;
  /** Output file patterns to record after the run. */
  outputs?: string[];
  /** Rules on what the run records (`accuracy >= 0.8`, `rows(output/*.csv) > 0`, `exists NAME`). */
  expect?: string[];
}

/** What the dialog submits for a schedule (`POST /api/schedules`, `PATCH` for an edit). */
export interface CreateSchedule {
  name: string;
  notebook: string;
  parameters: ParameterValues;
  kernel?: string;
  cron: string;
  timezone: string;
  paused?: boolean;
  overlap?: Overlap;
  catchup?: Catchup;
  retries?: number;
  timeout?: number;
  cell_timeout?: number;
  output_dir?: string;
  notify?: Notify | null;
  /** Output file patterns to record after each run. */
  outputs?: string[];
  /** Rules each run's recorded values and outputs must meet. */
  expect?: string[];
}

export interface Schedule {
  id: string;
  name: string;
  notebook: string;
  parameters: ParameterValues;
  kernel?: string | null;
  cron?: string | null;
  every?: string | null;
  /** The store's shape, should the API pass it through. */
  recurrence?: { cron?: string; every?: string };
  timezone: string;
  paused: boolean;
  overlap?: Overlap;
  catchup?: Catchup;
  retries?: number;
  timeout?: number | null;
  cell_timeout?: number | null;
  output_dir?: string;
  notify?: Notify | null;
  next_run?: string | null;
  /** "Every day at 10:00 (Asia/Tokyo)". */
  description?: string;
  /** The newest execution, when the server includes it. */
  last_execution?: Execution | null;
  /** Output file patterns (globs relative to the kernel's working directory). */
  outputs?: string[] | null;
  /** Seconds after which outputs are stale (default: twice the schedule's period). */
  stale_after?: number | null;
  /** Present on `GET /api/schedules/{id}`. */
  freshness?: Freshness | null;
  /** Rules each run's recorded values and outputs must meet. */
  expect?: string[] | null;
}

/** `[a, b]` of a name that differs between two executions; null for a side without it. */
export type ComparedPair = [unknown, unknown];

/** One side of a recorded output file that differs. */
export interface ComparedOutputSide {
  sha256: string;
  bytes: number;
  rows?: number | null;
}

/** What differs between executions a and b (`GET /api/executions/{a}/compare/{b}`): changes only. */
export interface Comparison {
  parameters: { [name: string]: ComparedPair };
  values: { [name: string]: ComparedPair };
  outputs: { path: string; a: ComparedOutputSide | null; b: ComparedOutputSide | null }[];
  /** By the user's index (0-based); `a`/`b`: that side's outputs as text, null without the cell. */
  cells: {
    index: number;
    source_changed: boolean;
    outputs_changed: boolean;
    a: string | null;
    b: string | null;
  }[];
}

/** What deleting a schedule does with its executions (and their output files). */
export type ScheduleExecutions = 'keep' | 'delete';

/** One page of a newest-first listing. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** A schedule's cron expression, whichever shape the server sends. */
export function scheduleCron(schedule: Schedule): string | null {
  return schedule.cron ?? schedule.recurrence?.cron ?? null;
}

/** One server-sent event of an execution's stream: its SSE name and its JSON data, as received. */
export interface IExecutionEvent {
  id: string;
  name: string;
  data: string;
}

/** The executions and schedules the sidebar shows, kept fresh. */
export interface INbgateModel {
  readonly executions: Execution[];
  readonly schedules: Schedule[];
  /** Set when the API is unreachable (e.g. the gateway could not start): the server's message. */
  readonly unavailable: string | null;
  /** Emitted whenever executions, schedules or `unavailable` change. */
  readonly changed: ISignal<INbgateModel, void>;
  /** Reloads now (after an action); resolves when the lists are fresh. */
  refresh(): Promise<void>;
  /** The execution to highlight in the sidebar (set after a submit). */
  focus: string | null;
  /** Follows an execution started in this browser: `ended` is emitted once when it ends. */
  track(execution: Execution): void;
  /** An execution passed to `track` reached a terminal status (as it then stands). */
  readonly ended: ISignal<INbgateModel, Execution>;
  /** Every execution's events from the one stream (created, status, progress, output, finished, …). */
  readonly events: ISignal<INbgateModel, IExecutionEvent>;
  /** The events stream is connected: the lists follow it without polling. */
  readonly live: boolean;
}

export const INbgateModel = new Token<INbgateModel>(
  `${EXTENSION_ID}:model`,
  'The executions and schedules of nbgate, kept fresh.'
);

/**
 * IDs, the executor API's types (generated from the server's OpenAPI document: `src/generated/api.ts`,
 * `make openapi`; aliased here under the names the code uses) and the model's token.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type { components } from './generated/api';

/** The wire's types, generated from the server's OpenAPI document (`make openapi`). */
type Schemas = components['schemas'];

/** What `POST /api/schedules/preview` answers: errors by field, the description, the next runs. */
export type SchedulePreview = Schemas['SchedulePreviewDto'];

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

export type ExecutionStatus = Schemas['ExecutionStatus'];

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
export type Environment = Schemas['Environment'];

/** int, float, bool, str, list, dict, null or unknown (an expression). */
export type ParameterType = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'null' | 'unknown';

export type ParameterInfo = Schemas['Parameter'];

export type NotebookParameters = Schemas['NotebookParameters'];

export type ExecutionError = Schemas['ExecutionError'];

export type Execution = Schemas['Execution'];

/** Recorded values by name, as JSON (a text encoder's value is a string). */
export type RecordedValues = { [name: string]: unknown };

/** An output file of an execution, relative to the kernel's working directory. */
export type OutputFile = Schemas['OutputFile'];

/** The first rows of an output table (`GET /api/executions/{id}/outputs/preview`). */
export type OutputPreview = Schemas['Preview'];

/** One run's value of a recorded name (`GET /api/schedules/{id}/values`). */
export type ValuePoint = Schemas['ValuePoint'];

/** Each recorded name's values across a schedule's runs, oldest first. */
export interface ValueSeries {
  [name: string]: ValuePoint[];
}

/** Whether a schedule's outputs are up to date. */
export type Freshness = Schemas['Freshness'];

export type Overlap = Schemas['Overlap'];
export type Catchup = Schemas['Catchup'];

export type Notify = Schemas['Notify'];

/** What the dialog submits for a run now (`POST /api/executions`). Times are in seconds. */
export type CreateExecution = Schemas['CreateExecution'];

/** What the dialog submits for a schedule (`POST /api/schedules`, `PATCH` for an edit). */
export type CreateSchedule = Schemas['CreateSchedule'];

export type Schedule = Schemas['Schedule'];

/** `[a, b]` of a name that differs between two executions; null for a side without it. */
export type ComparedPair = [unknown, unknown];

/** One side of a recorded output file that differs. */
export type ComparedOutputSide = Schemas['OutputSide'];

/** What differs between executions a and b (`GET /api/executions/{a}/compare/{b}`): changes only. */
export type Comparison = Schemas['Comparison'];

/** What deleting a schedule does with its executions (and their output files). */
export type ScheduleExecutions = 'keep' | 'delete';

/** One page of a newest-first listing. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** A schedule's cron expression; null for an interval (`every`). */
export function scheduleCron(schedule: Schedule): string | null {
  return schedule.cron ?? null;
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

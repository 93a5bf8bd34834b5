/**
 * Pipelines (issue 14) on the frontend's side: a schedule that runs after others, each parameter's
 * source (typed, an upstream's recorded value or parameter, the fire time), a chain of executions
 * (`run_id`), backfill and sweeps. The API calls, and pure functions the components share; no React.
 */
import { parse, stringify } from './exactJson';
import { IRequestInit, requestAPI } from './handler';
import { fieldValue, ParameterField } from './schema';
import type { components } from './generated/api';
import { Execution, Page, Schedule } from './tokens';

type Schemas = components['schemas'];

export type After = Schemas['After'];
export type AfterOn = Schemas['AfterOn'];
export type Backfill = Schemas['Backfill'];
export type Queued = Schemas['Queued'];
export type Sweep = Schemas['Sweep'];
export type SweepRow = Schemas['SweepRow'];

const post = (body?: unknown): IRequestInit => ({
  method: 'POST',
  body: body === undefined ? undefined : JSON.stringify(body)
});

/** A chain's executions (those sharing `run_id`), oldest first. */
export async function chainExecutions(runId: string): Promise<Execution[]> {
  const page = await requestAPI<Page<Execution> | Execution[]>(
    `executions?run_id=${encodeURIComponent(runId)}`,
    { parse }
  );
  return Array.isArray(page) ? page : page.items;
}

/** One execution per fire time of the schedule's recurrence in the range. */
export function backfillSchedule(id: string, backfill: Backfill): Promise<Queued> {
  return requestAPI<Queued>(`schedules/${encodeURIComponent(id)}/backfill`, post(backfill));
}

/** One execution per combination of the grid's values, sharing a `sweep_id`. */
export function sweepSchedule(id: string, grid: { [name: string]: unknown[] }): Promise<Queued> {
  return requestAPI<Queued>(`schedules/${encodeURIComponent(id)}/sweep`, {
    method: 'POST',
    // The grid's numbers are exact (`JsonNumber`s from the fields).
    body: stringify({ grid }),
    parse
  });
}

/** A sweep as a table: one row per execution with its parameters, status and recorded values. */
export function getSweep(id: string): Promise<Sweep> {
  return requestAPI<Sweep>(`sweeps/${encodeURIComponent(id)}`, { parse });
}

// ---- Where each parameter's value comes from -------------------------------------------------

/** `typed`: the dialog's field; `values`/`parameters`: an upstream's run; `fire_time`: when it fires. */
export type SourceKind = 'typed' | 'values' | 'parameters' | 'fire_time';

export interface IParameterSource {
  kind: SourceKind;
  /** The upstream schedule (for `values` and `parameters`). */
  upstream: string;
  /** The recorded value's or the upstream parameter's name. */
  name: string;
}

export const TYPED: IParameterSource = { kind: 'typed', upstream: '', name: '' };

/** The reference `parameters_from` takes for a source; null for a typed value. */
export function referenceOf(source: IParameterSource): string | null {
  switch (source.kind) {
    case 'typed':
      return null;
    case 'fire_time':
      return 'fire_time';
    default:
      // Sent as typed, blanks too: the server says what is wrong with it, at the parameter.
      return `${source.upstream}.${source.kind}.${source.name.trim()}`;
  }
}

/** A stored reference read back into the dialog's choice (editing a schedule). */
export function sourceOf(reference: string): IParameterSource {
  if (reference === 'fire_time') {
    return { kind: 'fire_time', upstream: '', name: '' };
  }
  const [upstream, kind, ...rest] = reference.split('.');
  if ((kind === 'values' || kind === 'parameters') && rest.length > 0) {
    return { kind, upstream, name: rest.join('.') };
  }
  return TYPED;
}

/** A schedule's `parameters_from` as the dialog's choices. */
export function sourcesOf(from: { [parameter: string]: string } | undefined): {
  [parameter: string]: IParameterSource;
} {
  const sources: { [parameter: string]: IParameterSource } = {};
  for (const [parameter, reference] of Object.entries(from ?? {})) {
    sources[parameter] = sourceOf(reference);
  }
  return sources;
}

/** `parameters_from` of the sources (typed ones left out). */
export function parametersFrom(sources: { [parameter: string]: IParameterSource }): {
  [parameter: string]: string;
} {
  const from: { [parameter: string]: string } = {};
  for (const [parameter, source] of Object.entries(sources)) {
    const reference = referenceOf(source);
    if (reference !== null) {
      from[parameter] = reference;
    }
  }
  return from;
}

/** The parameters whose value comes from elsewhere than their field. */
export function mappedParameters(sources: { [parameter: string]: IParameterSource }): Set<string> {
  return new Set(Object.keys(parametersFrom(sources)));
}

/**
 * The parameter a server message about `parameters_from` is about ("parameters_from.THRESHOLD: …"),
 * and the message without that prefix; null when it names none.
 */
export function parameterOfMessage(message: string): { parameter: string; message: string } | null {
  const match = /^parameters_from\.([A-Za-z_][A-Za-z0-9_]*): (.*)$/s.exec(message);
  return match ? { parameter: match[1], message: match[2] } : null;
}

/** The choice of upstreams and how they must end, as `after` takes it; null with no upstream. */
export function afterOf(upstreams: string[], on: AfterOn): After | null {
  return upstreams.length === 0 ? null : { schedules: upstreams, on };
}

/** A source that reads an upstream no longer chosen falls back to typed. */
export function keepSources(
  sources: { [parameter: string]: IParameterSource },
  upstreams: string[]
): { [parameter: string]: IParameterSource } {
  const kept: { [parameter: string]: IParameterSource } = {};
  for (const [parameter, source] of Object.entries(sources)) {
    const reads = source.kind === 'values' || source.kind === 'parameters';
    kept[parameter] = reads && !upstreams.includes(source.upstream) ? TYPED : source;
  }
  return kept;
}

// ---- Chains ---------------------------------------------------------------------------------

/** An execution's chain id: the run it belongs to (its own id when it started the chain). */
export const chainOf = (execution: Execution): string => execution.run_id ?? execution.id;

/**
 * The chain's steps in order: oldest first (an upstream is created before what runs after it),
 * known executions merged with those fetched (the fetched copy wins: it is the newer word).
 */
export function chainSteps(known: Execution[], fetched: Execution[], runId: string): Execution[] {
  const byId = new Map<string, Execution>();
  for (const execution of [...known, ...fetched]) {
    if (chainOf(execution) === runId) {
      const seen = byId.get(execution.id);
      // The list follows the events stream: whichever copy has moved further wins.
      if (!seen || progressRank(execution) >= progressRank(seen)) {
        byId.set(execution.id, execution);
      }
    }
  }
  return [...byId.values()].sort(
    (a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id)
  );
}

const progressRank = (execution: Execution): number =>
  execution.status === 'queued' ? 0 : execution.status === 'running' ? 1 : 2;

/** Whether an execution is part of a chain of more than itself, as far as the list shows. */
export function inChain(execution: Execution, all: Execution[]): boolean {
  if (execution.run_id && execution.run_id !== execution.id) {
    return true;
  }
  if (Object.keys(execution.upstreams ?? {}).length > 0) {
    return true;
  }
  const id = chainOf(execution);
  return all.some(other => other.id !== execution.id && chainOf(other) === id);
}

/**
 * A step's label: its schedule's name (a chain is a chain of schedules), else its own name; a retry
 * or a rerun (Run again) is in the same chain, and says which it is.
 */
export function stepLabel(execution: Execution): string {
  const name = execution.schedule_name ?? execution.name;
  if (execution.attempt > 1) {
    return `${name}, attempt ${execution.attempt}`;
  }
  return /_rerun(_\d+)?$/.test(execution.name) ? `${name}, run again` : name;
}

// ---- Sweeps ---------------------------------------------------------------------------------

const LISTS = 'write the lists as one JSON list of lists, e.g. [[1, 2], [3]]';

/**
 * The values to try for a parameter, typed in one box: a JSON list (`[1, 2]`; of lists for a list
 * parameter: `[[1], [2, 3]]`), or values
 * separated by commas, each read as the parameter's field reads it (`2, 3, 4`; text without quotes).
 * Empty: the parameter is not swept.
 */
export function sweepValues(
  field: ParameterField,
  text: string
): { values: unknown[] } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === '') {
    return { values: [] };
  }
  if (trimmed.startsWith('[')) {
    let list: unknown;
    try {
      list = parse(trimmed);
    } catch (error) {
      return {
        error: field.kind === 'list' ? LISTS : `not a JSON list: ${(error as Error).message}`
      };
    }
    if (!Array.isArray(list) || list.length === 0) {
      return { error: 'give at least one value' };
    }
    if (field.kind === 'list' && !list.every(Array.isArray)) {
      return { error: LISTS };
    }
    return { values: list };
  }
  if (field.kind === 'list' || field.kind === 'dict') {
    return {
      error:
        field.kind === 'list'
          ? LISTS
          : 'write the objects as one JSON list, e.g. [{"a": 1}, {"a": 2}]'
    };
  }
  const values: unknown[] = [];
  for (const part of trimmed.split(',')) {
    const result = fieldValue(field, field.kind === 'str' ? part.trim() : part);
    if ('error' in result) {
      return { error: `${JSON.stringify(part.trim())}: ${result.error}` };
    }
    if ('omit' in result) {
      return { error: 'a value is missing between two commas' };
    }
    values.push(result.value);
  }
  return { values };
}

/** The grid to send (swept parameters only), each box's error, and the number of executions. */
export function sweepGrid(
  fields: ParameterField[],
  texts: { [name: string]: string }
): { grid: { [name: string]: unknown[] }; errors: { [name: string]: string }; count: number } {
  const grid: { [name: string]: unknown[] } = {};
  const errors: { [name: string]: string } = {};
  let count = 1;
  for (const field of fields) {
    const result = sweepValues(field, texts[field.name] ?? '');
    if ('error' in result) {
      errors[field.name] = result.error;
    } else if (result.values.length > 0) {
      grid[field.name] = result.values;
      count *= result.values.length;
    }
  }
  return { grid, errors, count: Object.keys(grid).length === 0 ? 0 : count };
}

/** The recorded value names across a sweep's rows, in first-seen order (the table's columns). */
export function recordedNames(rows: SweepRow[]): string[] {
  const names: string[] = [];
  for (const row of rows) {
    for (const name of Object.keys(row.values ?? {})) {
      if (!names.includes(name)) {
        names.push(name);
      }
    }
  }
  return names;
}

/** The dialog's field a server message about a pipeline field is about (`after`, `parameters_from`). */
export function pipelineFieldOf(message: string): 'after' | 'parameters_from' | null {
  if (/^after[.:]/.test(message)) {
    return 'after';
  }
  if (/^(parameters_from|fire_time_parameter|fire_time_format)[.:]/.test(message)) {
    return 'parameters_from';
  }
  return null;
}

/** Runs an ended execution again with the same parameters and input, in the same chain. */
export function rerunExecution(id: string): Promise<Execution> {
  return requestAPI<Execution>(`executions/${encodeURIComponent(id)}/rerun`, post());
}

/** The names of the schedules that run after `name` (directly). */
export function dependantsOf(name: string, schedules: Schedule[]): string[] {
  return schedules.filter(s => s.after?.schedules.includes(name)).map(s => s.name);
}

/** Deletes a schedule and the schedules that run after it (and theirs). */
export function deleteScheduleCascade(id: string, executions: 'keep' | 'delete'): Promise<void> {
  return requestAPI<void>(
    `schedules/${encodeURIComponent(id)}?executions=${executions}&cascade=true`,
    { method: 'DELETE' }
  );
}

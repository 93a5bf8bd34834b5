/**
 * The executor API's calls, typed (DESIGN.md §3). All go through `requestAPI`.
 */
import type { INotebookContent } from '@jupyterlab/nbformat';

import { parse, stringify } from './exactJson';
import { IRequestInit, requestAPI } from './handler';
import {
  Comparison,
  CreateExecution,
  CreateSchedule,
  Environment,
  Execution,
  ExecutionStatus,
  NotebookParameters,
  OutputPreview,
  Page,
  ParameterValues,
  Schedule,
  ScheduleExecutions,
  SchedulePreview,
  ValueSeries
} from './tokens';

/** Bodies are written with exact numbers: parameters may hold `JsonNumber`s (a 20-digit integer). */
const post = (body?: unknown): IRequestInit => ({
  method: 'POST',
  body: body === undefined ? undefined : stringify(body)
});

/** Answers whose parameters the dialog shows read with exact numbers. */
const exact: IRequestInit = { parse };

export function listEnvironments(): Promise<Environment[]> {
  return requestAPI<Environment[]>('environments');
}

export function notebookParameters(path: string): Promise<NotebookParameters> {
  return requestAPI<NotebookParameters>('notebooks/parameters', { ...post({ path }), ...exact });
}

export function createExecution(request: CreateExecution): Promise<Execution> {
  return requestAPI<Execution>('executions', post(request));
}

export async function listExecutions(
  filter: { schedule?: string; status?: ExecutionStatus; limit?: number } = {}
): Promise<Execution[]> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filter)) {
    if (value !== undefined && value !== '') {
      query.set(key, String(value));
    }
  }
  const suffix = query.toString() ? `?${query}` : '';
  const page = await requestAPI<Page<Execution> | Execution[]>(`executions${suffix}`, exact);
  return Array.isArray(page) ? page : page.items;
}

export function getExecution(id: string): Promise<Execution> {
  return requestAPI<Execution>(`executions/${encodeURIComponent(id)}`, exact);
}

/** The execution's output notebook as it stands (partial while it runs). */
export function executionNotebook(id: string): Promise<INotebookContent> {
  return requestAPI<INotebookContent>(`executions/${encodeURIComponent(id)}/notebook`);
}

export function cancelExecution(id: string): Promise<Execution> {
  return requestAPI<Execution>(`executions/${encodeURIComponent(id)}/cancel`, post());
}

/** Deletes the execution from the list; its output notebook too with `deleteFile`. */
export function deleteExecution(id: string, options: { deleteFile?: boolean } = {}): Promise<void> {
  const query = options.deleteFile ? '?delete_file=true' : '';
  return requestAPI<void>(`executions/${encodeURIComponent(id)}${query}`, { method: 'DELETE' });
}

/**
 * What the server makes of a schedule's fields (any of `POST /api/schedules`'s): errors by field, the
 * recurrence in words, the next `count` runs in its zone. Nothing is stored.
 */
export function previewSchedule(
  body: { [field: string]: unknown },
  count = 3
): Promise<SchedulePreview> {
  return requestAPI<SchedulePreview>(`schedules/preview?count=${count}`, post(body));
}

export function createSchedule(request: CreateSchedule): Promise<Schedule> {
  return requestAPI<Schedule>('schedules', post(request));
}

/** `null` clears an optional field. */
export type SchedulePatch = {
  [K in keyof CreateSchedule]?: CreateSchedule[K] | null;
};

export function updateSchedule(id: string, patch: SchedulePatch): Promise<Schedule> {
  return requestAPI<Schedule>(`schedules/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    body: stringify(patch),
    parse
  });
}

/** One schedule, its parameters exact (for editing it). */
export function getSchedule(id: string): Promise<Schedule> {
  return requestAPI<Schedule>(`schedules/${encodeURIComponent(id)}`, exact);
}

/** The largest page of schedules the server gives: 10,000 schedules in one request. */
const SCHEDULE_PAGE = 10000;

/** Every schedule, by name: one request up to 10,000, pages followed to the last beyond. */
export async function listSchedules(): Promise<Schedule[]> {
  const all: Schedule[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await requestAPI<Page<Schedule>>(`schedules?limit=${SCHEDULE_PAGE}${query}`);
    all.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor);
  return all;
}

/** Deletes the schedule; its executions are kept, or deleted with their output files. */
export function deleteSchedule(id: string, executions: ScheduleExecutions): Promise<void> {
  return requestAPI<void>(`schedules/${encodeURIComponent(id)}?executions=${executions}`, {
    method: 'DELETE'
  });
}

/** Runs a schedule now; `parameters` override its own for this run. */
export function runSchedule(id: string, parameters?: ParameterValues): Promise<Execution> {
  return requestAPI<Execution>(
    `schedules/${encodeURIComponent(id)}/run`,
    post(parameters ? { parameters } : {})
  );
}

export function pauseSchedule(id: string): Promise<Schedule> {
  return requestAPI<Schedule>(`schedules/${encodeURIComponent(id)}/pause`, post());
}

export function resumeSchedule(id: string): Promise<Schedule> {
  return requestAPI<Schedule>(`schedules/${encodeURIComponent(id)}/resume`, post());
}

/** Each recorded name's values across the schedule's runs, oldest first; numbers exact. */
export async function scheduleValues(
  id: string,
  options: { name?: string; limit?: number } = {}
): Promise<ValueSeries> {
  const query = new URLSearchParams();
  if (options.name) {
    query.set('name', options.name);
  }
  if (options.limit !== undefined) {
    query.set('limit', String(options.limit));
  }
  const suffix = query.toString() ? `?${query}` : '';
  const answer = await requestAPI<{ series?: ValueSeries }>(
    `schedules/${encodeURIComponent(id)}/values${suffix}`,
    exact
  );
  return answer?.series ?? {};
}

/** The first `limit` rows of one of the execution's recorded output tables; numbers exact. */
export function outputPreview(id: string, path: string, limit = 50): Promise<OutputPreview> {
  const query = new URLSearchParams({ path, limit: String(limit) });
  return requestAPI<OutputPreview>(
    `executions/${encodeURIComponent(id)}/outputs/preview?${query}`,
    exact
  );
}

/** What differs between executions `a` and `b`; parameters and values with exact numbers. */
export function compareExecutions(a: string, b: string): Promise<Comparison> {
  return requestAPI<Comparison>(
    `executions/${encodeURIComponent(a)}/compare/${encodeURIComponent(b)}`,
    exact
  );
}

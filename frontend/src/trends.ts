/**
 * A schedule's recorded values across its runs, shaped for a person: the numeric series as Vega-Lite
 * charts (rendered by Lab's own Vega renderer), every run's values as a table, and output files'
 * freshness in words. Pure functions (the time `now`, the zone and the locale can be passed in).
 */
import { JsonNumber, stringify } from './exactJson';
import { formatSeconds, formatTime, ITimeOptions, NBSP, statusWord } from './format';
import { ExecutionStatus, Freshness, OutputFile, ValuePoint, ValueSeries } from './tokens';

/** The MIME type Lab's Vega extension renders (Vega-Lite 5). */
export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

/** A recorded value as a number to plot and its exact text to show; null when it is not a number. */
export function numericValue(value: unknown): { value: number; text: string } | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return { value, text: String(value) };
  }
  if (value instanceof JsonNumber) {
    const number = Number(value.text);
    return Number.isFinite(number) ? { value: number, text: value.text } : null;
  }
  return null;
}

/** The exact text of a recorded value: numbers as recorded, strings as they are, the rest as JSON. */
export function valueText(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  try {
    return stringify(value, true);
  } catch {
    return String(value);
  }
}

/** One plotted run: the fields of the chart's data rows. */
export interface ITrendPoint {
  execution_id: string;
  /** When the run was due (its fire time), else when it was created (RFC 3339). */
  time: string;
  status: ExecutionStatus;
  value: number;
  /** The value exactly as recorded. */
  text: string;
  /** The run's time for a person, labelled with its zone. */
  when: string;
  /** The status in words. */
  state: string;
  /** What a screen reader says for the point. */
  label: string;
}

/** The runs whose value of `name` is a number, oldest first (as the server sends them). */
export function trendPoints(
  name: string,
  points: ValuePoint[],
  options: ITimeOptions = {}
): ITrendPoint[] {
  const shaped: ITrendPoint[] = [];
  for (const point of points) {
    const number = numericValue(point.value);
    if (!number) {
      continue;
    }
    const time = point.fire_time ?? point.created_at;
    const when = formatTime(time, options);
    const state = statusWord(point.status);
    shaped.push({
      execution_id: point.execution_id,
      time,
      status: point.status,
      value: number.value,
      text: number.text,
      when,
      state,
      label: `${name} ${number.text} on ${when} (${state.toLowerCase()})`
    });
  }
  return shaped;
}

/** The names with at least one numeric value (charted), in the server's order. */
export function numericNames(series: ValueSeries): string[] {
  return Object.keys(series).filter(name =>
    series[name].some(point => numericValue(point.value) !== null)
  );
}

/** How each status looks in a chart: a colour and a shape, so that it never rests on colour alone. */
export const STATUS_MARKS: { [status: string]: { color: string; shape: string } } = {
  succeeded: { color: '#1a7f37', shape: 'circle' },
  failed: { color: '#cf222e', shape: 'cross' },
  timed_out: { color: '#bc4c00', shape: 'triangle-up' },
  cancelled: { color: '#6e7781', shape: 'square' },
  running: { color: '#0969da', shape: 'diamond' },
  queued: { color: '#0969da', shape: 'diamond' },
  skipped: { color: '#6e7781', shape: 'square' }
};

/**
 * The Vega-Lite spec of one recorded value across runs: a line through the runs' values, a point per
 * run marked by its status (colour and shape), the exact value in its tooltip. `datum.execution_id` of a
 * clicked point names the run.
 */
export function trendSpec(
  name: string,
  points: ITrendPoint[],
  options: { height?: number } = {}
): { [key: string]: unknown } {
  const statuses = [...new Set(points.map(point => point.status))];
  const words = statuses.map(status => statusWord(status));
  const marks = statuses.map(status => STATUS_MARKS[status] ?? STATUS_MARKS.running);
  const latest = points[points.length - 1];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description:
      `${name} across ${points.length} run${points.length === 1 ? '' : 's'}` +
      (latest ? `; latest ${latest.text} on ${latest.when}` : ''),
    width: 'container',
    height: options.height ?? 160,
    background: 'transparent',
    data: { values: points },
    encoding: {
      x: { field: 'time', type: 'temporal', title: 'Run' },
      y: { field: 'value', type: 'quantitative', title: name, scale: { zero: false } }
    },
    layer: [
      { mark: { type: 'line', color: '#8c959f', strokeWidth: 1.5 } },
      {
        mark: { type: 'point', filled: true, size: 90, opacity: 1, cursor: 'pointer' },
        encoding: {
          color: {
            field: 'state',
            type: 'nominal',
            title: 'Status',
            scale: { domain: words, range: marks.map(mark => mark.color) }
          },
          shape: {
            field: 'state',
            type: 'nominal',
            title: 'Status',
            scale: { domain: words, range: marks.map(mark => mark.shape) }
          },
          tooltip: [
            { field: 'when', title: 'Run' },
            { field: 'state', title: 'Status' },
            { field: 'text', title: name }
          ],
          description: { field: 'label' }
        }
      }
    ]
  };
}

/** A run with every value it recorded, for the table beside the charts. */
export interface IRunValues {
  execution_id: string;
  time: string;
  status: ExecutionStatus;
  /** Exact text by name; a name the run did not record is absent. */
  values: { [name: string]: string };
}

/** Every run that recorded something, newest first, with its values by name. */
export function runsWithValues(series: ValueSeries): IRunValues[] {
  const runs = new Map<string, IRunValues>();
  for (const [name, points] of Object.entries(series)) {
    for (const point of points) {
      let run = runs.get(point.execution_id);
      if (!run) {
        run = {
          execution_id: point.execution_id,
          time: point.fire_time ?? point.created_at,
          status: point.status,
          values: {}
        };
        runs.set(point.execution_id, run);
      }
      run.values[name] = valueText(point.value);
    }
  }
  return [...runs.values()].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
}

/** Bytes as "812 B", "12.3 KB", "4.1 MB", "1.2 GB" (powers of 1024; a no-break space before the unit). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  const text = unit === 0 ? String(size) : size < 10 ? size.toFixed(1) : String(Math.round(size));
  return `${text}${NBSP}${units[unit]}`;
}

/** How long ago: "just now", "5 min ago", "2 h ago", "3 days ago"; the time itself past 30 days. */
export function timeAgo(iso: string, now: number = Date.now(), options: ITimeOptions = {}): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) {
    return iso;
  }
  const seconds = Math.max(0, (now - then) / 1000);
  if (seconds < 60) {
    return 'just now';
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}${NBSP}min ago`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return `${hours}${NBSP}h ago`;
  }
  const days = Math.floor(hours / 24);
  return days <= 30 ? `${days} days ago` : `on ${formatTime(iso, { ...options, seconds: false })}`;
}

/** "predictions.csv: 158 rows, 12.3 KB, written 2 h ago". */
export function describeOutput(output: OutputFile, now: number = Date.now()): string {
  const facts: string[] = [];
  if (typeof output.rows === 'number') {
    facts.push(`${output.rows.toLocaleString('en-US')} row${output.rows === 1 ? '' : 's'}`);
  }
  facts.push(formatBytes(output.bytes));
  facts.push(`written ${timeAgo(output.modified, now)}`);
  return `${output.path}: ${facts.filter(Boolean).join(', ')}`;
}

/** The schedule's freshness in one sentence, and whether to flag it. */
export function describeFreshness(
  freshness: Freshness,
  now: number = Date.now(),
  schedule: { outputs?: string[] | null; stale_after?: number | null } = {}
): { text: string; stale: boolean; why: string | null } {
  const parts: string[] = [];
  parts.push(
    freshness.last_output_at
      ? `Outputs last written ${timeAgo(freshness.last_output_at, now)}`
      : 'No outputs recorded yet'
  );
  parts.push(
    freshness.last_success
      ? `last successful run ${timeAgo(freshness.last_success, now)}`
      : 'no successful run yet'
  );
  const stale = freshness.stale === true;
  const within =
    typeof schedule.stale_after === 'number'
      ? `within ${formatSeconds(schedule.stale_after)}`
      : "within twice the schedule's period";
  const what = (schedule.outputs ?? []).length > 0 ? ' wrote its outputs' : '';
  return {
    text: `${parts.join('; ')}.`,
    stale,
    why: stale ? `No successful run${what} ${within}.` : null
  };
}

/** A preview column's name and type, whichever shape the server sends. */
export function previewColumn(column: string | { name: string; type?: string }): {
  name: string;
  type: string;
} {
  return typeof column === 'string'
    ? { name: column, type: '' }
    : { name: column.name, type: column.type ?? '' };
}

/** A preview cell as text: null empty, numbers exact, strings as they are. */
export function cellText(value: unknown): string {
  return value === null || value === undefined ? '' : valueText(value);
}

/** The output patterns typed one per line (blank lines dropped, each trimmed). */
export function outputPatterns(text: string): string[] {
  return text
    .split('\n')
    .map(line => line.trim())
    .filter(Boolean);
}

/**
 * The `outputs` of a request: for a new run or schedule only when some are given; for an edit only
 * when they changed (an empty list clears them).
 */
export function outputsRequest(text: string, before?: string[] | null): { outputs?: string[] } {
  const patterns = outputPatterns(text);
  if (before === undefined) {
    return patterns.length > 0 ? { outputs: patterns } : {};
  }
  const same =
    patterns.length === (before ?? []).length &&
    patterns.every((pattern, index) => pattern === (before ?? [])[index]);
  return same ? {} : { outputs: patterns };
}

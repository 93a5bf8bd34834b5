/**
 * Two executions compared, for a person (pure): which runs one can be compared with, which one is
 * chosen by default (a failed run: its schedule's last success), and the server's comparison
 * (`GET /api/executions/{a}/compare/{b}`) as rows to show side by side.
 */
import { stringify } from './exactJson';
import { formatTime, statusWord } from './format';
import { formatBytes } from './trends';
import { ComparedOutputSide, Comparison, Execution } from './tokens';

/** When a run happened: its start, else when it was queued. */
function when(execution: Execution): string {
  return execution.started_at ?? execution.created_at;
}

/** Newest first. */
function newestFirst(a: Execution, b: Execution): number {
  return Date.parse(when(b)) - Date.parse(when(a));
}

/** Whether the run has (or had) an output notebook to compare: it started, or at least ended. */
function comparable(execution: Execution): boolean {
  return execution.status !== 'skipped' && execution.status !== 'queued';
}

/**
 * The runs `execution` can be compared with, newest first: its schedule's (a one-off run: the other
 * one-off runs of its notebook), not itself, and not the skipped or still queued ones.
 */
export function compareChoices(execution: Execution, executions: Execution[]): Execution[] {
  const sameSchedule = (other: Execution) =>
    execution.schedule_id
      ? other.schedule_id === execution.schedule_id
      : execution.schedule_name
        ? !other.schedule_id && other.schedule_name === execution.schedule_name
        : !other.schedule_id && !other.schedule_name && other.notebook === execution.notebook;
  return executions
    .filter(other => other.id !== execution.id && comparable(other) && sameSchedule(other))
    .sort(newestFirst);
}

/** Whether "Compare with…" has something to offer for `execution` among `executions`. */
export function canCompare(execution: Execution, executions: Execution[]): boolean {
  return comparable(execution) && compareChoices(execution, executions).length > 0;
}

/**
 * The run `execution` is compared with unless the user picks another, among `choices` (newest first):
 * a run that did not succeed, with its schedule's last success (what changed since it last worked);
 * a success, with the run before it (else the newest other). Null when there is none.
 */
export function defaultOther(execution: Execution, choices: Execution[]): string | null {
  if (execution.status !== 'succeeded') {
    const success = choices.find(other => other.status === 'succeeded');
    if (success) {
      return success.id;
    }
  }
  const at = Date.parse(when(execution));
  const before = choices.find(other => Date.parse(when(other)) < at);
  return (before ?? choices[0])?.id ?? null;
}

/** A run in the picker: "Succeeded · 4 Dec, 10:00:00 UTC · daily_at_2026_12_04_10_00_00". */
export function choiceLabel(execution: Execution, timeZone?: string): string {
  return `${statusWord(execution.status)} · ${formatTime(when(execution), { timeZone })} · ${execution.name}`;
}

/** One name that differs: each side's text, or null when that side has none. */
export interface IPairRow {
  name: string;
  a: string | null;
  b: string | null;
}

function exact(value: unknown): string {
  try {
    return stringify(value);
  } catch {
    return String(value);
  }
}

/** Parameters or values that differ, in the server's order; a side without it is null. */
export function pairRows(pairs: Comparison['parameters']): IPairRow[] {
  return Object.entries(pairs).map(([name, [a, b]]) => ({
    name,
    a: a === null || a === undefined ? null : exact(a),
    b: b === null || b === undefined ? null : exact(b)
  }));
}

/** "158 rows · 12.3 KB · sha256 1a2b3c4d"; null when that side did not write the file. */
export function outputSideText(side: ComparedOutputSide | null): string | null {
  if (!side) {
    return null;
  }
  const facts: string[] = [];
  if (typeof side.rows === 'number') {
    facts.push(`${side.rows.toLocaleString('en-US')} row${side.rows === 1 ? '' : 's'}`);
  }
  facts.push(formatBytes(side.bytes));
  if (side.sha256) {
    facts.push(`sha256 ${side.sha256.slice(0, 8)}`);
  }
  return facts.join(' · ');
}

/** Output files that differ, by path (`name`): each side's rows, size and hash. */
export function outputRows(outputs: Comparison['outputs']): IPairRow[] {
  return outputs.map(output => ({
    name: output.path,
    a: outputSideText(output.a ?? null),
    b: outputSideText(output.b ?? null)
  }));
}

export interface ICellRow {
  /** "Cell 3": counted from 1, as in the user's notebook (the injected parameters not counted). */
  label: string;
  /** "source and outputs changed", "source changed" or "outputs changed". */
  what: string;
  /** Each side's outputs as text; null when that notebook has no such cell. */
  a: string | null;
  b: string | null;
}

export function cellRows(cells: Comparison['cells']): ICellRow[] {
  return cells.map(cell => ({
    label: `Cell ${cell.index + 1}`,
    what:
      cell.source_changed && cell.outputs_changed
        ? 'source and outputs changed'
        : cell.source_changed
          ? 'source changed'
          : 'outputs changed',
    a: cell.a ?? null,
    b: cell.b ?? null
  }));
}

/** "1 parameter, 2 values and 1 cell differ." or "No difference in parameters, …". */
export function summary(comparison: Comparison): string {
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  const parts: string[] = [];
  const parameters = Object.keys(comparison.parameters).length;
  const values = Object.keys(comparison.values).length;
  if (parameters > 0) {
    parts.push(count(parameters, 'parameter', 'parameters'));
  }
  if (values > 0) {
    parts.push(count(values, 'recorded value', 'recorded values'));
  }
  if (comparison.outputs.length > 0) {
    parts.push(count(comparison.outputs.length, 'output file', 'output files'));
  }
  if (comparison.cells.length > 0) {
    parts.push(count(comparison.cells.length, 'cell', 'cells'));
  }
  if (parts.length === 0) {
    return 'No difference in parameters, recorded values, output files or cells.';
  }
  const list =
    parts.length === 1
      ? parts[0]
      : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  const total = parameters + values + comparison.outputs.length + comparison.cells.length;
  return `${list} ${total === 1 ? 'differs' : 'differ'}.`;
}

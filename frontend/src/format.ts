/**
 * How executions read to a person: status words, times labelled with their zone, durations, parameters
 * exactly as recorded, and cell numbers as the user's notebook counts them.
 * Pure functions (the locale and the browser's zone can be passed in for tests).
 */
import { stringify } from './exactJson';
import { Execution, ExecutionError, ExecutionStatus, ParameterValues } from './tokens';

const STATUS_WORDS: { [status in ExecutionStatus]: string } = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timed_out: 'Timed out',
  skipped: 'Skipped'
};

/** "Timed out" for `timed_out`; an unknown status as the server spells it. */
export function statusWord(status: ExecutionStatus | string): string {
  return STATUS_WORDS[status as ExecutionStatus] ?? status;
}

/** Keeps a number with its unit, and a time with its zone, on one line. */
export const NBSP = '\u00a0';

/** The browser's IANA time zone ("Europe/Paris"), "UTC" when it cannot say. */
export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export interface ITimeOptions {
  /** The zone to show the time in (IANA); the browser's by default. */
  timeZone?: string;
  /** With seconds (execution times) or without (a schedule's next run). Default true. */
  seconds?: boolean;
  /** BCP 47 locale; the browser's by default. */
  locale?: string;
}

/**
 * A time in a zone, labelled with that zone: "4 Dec, 10:00 Asia/Tokyo" (a no-break space before the
 * zone). The text as received when it is
 * not a time; the zone's label stays that of the zone asked for (or the browser's).
 */
export function formatTime(iso: string, options: ITimeOptions = {}): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  let zone = options.timeZone ?? browserZone();
  let text: string;
  const format = (timeZone: string) =>
    date.toLocaleString(options.locale, {
      timeZone,
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: options.seconds === false ? undefined : '2-digit',
      hourCycle: 'h23'
    });
  try {
    text = format(zone);
  } catch {
    // A zone this browser does not know: say so with UTC rather than show a wrong label.
    zone = 'UTC';
    text = format(zone);
  }
  return `${text}${NBSP}${zone}`;
}

/** Seconds as "850 ms", "42 s", "3 min 5 s" or "2 h 4 min" (no-break spaces before units). */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)}${NBSP}ms`;
  }
  const whole = Math.round(seconds);
  if (whole < 60) {
    return `${whole}${NBSP}s`;
  }
  const minutes = Math.floor(whole / 60);
  return minutes < 60
    ? `${minutes}${NBSP}min ${whole % 60}${NBSP}s`
    : `${Math.floor(minutes / 60)}${NBSP}h ${minutes % 60}${NBSP}min`;
}

/** How long an execution ran (the server's duration once ended), or has been running until `now`. */
export function executionDuration(execution: Execution, now: number = Date.now()): string {
  if (typeof execution.duration === 'number') {
    return formatSeconds(execution.duration);
  }
  if (!execution.started_at) {
    return '';
  }
  const end = execution.ended_at ? new Date(execution.ended_at).getTime() : now;
  return formatSeconds((end - new Date(execution.started_at).getTime()) / 1000);
}

/** `name = value`, the value as recorded (JSON; numbers exactly as the server wrote them). */
export function formatParameter(name: string, value: unknown): string {
  let text: string;
  try {
    text = stringify(value);
  } catch {
    text = String(value);
  }
  return `${name} = ${text}`;
}

/** One `name = value` line per parameter, in the recorded order. */
export function formatParameters(parameters: ParameterValues | null | undefined): string[] {
  return Object.entries(parameters ?? {}).map(([name, value]) => formatParameter(name, value));
}

/**
 * The failing cell as the user counts the cells of their notebook: 1-based (the server's `cell_index`
 * is 0-based and already leaves the injected parameters cell out).
 */
export function userCellNumber(error: ExecutionError | null | undefined): number | null {
  return typeof error?.cell_index === 'number' ? error.cell_index + 1 : null;
}

/** "Cell 3: ValueError: the input table is empty". */
export function formatError(error: ExecutionError): string {
  const cell = userCellNumber(error);
  const what = error.evalue ? `${error.ename}: ${error.evalue}` : error.ename;
  return cell === null ? what : `Cell ${cell}: ${what}`;
}

/** How an execution ended, in a sentence. */
export function endMessage(execution: Execution): string {
  const duration = executionDuration(execution);
  const took = duration ? ` in ${duration}` : '';
  switch (execution.status) {
    case 'succeeded':
      return `Execution ${execution.name} succeeded${took}.`;
    case 'failed':
    case 'timed_out': {
      const why = execution.error
        ? formatError(execution.error)
        : (execution.reason ?? statusWord(execution.status));
      return `Execution ${execution.name} ${execution.status === 'failed' ? 'failed' : 'timed out'}${took}: ${why}`;
    }
    default:
      return `Execution ${execution.name}: ${statusWord(execution.status).toLowerCase()}${
        execution.reason ? ` (${execution.reason})` : ''
      }.`;
  }
}

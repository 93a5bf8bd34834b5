/**
 * The friendly frequency picker ↔ cron, and the browser's time zones. Pure functions: no JupyterLab, no
 * DOM. Whether an expression or a zone is valid, what it means in words and when it next runs are the
 * server's to say (`POST /api/schedules/preview`, `src/preview.ts`); nothing here parses cron beyond
 * reading back the shapes the picker writes.
 */

/** What the picker can express; anything else is a raw cron expression. */
export type Frequency =
  | { kind: 'minutes'; every: number }
  | { kind: 'hours'; every: number; minute: number }
  | { kind: 'daily'; hour: number; minute: number }
  | { kind: 'weekly'; days: number[]; hour: number; minute: number }
  | { kind: 'monthly'; day: number; hour: number; minute: number }
  | { kind: 'cron'; expression: string };

/** "Every N minutes" choices: divisors of 60, so that the runs are evenly spaced across each hour
 * (a step of 7 runs at :00, :07 … :56 and again at :00, 4 minutes later). */
export const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
/** "Every N hours" choices: divisors of 24, for the same reason across each day. */
export const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];
/** Sunday first, as cron numbers them. */
export const DAY_NAMES = [
  'Sunday',
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday'
];

/** The picker's starting point: every day at 09:00. */
export const DEFAULT_FREQUENCY: Frequency = { kind: 'daily', hour: 9, minute: 0 };

/** What the frequency picker remembers across kinds, so that a detour through "every N minutes" loses nothing. */
export interface Memory {
  hour: number;
  minute: number;
  days: number[];
  day: number;
}

export function remember(memory: Memory, f: Frequency): Memory {
  const next = { ...memory };
  if ('hour' in f) {
    next.hour = f.hour;
  }
  if ('minute' in f) {
    next.minute = f.minute;
  }
  if (f.kind === 'weekly' && f.days.length > 0) {
    next.days = f.days;
  }
  if (f.kind === 'monthly') {
    next.day = f.day;
  }
  return next;
}

/** The choice for another kind: the time of day, days and day of month as they were last set. */
export function switchKind(current: Frequency, kind: Frequency['kind'], memory: Memory): Frequency {
  // Back from a raw expression the picker can show: as that expression says.
  const parsed = current.kind === 'cron' ? fromCron(current.expression) : null;
  if (parsed && parsed.kind === kind) {
    return parsed;
  }
  const { hour, minute, days, day } = remember(memory, current);
  switch (kind) {
    case 'minutes':
      return { kind, every: current.kind === 'minutes' ? current.every : 15 };
    case 'hours':
      return { kind, every: current.kind === 'hours' ? current.every : 1, minute };
    case 'daily':
      return { kind, hour, minute };
    case 'weekly':
      return { kind, days, hour, minute };
    case 'monthly':
      return { kind, day, hour, minute };
    case 'cron':
      return { kind, expression: toCron(current) };
  }
}

export const INITIAL_MEMORY: Memory = { hour: 9, minute: 0, days: [1], day: 1 };

/** The cron expression (5 fields, minute first) for a picker choice. */
export function toCron(frequency: Frequency): string {
  switch (frequency.kind) {
    case 'minutes':
      return frequency.every === 1 ? '* * * * *' : `*/${frequency.every} * * * *`;
    case 'hours':
      return frequency.every === 1
        ? `${frequency.minute} * * * *`
        : `${frequency.minute} */${frequency.every} * * *`;
    case 'daily':
      return `${frequency.minute} ${frequency.hour} * * *`;
    case 'weekly': {
      const days = [...new Set(frequency.days)].sort((a, b) => a - b).join(',');
      return `${frequency.minute} ${frequency.hour} * * ${days}`;
    }
    case 'monthly':
      return `${frequency.minute} ${frequency.hour} ${frequency.day} * *`;
    case 'cron':
      return frequency.expression.trim().split(/\s+/).join(' ');
  }
}

/** The picker choice for a cron expression; `{kind: 'cron'}` when the picker can't show it. */
export function fromCron(expression: string): Frequency {
  const raw: Frequency = { kind: 'cron', expression: expression.trim() };
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return raw;
  }
  const [minute, hour, dom, month, dow] = fields;
  if (month !== '*') {
    return raw;
  }
  const step = stepOf(minute);
  if (step !== null && hour === '*' && dom === '*' && dow === '*') {
    return MINUTE_STEPS.includes(step) ? { kind: 'minutes', every: step } : raw;
  }
  const m = numberIn(minute, 0, 59);
  if (m === null) {
    return raw;
  }
  const hourStep = stepOf(hour);
  if (hourStep !== null && dom === '*' && dow === '*') {
    return HOUR_STEPS.includes(hourStep) ? { kind: 'hours', every: hourStep, minute: m } : raw;
  }
  const h = numberIn(hour, 0, 23);
  if (h === null) {
    return raw;
  }
  if (dom === '*' && dow === '*') {
    return { kind: 'daily', hour: h, minute: m };
  }
  if (dom === '*') {
    const days = parseDays(dow);
    return days ? { kind: 'weekly', days, hour: h, minute: m } : raw;
  }
  const day = numberIn(dom, 1, 31);
  if (day !== null && dow === '*') {
    return { kind: 'monthly', day, hour: h, minute: m };
  }
  return raw;
}

/** The picker's field a message is about. */
export type FrequencyField = 'days' | 'minute' | 'day' | 'cron';

/**
 * What is wrong with the picker's own boxes (a minute, a day of the month, the days of a week), in the
 * user's words, at the box: the server would only see the expression they make. A raw expression is
 * the server's to check.
 */
export function frequencyError(
  frequency: Frequency
): { field: FrequencyField; message: string } | null {
  if ('minute' in frequency && !inRange(frequency.minute, 0, 59)) {
    return { field: 'minute', message: 'enter a minute from 0 to 59' };
  }
  if (frequency.kind === 'monthly' && !inRange(frequency.day, 1, 31)) {
    return { field: 'day', message: 'enter a day of the month from 1 to 31' };
  }
  if (frequency.kind === 'weekly' && frequency.days.length === 0) {
    return { field: 'days', message: 'choose at least one day' };
  }
  return null;
}

function inRange(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** The browser's time zone. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Every IANA time zone the browser knows (UTC first). */
export function timeZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] })
    .supportedValuesOf;
  const zones = supported ? supported('timeZone') : [];
  return ['UTC', ...zones.filter(zone => zone !== 'UTC')];
}

function stepOf(field: string): number | null {
  if (field === '*') {
    return 1;
  }
  const match = /^\*\/(\d+)$/.exec(field);
  return match ? Number(match[1]) : null;
}

function numberIn(field: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(field)) {
    return null;
  }
  const n = Number(field);
  return n >= min && n <= max ? n : null;
}

/** Day names as cron spells them: SUN, MON, … */
const DAYS3 = DAY_NAMES.map(day => day.slice(0, 3).toUpperCase());

/** A day-of-week field the weekly picker can show (numbers and names, comma-separated). */
function parseDays(field: string): number[] | null {
  const days: number[] = [];
  for (const part of field.split(',')) {
    const named = DAYS3.indexOf(part.toUpperCase());
    const n = named >= 0 ? named : numberIn(part, 0, 7);
    if (n === null) {
      return null;
    }
    days.push(n % 7);
  }
  return [...new Set(days)].sort((a, b) => a - b);
}

/** "1 minute", "2 minutes": a count with its unit, singular for one. */
export function counted(count: number, unit: string): string {
  return `${count} ${count === 1 ? unit : `${unit}s`}`;
}

/**
 * The friendly frequency picker ↔ cron, cron in words, and the next run times of a cron expression in a
 * time zone. Pure functions: no JupyterLab, no DOM. Words match the server's `describe.rs` for the shapes
 * the picker produces, so the dialog's preview reads like the schedule list afterwards.
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

/** Cron in words, or null when the shape is not a common one (the server's words are then used). */
export function describeCron(expression: string): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 || fields[3] !== '*') {
    return null;
  }
  const [minute, hour, dom, , dow] = fields;
  const step = stepOf(minute);
  if (step !== null && hour === '*' && dom === '*' && dow === '*') {
    return plural('minute', step);
  }
  const m = numberIn(minute, 0, 59);
  if (m === null) {
    return null;
  }
  if (hour === '*' && dom === '*' && dow === '*') {
    return `Every hour at minute ${m}`;
  }
  const hourStep = stepOf(hour);
  if (hourStep !== null && dom === '*' && dow === '*') {
    return `${plural('hour', hourStep)} at minute ${m}`;
  }
  const h = numberIn(hour, 0, 23);
  if (h === null) {
    return null;
  }
  const time = `${pad(h)}:${pad(m)}`;
  if (dom === '*' && dow === '*') {
    return `Every day at ${time}`;
  }
  if (dom === '*') {
    if (['1-5', 'MON-FRI', 'mon-fri'].includes(dow)) {
      return `Every weekday at ${time}`;
    }
    const days = parseDays(dow);
    return days ? `Every ${joinWords(days.map(d => DAY_NAMES[d]))} at ${time}` : null;
  }
  if (dom === 'L' && dow === '*') {
    return `On the last day of every month at ${time}`;
  }
  const day = numberIn(dom, 1, 31);
  return day !== null && dow === '*' ? `On day ${day} of every month at ${time}` : null;
}

/** A parsed cron field: the values it allows. */
interface CronSpec {
  minute: Set<number>;
  hour: Set<number>;
  dom: Set<number>;
  month: Set<number>;
  dow: Set<number>;
  /** Cron's rule: when both day fields are restricted, a day matching either fires. */
  domAny: boolean;
  dowAny: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS3 = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** Parses a 5-field cron expression; throws an Error saying what is wrong. */
export function parseCron(expression: string): CronSpec {
  const fields = expression
    .trim()
    .split(/\s+/)
    .filter(f => f.length > 0);
  if (fields.length !== 5) {
    throw new Error(
      `write 5 fields separated by spaces: minute hour day-of-month month day-of-week (found ${fields.length})`
    );
  }
  const [minute, hour, dom, month, dow] = fields;
  const dowSet = parseField(dow, 0, 7, 'day of week', DAYS3, 0);
  if (dowSet.has(7)) {
    dowSet.delete(7);
    dowSet.add(0);
  }
  return {
    minute: parseField(minute, 0, 59, 'minute'),
    hour: parseField(hour, 0, 23, 'hour'),
    dom: parseField(dom, 1, 31, 'day of month'),
    month: parseField(month, 1, 12, 'month', MONTHS, 1),
    dow: dowSet,
    domAny: dom === '*' || dom === '?',
    dowAny: dow === '*' || dow === '?'
  };
}

/** The picker's field a message is about. */
export type FrequencyField = 'days' | 'minute' | 'day' | 'cron';

/** What is wrong with a picker choice, in the user's words, and the field it is about; or null. */
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
  const message = cronError(toCron(frequency));
  return message ? { field: 'cron', message } : null;
}

function inRange(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** The error message for an invalid expression, or null when it is valid. */
export function cronError(expression: string): string | null {
  try {
    parseCron(expression);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

function parseField(
  field: string,
  min: number,
  max: number,
  what: string,
  names: string[] = [],
  nameBase = 0
): Set<number> {
  const values = new Set<number>();
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase());
    if (named >= 0) {
      return named + nameBase;
    }
    if (!/^\d+$/.test(text)) {
      throw new Error(`invalid ${what} "${text}"`);
    }
    const n = Number(text);
    if (n < min || n > max) {
      throw new Error(`${what} ${n} is out of range (${min}-${max})`);
    }
    return n;
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) {
        throw new Error(`invalid step "${stepText}" in the ${what} field`);
      }
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      [lo, hi] = [min, max];
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      [lo, hi] = [value(a), value(b)];
      if (lo > hi) {
        throw new Error(`invalid ${what} range "${range}"`);
      }
    } else {
      lo = value(range);
      hi = stepText !== undefined ? max : lo;
    }
    for (let n = lo; n <= hi; n += step) {
      values.add(n);
    }
  }
  return values;
}

/** Wall-clock fields of an instant in a time zone. */
interface WallClock {
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(instant: Date, timeZone: string): WallClock {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric'
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(instant)) {
    parts[part.type] = part.value;
  }
  return {
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: DAYS3.indexOf(parts.weekday.toUpperCase()),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute)
  };
}

const MINUTE = 60_000;

/**
 * The next `count` fire times of `expression` in `timeZone`, strictly after `from`. Walks real instants
 * and skips whole days and hours that cannot match, so a year ahead costs a few hundred steps.
 */
export function nextRuns(expression: string, timeZone: string, from: Date, count = 3): Date[] {
  const spec = parseCron(expression);
  const runs: Date[] = [];
  let t = Math.floor(from.getTime() / MINUTE) * MINUTE + MINUTE;
  const limit = from.getTime() + 5 * 366 * 24 * 60 * MINUTE;
  while (runs.length < count && t < limit) {
    const wall = wallClock(new Date(t), timeZone);
    if (!spec.month.has(wall.month) || !dayMatches(spec, wall)) {
      t += ((23 - wall.hour) * 60 + (60 - wall.minute)) * MINUTE;
    } else if (!spec.hour.has(wall.hour)) {
      t += (60 - wall.minute) * MINUTE;
    } else if (!spec.minute.has(wall.minute)) {
      t += MINUTE;
    } else {
      runs.push(new Date(t));
      t += MINUTE;
    }
  }
  return runs;
}

function dayMatches(spec: CronSpec, wall: WallClock): boolean {
  const dom = spec.dom.has(wall.day);
  const dow = spec.dow.has(wall.weekday);
  if (spec.domAny || spec.dowAny) {
    return dom && dow;
  }
  return dom || dow;
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

/** Whether the browser accepts `zone` as a time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
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

function plural(unit: string, count: number): string {
  return count === 1 ? `Every ${unit}` : `Every ${counted(count, unit)}`;
}

/** "1 minute", "2 minutes": a count with its unit, singular for one. */
export function counted(count: number, unit: string): string {
  return `${count} ${count === 1 ? unit : `${unit}s`}`;
}

function joinWords(words: string[]): string {
  return words.length <= 1
    ? words.join('')
    : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

import {
  counted,
  Frequency,
  frequencyError,
  fromCron,
  INITIAL_MEMORY,
  remember,
  switchKind,
  toCron
} from '../cron';

describe('friendly picker ↔ cron', () => {
  const table: [Frequency, string][] = [
    [{ kind: 'minutes', every: 15 }, '*/15 * * * *'],
    [{ kind: 'minutes', every: 1 }, '* * * * *'],
    [{ kind: 'hours', every: 1, minute: 5 }, '5 * * * *'],
    [{ kind: 'hours', every: 6, minute: 30 }, '30 */6 * * *'],
    [{ kind: 'daily', hour: 10, minute: 0 }, '0 10 * * *'],
    [{ kind: 'weekly', days: [1, 5], hour: 9, minute: 30 }, '30 9 * * 1,5'],
    [{ kind: 'weekly', days: [0, 3, 6], hour: 23, minute: 59 }, '59 23 * * 0,3,6'],
    [{ kind: 'monthly', day: 1, hour: 0, minute: 0 }, '0 0 1 * *']
  ];

  it.each(table)('%j → %s → back', (frequency, cron) => {
    const expression = toCron(frequency);
    expect(expression).toBe(cron);
    expect(fromCron(expression)).toEqual(frequency);
  });

  it('reads weekday names back as days', () => {
    expect(fromCron('0 9 * * MON,fri')).toEqual({
      kind: 'weekly',
      days: [1, 5],
      hour: 9,
      minute: 0
    });
  });

  it('sorts and dedupes weekly days', () => {
    expect(toCron({ kind: 'weekly', days: [5, 1, 5], hour: 8, minute: 0 })).toBe('0 8 * * 1,5');
  });

  it.each(['0 9 * 1 *', '*/7 * * * *', '0 9 1-5 * *', '0 9 * * 1-5', '0 0 1 1 *'])(
    'keeps %s raw when the picker cannot show it',
    cron => {
      expect(fromCron(cron)).toEqual({ kind: 'cron', expression: cron });
    }
  );

  it('normalises spaces of a raw expression', () => {
    expect(toCron({ kind: 'cron', expression: '  0   9 * * *  ' })).toBe('0 9 * * *');
  });
});

describe('plurals', () => {
  it.each([
    [1, 'minute', '1 minute'],
    [2, 'minute', '2 minutes'],
    [1, 'hour', '1 hour'],
    [12, 'hour', '12 hours'],
    [0, 'day', '0 days']
  ])('%i %s → %s', (count, unit, words) => {
    expect(counted(count, unit)).toBe(words);
  });
});

describe('picker errors, one per field, in the user’s words', () => {
  it('asks for a day, not for 5 cron fields, when a week has none', () => {
    expect(frequencyError({ kind: 'weekly', days: [], hour: 9, minute: 0 })).toEqual({
      field: 'days',
      message: 'choose at least one day'
    });
  });

  it('points at the minute or the day of the month', () => {
    expect(frequencyError({ kind: 'hours', every: 2, minute: NaN })).toEqual({
      field: 'minute',
      message: 'enter a minute from 0 to 59'
    });
    expect(frequencyError({ kind: 'monthly', day: 32, hour: 9, minute: 0 })?.field).toBe('day');
  });

  it('leaves a raw expression to the server', () => {
    expect(frequencyError({ kind: 'cron', expression: '0 9 * *' })).toBeNull();
    expect(frequencyError({ kind: 'daily', hour: 9, minute: 30 })).toBeNull();
  });
});

describe('switching kinds', () => {
  it('keeps the chosen time through "every N minutes" and back', () => {
    let memory = INITIAL_MEMORY;
    let f: Frequency = { kind: 'weekly', days: [3, 5], hour: 7, minute: 45 };
    memory = remember(memory, f);
    f = switchKind(f, 'minutes', memory);
    expect(f).toEqual({ kind: 'minutes', every: 15 });
    memory = remember(memory, f);
    expect(switchKind(f, 'weekly', memory)).toEqual({
      kind: 'weekly',
      days: [3, 5],
      hour: 7,
      minute: 45
    });
    expect(switchKind(f, 'daily', memory)).toEqual({ kind: 'daily', hour: 7, minute: 45 });
  });

  it('reads a raw expression back into the picker', () => {
    expect(switchKind({ kind: 'cron', expression: '30 8 * * *' }, 'daily', INITIAL_MEMORY)).toEqual(
      { kind: 'daily', hour: 8, minute: 30 }
    );
  });
});

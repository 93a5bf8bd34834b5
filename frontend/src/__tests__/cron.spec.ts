import {
  counted,
  cronError,
  describeCron,
  Frequency,
  frequencyError,
  fromCron,
  INITIAL_MEMORY,
  nextRuns,
  remember,
  switchKind,
  toCron
} from '../cron';

describe('friendly picker ↔ cron', () => {
  const table: [Frequency, string, string][] = [
    [{ kind: 'minutes', every: 15 }, '*/15 * * * *', 'Every 15 minutes'],
    [{ kind: 'minutes', every: 1 }, '* * * * *', 'Every minute'],
    [{ kind: 'hours', every: 1, minute: 5 }, '5 * * * *', 'Every hour at minute 5'],
    [{ kind: 'hours', every: 6, minute: 30 }, '30 */6 * * *', 'Every 6 hours at minute 30'],
    [{ kind: 'daily', hour: 10, minute: 0 }, '0 10 * * *', 'Every day at 10:00'],
    [
      { kind: 'weekly', days: [1, 5], hour: 9, minute: 30 },
      '30 9 * * 1,5',
      'Every Monday and Friday at 09:30'
    ],
    [
      { kind: 'weekly', days: [0, 3, 6], hour: 23, minute: 59 },
      '59 23 * * 0,3,6',
      'Every Sunday, Wednesday and Saturday at 23:59'
    ],
    [
      { kind: 'monthly', day: 1, hour: 0, minute: 0 },
      '0 0 1 * *',
      'On day 1 of every month at 00:00'
    ]
  ];

  it.each(table)('%j → %s → back, described as %s', (frequency, cron, words) => {
    // When
    const expression = toCron(frequency);
    // Then
    expect(expression).toBe(cron);
    expect(fromCron(expression)).toEqual(frequency);
    expect(describeCron(expression)).toBe(words);
    expect(cronError(expression)).toBeNull();
  });

  it('sorts and dedupes weekly days', () => {
    expect(toCron({ kind: 'weekly', days: [5, 1, 5], hour: 8, minute: 0 })).toBe('0 8 * * 1,5');
  });

  it.each([
    ['0 9 * * 1-5', 'Every weekday at 09:00'],
    ['0 9 L * *', 'On the last day of every month at 09:00'],
    ['0 9 * 1 *', null],
    ['*/7 * * * *', 'Every 7 minutes']
  ])('describes %s as the server does', (cron, words) => {
    expect(describeCron(cron)).toBe(words);
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

describe('cron validation', () => {
  it.each([
    [
      '0 9 * *',
      'write 5 fields separated by spaces: minute hour day-of-month month day-of-week (found 4)'
    ],
    ['60 9 * * *', 'minute 60 is out of range (0-59)'],
    ['0 24 * * *', 'hour 24 is out of range (0-23)'],
    ['0 9 0 * *', 'day of month 0 is out of range (1-31)'],
    ['0 9 * 13 *', 'month 13 is out of range (1-12)'],
    ['*/0 * * * *', 'invalid step "0" in the minute field'],
    ['x 9 * * *', 'invalid minute "x"'],
    ['0 9 5-1 * *', 'invalid day of month range "5-1"']
  ])('%s: %s', (cron, message) => {
    expect(cronError(cron)).toBe(message);
  });

  it.each(['0 9 * * MON-FRI', '0 9 * JAN-MAR sun', '0 0 * * 7', '15,45 8-18/2 * * *'])(
    '%s is valid',
    cron => {
      expect(cronError(cron)).toBeNull();
    }
  );
});

describe('next runs', () => {
  const from = new Date('2026-03-06T12:34:56Z'); // a Friday

  it('daily in UTC', () => {
    expect(nextRuns('0 10 * * *', 'UTC', from).map(d => d.toISOString())).toEqual([
      '2026-03-07T10:00:00.000Z',
      '2026-03-08T10:00:00.000Z',
      '2026-03-09T10:00:00.000Z'
    ]);
  });

  it('every 15 minutes, strictly after now', () => {
    expect(nextRuns('*/15 * * * *', 'UTC', from).map(d => d.toISOString())).toEqual([
      '2026-03-06T12:45:00.000Z',
      '2026-03-06T13:00:00.000Z',
      '2026-03-06T13:15:00.000Z'
    ]);
  });

  it('weekly in a time zone, across its DST change', () => {
    // New York moves to UTC-4 on Sunday 8 March 2026.
    expect(nextRuns('30 9 * * 1,5', 'America/New_York', from).map(d => d.toISOString())).toEqual([
      '2026-03-06T14:30:00.000Z', // 09:30 EST
      '2026-03-09T13:30:00.000Z', // 09:30 EDT
      '2026-03-13T13:30:00.000Z'
    ]);
  });

  it('monthly on day 31 skips short months', () => {
    expect(nextRuns('0 0 31 * *', 'Asia/Tokyo', from).map(d => d.toISOString())).toEqual([
      '2026-03-30T15:00:00.000Z',
      '2026-05-30T15:00:00.000Z',
      '2026-07-30T15:00:00.000Z'
    ]);
  });

  it('a day of month and a weekday: either fires (cron rule)', () => {
    expect(nextRuns('0 6 13 * 5', 'UTC', from, 2).map(d => d.toISOString())).toEqual([
      '2026-03-13T06:00:00.000Z',
      '2026-03-20T06:00:00.000Z'
    ]);
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

  it('describes a step of one in the singular', () => {
    expect(describeCron('* * * * *')).toBe('Every minute');
    expect(describeCron('0 */1 * * *')).toBe('Every hour at minute 0');
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

  it('keeps a raw expression’s error at the expression', () => {
    expect(frequencyError({ kind: 'cron', expression: '0 9 * *' })?.field).toBe('cron');
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

/** How executions read: status words, zone-labelled times, durations, exact parameters, cell numbers. */
import { parse } from '../exactJson';
import {
  endMessage,
  executionDuration,
  formatError,
  formatParameters,
  formatSeconds,
  formatTime,
  statusWord,
  userCellNumber
} from '../format';
import { EXECUTION_STATUSES, Execution } from '../tokens';

/** The text with its no-break spaces (unit and zone kept on their line) written as spaces. */
const spaced = (text: string) => text.replace(/\u00a0/g, ' ');

const execution = (fields: Partial<Execution>): Execution => ({
  id: 'e1',
  name: 'daily_at_2026_12_04_01_00_00',
  notebook: 'daily.ipynb',
  status: 'succeeded',
  parameters: {},
  created_at: '2026-12-04T01:00:00.000Z',
  output_path: 'executions/daily/daily_at_2026_12_04_01_00_00.ipynb',
  attempt: 1,
  max_attempts: 1,
  ready_at: '2026-12-04T01:00:00.000Z',
  retry_delay: 0,
  output_patterns: [],
  expect: [],
  ...fields
});

describe('statusWord', () => {
  it('gives every status a word a person reads, never the identifier', () => {
    expect(EXECUTION_STATUSES.map(statusWord)).toEqual([
      'Queued',
      'Running',
      'Succeeded',
      'Failed',
      'Cancelled',
      'Timed out',
      'Skipped'
    ]);
  });
});

describe('formatTime', () => {
  const at = '2026-12-04T01:00:00.000Z';

  it("shows a time in the schedule's zone, labelled with it", () => {
    expect(
      spaced(formatTime(at, { timeZone: 'Asia/Tokyo', seconds: false, locale: 'en-GB' }))
    ).toBe('4 Dec, 10:00 Asia/Tokyo');
    expect(spaced(formatTime(at, { timeZone: 'America/New_York', locale: 'en-US' }))).toBe(
      'Dec 3, 20:00:00 America/New_York'
    );
  });

  it("labels a time in the browser's zone with that zone", () => {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(spaced(formatTime(at, { locale: 'en-GB' })).endsWith(` ${zone}`)).toBe(true);
  });

  it('falls back to UTC, labelled so, for a zone the browser does not know', () => {
    expect(spaced(formatTime(at, { timeZone: 'Mars/Olympus', locale: 'en-GB' }))).toBe(
      '4 Dec, 01:00:00 UTC'
    );
  });

  it('shows text that is not a time as it came', () => {
    expect(spaced(formatTime('soon'))).toBe('soon');
  });
});

describe('durations', () => {
  it('reads as ms, s, min or h', () => {
    expect([0.25, 4.4, 185, 7440].map(formatSeconds).map(spaced)).toEqual([
      '250 ms',
      '4 s',
      '3 min 5 s',
      '2 h 4 min'
    ]);
  });

  it("takes the server's duration once ended, the time so far while running", () => {
    expect(spaced(executionDuration(execution({ duration: 12.2 })))).toBe('12 s');
    const started = execution({ status: 'running', started_at: '2026-12-04T01:00:00.000Z' });
    expect(spaced(executionDuration(started, Date.parse('2026-12-04T01:01:30.000Z')))).toBe(
      '1 min 30 s'
    );
    expect(spaced(executionDuration(execution({ status: 'queued' })))).toBe('');
  });
});

describe('formatParameters', () => {
  it('shows each value exactly as recorded, whatever its size or form', () => {
    const recorded = parse(
      '{"BIG": 1180591620717411303424, "EDGE": 9007199254740993, "F": 1.0, "E": 1e16, ' +
        '"Z": -0.0, "S": "a \\"quoted\\" text", "L": [1, 2], "N": null, "B": true}'
    ) as Execution['parameters'];
    expect(formatParameters(recorded)).toEqual([
      'BIG = 1180591620717411303424',
      'EDGE = 9007199254740993',
      'F = 1.0',
      'E = 1e16',
      'Z = -0.0',
      'S = "a \\"quoted\\" text"',
      'L = [1,2]',
      'N = null',
      'B = true'
    ]);
  });

  it('has no line for no parameters', () => {
    expect(formatParameters({})).toEqual([]);
    expect(formatParameters(undefined)).toEqual([]);
  });
});

describe('the failing cell', () => {
  it("is the server's 0-based cell_index plus one", () => {
    expect(userCellNumber({ cell_index: 2, ename: 'E', evalue: '', traceback: [] })).toBe(3);
    expect(userCellNumber({ ename: 'E', evalue: '', traceback: [] })).toBeNull();
  });

  it('reads "Cell n: ename: evalue"', () => {
    expect(
      formatError({ cell_index: 2, ename: 'ValueError', evalue: 'empty', traceback: [] })
    ).toBe('Cell 3: ValueError: empty');
    expect(formatError({ ename: 'DeadKernelError', evalue: '', traceback: [] })).toBe(
      'DeadKernelError'
    );
  });
});

describe('endMessage', () => {
  it('says how the run ended, with the error when it failed', () => {
    expect(spaced(endMessage(execution({ duration: 4 })))).toBe(
      'Execution daily_at_2026_12_04_01_00_00 succeeded in 4 s.'
    );
    expect(
      spaced(
        endMessage(
          execution({
            status: 'failed',
            duration: 2,
            error: { cell_index: 0, ename: 'ValueError', evalue: 'bad', traceback: [] }
          })
        )
      )
    ).toBe('Execution daily_at_2026_12_04_01_00_00 failed in 2 s: Cell 1: ValueError: bad');
    expect(spaced(endMessage(execution({ status: 'timed_out', reason: 'ran over 60 s' })))).toBe(
      'Execution daily_at_2026_12_04_01_00_00 timed out: ran over 60 s'
    );
    expect(
      spaced(endMessage(execution({ status: 'cancelled', reason: 'cancelled by the user' })))
    ).toBe('Execution daily_at_2026_12_04_01_00_00: cancelled (cancelled by the user).');
  });
});

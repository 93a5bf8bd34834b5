/**
 * The dialog's checks come from `POST /api/schedules/preview`: the body built from the texts typed, the
 * answer mapped to the dialog's fields (only while the field still holds what was checked), and one
 * request per pause in typing, late answers dropped. The server is a fake `fetch` here; its answers
 * are shaped as `server/api/tests/schedule_preview.rs` pins them.
 */
import {
  fieldErrors,
  IPreviewAnswer,
  IPreviewInput,
  PreviewBody,
  previewBody,
  Previewer,
  recurrencePreview,
  typedNumber
} from '../preview';
import { SchedulePreview } from '../tokens';

const typed: IPreviewInput = {
  recurring: true,
  name: 'daily',
  cron: '0 6 * * *',
  timezone: 'Europe/Paris',
  timeout: '',
  cellTimeout: '',
  retries: '',
  outputDir: '',
  webhook: '',
  outputs: [],
  expect: []
};

const answer = (preview: Partial<SchedulePreview>): SchedulePreview => ({
  valid: true,
  errors: {},
  description: null,
  next_runs: [],
  ...preview
});

describe('the body sent for a preview', () => {
  it('holds a schedule’s recurrence, zone and name, and only the options typed', () => {
    expect(previewBody(typed)).toEqual({
      name: 'daily',
      cron: '0 6 * * *',
      timezone: 'Europe/Paris'
    });
  });

  it('sends numbers as numbers and anything else as typed, for the server to judge', () => {
    const body = previewBody({
      ...typed,
      timeout: '0.25',
      cellTimeout: ' 600 ',
      retries: 'two',
      outputDir: ' out ',
      webhook: 'ftp://example.com/hook',
      outputs: ['output/*.csv'],
      expect: ['accuracy >= 0.8']
    });
    expect(body).toEqual({
      name: 'daily',
      cron: '0 6 * * *',
      timezone: 'Europe/Paris',
      timeout: 0.25,
      cell_timeout: 600,
      retries: 'two',
      output_dir: 'out',
      notify: { url: 'ftp://example.com/hook', on_failure: true, on_success: false },
      outputs: ['output/*.csv'],
      expect: ['accuracy >= 0.8']
    });
  });

  it('leaves the schedule’s fields out of a run once, and an incomplete picker’s expression out', () => {
    expect(
      previewBody({ ...typed, recurring: false, retries: '3', webhook: 'http://h/x' })
    ).toEqual({ retries: 3 });
    expect(previewBody({ ...typed, cron: null })).toEqual({
      name: 'daily',
      timezone: 'Europe/Paris'
    });
  });

  it.each([
    ['101', 101],
    ['1e2', 100],
    ['-1', -1],
    ['.5', 0.5],
    ['10 s', '10 s'],
    ['1e999', '1e999'],
    ['0x10', '0x10']
  ])('reads %j as %j', (text, value) => {
    expect(typedNumber(text)).toBe(value);
  });
});

describe('the server’s messages at the dialog’s fields', () => {
  const sent: PreviewBody = {
    name: 'Daily Report',
    cron: '61 6 * * *',
    timezone: 'Europe/Paris',
    retries: 101,
    cell_timeout: -1,
    output_dir: '/abs',
    notify: { url: 'ftp://x', on_failure: true, on_success: false }
  };
  const checked: IPreviewAnswer = {
    body: sent,
    preview: answer({
      valid: false,
      errors: {
        name: 'invalid name "Daily Report"',
        cron: 'invalid cron expression "61 6 * * *"',
        retries: 'retries must be 0 to 100, got 101',
        cell_timeout: 'cell_timeout must be a positive number of seconds, got -1',
        output_dir: 'invalid path "/abs"',
        notify: 'invalid webhook URL "ftp://x"'
      }
    })
  };

  it('names each message by the field the dialog shows it at', () => {
    expect(fieldErrors(checked, sent)).toEqual({
      name: 'invalid name "Daily Report"',
      cron: 'invalid cron expression "61 6 * * *"',
      retries: 'retries must be 0 to 100, got 101',
      cellTimeout: 'cell_timeout must be a positive number of seconds, got -1',
      outputDir: 'invalid path "/abs"',
      webhook: 'invalid webhook URL "ftp://x"'
    });
  });

  it('drops the message of a field typed since, keeps the others', () => {
    const now = { ...sent, retries: 10 };
    const errors = fieldErrors(checked, now);
    expect(errors.retries).toBeUndefined();
    expect(errors.name).toBe('invalid name "Daily Report"');
    // A schedule's fields are not blamed once the dialog runs once.
    expect(fieldErrors(checked, { retries: 101 })).toEqual({
      retries: 'retries must be 0 to 100, got 101'
    });
  });

  it('blames the expression for an `every` error', () => {
    const every = { every: '1h', cron: '0 6 * * *' };
    const both: IPreviewAnswer = {
      body: every,
      preview: answer({ valid: false, errors: { every: 'give exactly one of `cron` and `every`' } })
    };
    expect(fieldErrors(both, every)).toEqual({ cron: 'give exactly one of `cron` and `every`' });
  });

  it('has nothing to say before the first answer', () => {
    expect(fieldErrors(null, sent)).toEqual({});
  });
});

describe('the frequency in words and the next runs', () => {
  const body = { name: 'daily', cron: '0 6 * * *', timezone: 'Europe/Paris' };
  const described: IPreviewAnswer = {
    body,
    preview: answer({
      description: 'Every day at 06:00 (Europe/Paris)',
      next_runs: ['2026-03-28T06:00:00+01:00', '2026-03-29T06:00:00+02:00']
    })
  };

  it('are the server’s for the expression and zone shown', () => {
    expect(recurrencePreview(described, body)).toEqual({
      description: 'Every day at 06:00 (Europe/Paris)',
      runs: ['2026-03-28T06:00:00+01:00', '2026-03-29T06:00:00+02:00']
    });
    // Another name does not make the runs stale.
    expect(recurrencePreview(described, { ...body, name: 'other' })).not.toBeNull();
  });

  it('wait for the next answer when the expression or the zone changed', () => {
    expect(recurrencePreview(described, { ...body, timezone: 'Asia/Tokyo' })).toBeNull();
    expect(recurrencePreview(described, { ...body, cron: '0 7 * * *' })).toBeNull();
    expect(recurrencePreview(described, { name: 'daily', timezone: 'Europe/Paris' })).toBeNull();
    expect(recurrencePreview(null, body)).toBeNull();
  });

  it('are absent when the server could not describe it', () => {
    const invalid = { body, preview: answer({ valid: false, errors: { cron: 'invalid' } }) };
    expect(recurrencePreview(invalid, body)).toBeNull();
  });
});

describe('asking once per pause in typing', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** A fake server: each request stays open until `answer(i, …)` or `fail(i)`. */
  function fakeServer() {
    const requests: {
      body: PreviewBody;
      resolve: (p: SchedulePreview) => void;
      reject: () => void;
    }[] = [];
    const fetch = (body: PreviewBody) =>
      new Promise<SchedulePreview>((resolve, reject) =>
        requests.push({ body, resolve, reject: () => reject(new Error('503')) })
      );
    return { requests, fetch };
  }

  /** Lets the promise callbacks run. */
  const settle = () => Promise.resolve().then(() => undefined);

  it('sends the last body once typing pauses, not each keystroke', async () => {
    const server = fakeServer();
    const answers: (IPreviewAnswer | null)[] = [];
    const previewer = new Previewer(server.fetch, a => answers.push(a), 300);
    for (const retries of [1, 10, 101]) {
      previewer.request({ retries });
      jest.advanceTimersByTime(100);
    }
    expect(server.requests).toHaveLength(0);
    jest.advanceTimersByTime(300);
    expect(server.requests.map(r => r.body)).toEqual([{ retries: 101 }]);
    server.requests[0].resolve(
      answer({ valid: false, errors: { retries: 'retries must be 0 to 100, got 101' } })
    );
    await settle();
    expect(answers).toEqual([
      {
        body: { retries: 101 },
        preview: answer({ valid: false, errors: { retries: 'retries must be 0 to 100, got 101' } })
      }
    ]);
    // The same body again asks nothing.
    previewer.request({ retries: 101 });
    jest.advanceTimersByTime(1000);
    expect(server.requests).toHaveLength(1);
  });

  it('drops an answer that arrives after a newer body was typed', async () => {
    const server = fakeServer();
    const answers: (IPreviewAnswer | null)[] = [];
    const previewer = new Previewer(server.fetch, a => answers.push(a), 300);
    previewer.request({ timezone: 'Europe/Paris' });
    jest.advanceTimersByTime(300);
    previewer.request({ timezone: 'Asia/Tokyo' });
    jest.advanceTimersByTime(300);
    expect(server.requests).toHaveLength(2);
    server.requests[1].resolve(answer({ description: 'Tokyo' }));
    server.requests[0].resolve(answer({ description: 'Paris' }));
    await settle();
    expect(answers.map(a => a?.preview.description)).toEqual(['Tokyo']);
  });

  it('reports a failed request as no answer, and nothing once disposed', async () => {
    const server = fakeServer();
    const answers: (IPreviewAnswer | null)[] = [];
    const previewer = new Previewer(server.fetch, a => answers.push(a), 300);
    previewer.request({ retries: 1 });
    jest.advanceTimersByTime(300);
    server.requests[0].reject();
    await settle();
    await settle();
    expect(answers).toEqual([null]);

    previewer.request({ retries: 2 });
    jest.advanceTimersByTime(300);
    previewer.dispose();
    server.requests[1].resolve(answer({}));
    previewer.request({ retries: 3 });
    previewer.dispose();
    jest.advanceTimersByTime(1000);
    await settle();
    expect(answers).toEqual([null]);
    expect(server.requests).toHaveLength(2);
  });
});

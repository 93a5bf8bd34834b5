/**
 * The Execute dialog's checks are the server's: `POST /api/schedules/preview` answers, for the fields
 * given, what is wrong with each (in the words creating the schedule would use), the recurrence in
 * words and its next runs in the schedule's zone. This module builds that request from the dialog's
 * texts, maps the answer back to the dialog's fields, and asks at most once per pause in typing.
 * No React, no JupyterLab: the fetch is passed in.
 */
import type { SchedulePreview } from './tokens';

/** What the dialog sends to be checked, as typed. */
export interface IPreviewInput {
  /** On a schedule: name, recurrence, zone and webhook are checked too. */
  recurring: boolean;
  name: string;
  /** The picker's expression; null while the picker's own choice is incomplete (no day chosen). */
  cron: string | null;
  timezone: string;
  timeout: string;
  cellTimeout: string;
  retries: string;
  outputDir: string;
  webhook: string;
  outputs: string[];
  expect: string[];
}

/** A body of `POST /api/schedules`, any part of it. */
export type PreviewBody = { [field: string]: unknown };

/** The number a text reads as, else the text itself: the server then says at the field what it
 * expected ("expected a whole number"), rather than the dialog guessing. */
export function typedNumber(text: string): unknown {
  const trimmed = text.trim();
  const value = Number(trimmed);
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed) && Number.isFinite(value)
    ? value
    : trimmed;
}

/** The fields to check: those typed (an empty box is the server's default, not sent). */
export function previewBody(input: IPreviewInput): PreviewBody {
  const body: PreviewBody = {};
  const text = (field: string, value: string) => {
    if (value.trim() !== '') {
      body[field] = value.trim();
    }
  };
  const number = (field: string, value: string) => {
    if (value.trim() !== '') {
      body[field] = typedNumber(value);
    }
  };
  if (input.recurring) {
    body.name = input.name;
    if (input.cron !== null) {
      body.cron = input.cron;
    }
    body.timezone = input.timezone;
    if (input.webhook.trim() !== '') {
      body.notify = { url: input.webhook.trim(), on_failure: true, on_success: false };
    }
  }
  number('timeout', input.timeout);
  number('cell_timeout', input.cellTimeout);
  number('retries', input.retries);
  text('output_dir', input.outputDir);
  if (input.outputs.length > 0) {
    body.outputs = input.outputs;
  }
  if (input.expect.length > 0) {
    body.expect = input.expect;
  }
  return body;
}

/** The server's field → the dialog's (the others are spelled alike). */
const DIALOG_FIELD: { [server: string]: string } = {
  cell_timeout: 'cellTimeout',
  output_dir: 'outputDir',
  notify: 'webhook',
  every: 'cron'
};

/** The answer to `body` and the body it answers. */
export interface IPreviewAnswer {
  body: PreviewBody;
  preview: SchedulePreview;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The server's messages by dialog field, for the fields whose value is still the one it checked: a
 * field typed since waits for the next answer rather than showing a message about an older text.
 */
export function fieldErrors(
  answer: IPreviewAnswer | null,
  current: PreviewBody
): { [field: string]: string } {
  const errors: { [field: string]: string } = {};
  for (const [field, message] of Object.entries(answer?.preview.errors ?? {})) {
    if (same(answer?.body[field], current[field])) {
      errors[DIALOG_FIELD[field] ?? field] = message;
    }
  }
  return errors;
}

/** The recurrence in words and its next runs, when the answer is about the current expression and
 * zone and the server could describe it; null otherwise. */
export function recurrencePreview(
  answer: IPreviewAnswer | null,
  current: PreviewBody
): { description: string; runs: string[] } | null {
  if (
    !answer ||
    current.cron === undefined ||
    !same(answer.body.cron, current.cron) ||
    !same(answer.body.timezone, current.timezone) ||
    !answer.preview.description
  ) {
    return null;
  }
  return { description: answer.preview.description, runs: answer.preview.next_runs };
}

/**
 * Asks for the preview of the latest body once typing pauses for `delay` ms; an answer to a body
 * that is no longer the latest is dropped, so answers arriving out of order do no harm. A failed
 * request is reported as null: the dialog then relies on the server's answer to the submit.
 */
export class Previewer {
  constructor(
    private readonly fetch: (body: PreviewBody) => Promise<SchedulePreview>,
    private readonly onAnswer: (answer: IPreviewAnswer | null) => void,
    private readonly delay = 300
  ) {}

  /** The body now typed; nothing is sent when it is the one last asked about. */
  request(body: PreviewBody): void {
    const key = JSON.stringify(body);
    if (key === this.latest) {
      return;
    }
    this.latest = key;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fetch(body).then(
        preview => key === this.latest && this.onAnswer({ body, preview }),
        () => key === this.latest && this.onAnswer(null)
      );
    }, this.delay);
  }

  /** Nothing more is sent or reported (the dialog closed). */
  dispose(): void {
    clearTimeout(this.timer);
    this.latest = null;
  }

  private latest: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
}

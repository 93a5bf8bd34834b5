/**
 * The friendly frequency picker (every N minutes / hours, daily, weekly on days, monthly on day D, or a
 * raw cron expression) and the preview: the server's words for the frequency and its next runs,
 * labelled with the schedule's time zone (`POST /api/schedules/preview`, `src/preview.ts`).
 */
import * as React from 'react';

import {
  counted,
  DAY_NAMES,
  Frequency,
  FrequencyField,
  HOUR_STEPS,
  MINUTE_STEPS,
  INITIAL_MEMORY,
  Memory,
  remember,
  switchKind
} from '../cron';
import { Field, FieldError } from './Field';

const KINDS: { kind: Frequency['kind']; label: string }[] = [
  { kind: 'minutes', label: 'Every N minutes' },
  { kind: 'hours', label: 'Every N hours' },
  { kind: 'daily', label: 'Daily' },
  { kind: 'weekly', label: 'Weekly' },
  { kind: 'monthly', label: 'Monthly' },
  { kind: 'cron', label: 'Cron expression' }
];

export function FrequencyPicker(props: {
  frequency: Frequency;
  onChange: (frequency: Frequency) => void;
  /** What is wrong with the choice, shown at the field it is about. */
  error?: { field: FrequencyField; message: string } | null;
}): JSX.Element {
  const f = props.frequency;
  const errorAt = (field: FrequencyField) =>
    props.error?.field === field ? props.error.message : null;
  const memory = React.useRef<Memory>(remember(INITIAL_MEMORY, f));
  memory.current = remember(memory.current, f);
  const timeValue = 'hour' in f ? `${pad(f.hour)}:${pad(f.minute)}` : '';
  const setTime = (text: string) => {
    const [h, m] = text.split(':').map(Number);
    if ('hour' in f && Number.isInteger(h) && Number.isInteger(m)) {
      props.onChange({ ...f, hour: h, minute: m } as Frequency);
    }
  };
  const setKind = (kind: Frequency['kind']) => props.onChange(switchKind(f, kind, memory.current));
  return (
    <div className="nbgate-FrequencyPicker">
      <Field
        id="nbgate-FrequencyPicker-kind"
        label="Repeat"
        control={control => (
          <select
            {...control}
            className="nbgate-FrequencyPicker-kind"
            value={f.kind}
            onChange={e => setKind(e.target.value as Frequency['kind'])}
          >
            {KINDS.map(k => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        )}
      />
      {f.kind === 'minutes' && (
        <StepSelect
          unit="minute"
          steps={MINUTE_STEPS}
          value={f.every}
          help="Steps that divide 60, so runs are evenly spaced every hour; for other intervals, write a cron expression."
          onChange={every => props.onChange({ ...f, every })}
        />
      )}
      {f.kind === 'hours' && (
        <>
          <StepSelect
            unit="hour"
            steps={HOUR_STEPS}
            value={f.every}
            help="Steps that divide 24, so runs are evenly spaced every day; for other intervals, write a cron expression."
            onChange={every => props.onChange({ ...f, every })}
          />
          <NumberField
            label="At minute"
            className="nbgate-FrequencyPicker-minute"
            value={f.minute}
            error={errorAt('minute')}
            onChange={minute => props.onChange({ ...f, minute })}
          />
        </>
      )}
      {f.kind === 'weekly' && (
        <fieldset
          className="nbgate-Field nbgate-FrequencyPicker-days"
          aria-describedby={errorAt('days') ? 'nbgate-FrequencyPicker-days-error' : undefined}
        >
          <legend>On</legend>
          <div className="nbgate-Field-control">
            <div className="nbgate-FrequencyPicker-dayList">
              {DAY_NAMES.map((day, index) => (
                <label key={day}>
                  <input
                    type="checkbox"
                    value={index}
                    aria-label={day}
                    checked={f.days.includes(index)}
                    onChange={e =>
                      props.onChange({
                        ...f,
                        days: e.target.checked
                          ? [...f.days, index]
                          : f.days.filter(d => d !== index)
                      })
                    }
                  />
                  <span aria-hidden="true">{day.slice(0, 3)}</span>
                </label>
              ))}
            </div>
            <FieldError id="nbgate-FrequencyPicker-days-error" message={errorAt('days')} />
          </div>
        </fieldset>
      )}
      {f.kind === 'monthly' && (
        <NumberField
          label="On day"
          className="nbgate-FrequencyPicker-day"
          value={f.day}
          error={errorAt('day')}
          help={f.day > 28 ? `Months without a day ${f.day} are skipped.` : undefined}
          onChange={day => props.onChange({ ...f, day })}
        />
      )}
      {(f.kind === 'daily' || f.kind === 'weekly' || f.kind === 'monthly') && (
        <Field
          id="nbgate-FrequencyPicker-time"
          label="At"
          control={control => (
            <input
              {...control}
              type="time"
              className="nbgate-FrequencyPicker-time"
              value={timeValue}
              required
              onChange={e => setTime(e.target.value)}
            />
          )}
        />
      )}
      {f.kind === 'cron' && (
        <Field
          id="nbgate-FrequencyPicker-cron"
          label="Cron expression"
          help="minute hour day-of-month month day-of-week, e.g. 30 8 * * 1-5"
          error={errorAt('cron')}
          control={control => (
            <input
              {...control}
              type="text"
              className="nbgate-FrequencyPicker-cron"
              value={f.expression}
              autoComplete="off"
              spellCheck={false}
              onChange={e => props.onChange({ kind: 'cron', expression: e.target.value })}
            />
          )}
        />
      )}
      {f.kind !== 'cron' && (
        <FieldError id="nbgate-FrequencyPicker-error" message={errorAt('cron')} />
      )}
    </div>
  );
}

/** A small whole number typed as text: kept as typed, NaN to the picker until it is digits. */
function NumberField(props: {
  label: string;
  className: string;
  value: number;
  help?: string;
  error?: string | null;
  onChange: (value: number) => void;
}): JSX.Element {
  const [text, setText] = React.useState(String(props.value));
  // A value set from outside (switching kinds) replaces the text; one typed here keeps it.
  const shown =
    Number.isNaN(props.value) || Number(text) === props.value ? text : String(props.value);
  return (
    <Field
      id={`nbgate-${props.className.replace(/^nbgate-/, '')}`}
      label={props.label}
      help={props.help}
      error={props.error}
      control={control => (
        <input
          {...control}
          type="text"
          inputMode="numeric"
          autoComplete="off"
          className={props.className}
          value={shown}
          onChange={e => {
            setText(e.target.value);
            const trimmed = e.target.value.trim();
            props.onChange(/^[0-9]{1,2}$/.test(trimmed) ? Number(trimmed) : NaN);
          }}
        />
      )}
    />
  );
}

function StepSelect(props: {
  unit: string;
  steps: number[];
  value: number;
  help: string;
  onChange: (value: number) => void;
}): JSX.Element {
  return (
    <Field
      id="nbgate-FrequencyPicker-every"
      label="Every"
      help={props.help}
      control={control => (
        <select
          {...control}
          className="nbgate-FrequencyPicker-every"
          value={props.value}
          onChange={e => props.onChange(Number(e.target.value))}
        >
          {props.steps.map(step => (
            <option key={step} value={step}>
              {counted(step, props.unit)}
            </option>
          ))}
        </select>
      )}
    />
  );
}

/** A run time in the schedule's zone, labelled with it: "Mon 7 Dec 2026, 10:00 (Asia/Tokyo)". */
export function formatRun(run: Date, timeZone: string, locale?: string): string {
  const text = run.toLocaleString(locale, {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23'
  });
  return `${text} (${timeZone})`;
}

/**
 * The frequency in the server's words and its next runs in the schedule's zone; "Checking…" until the
 * server has answered about the expression and zone now shown (or a word that it did not).
 */
export function Preview(props: {
  cron: string;
  timezone: string;
  preview: { description: string; runs: string[] } | null;
  /** The server did not answer: say so rather than "Checking…" forever. */
  unchecked?: boolean;
}): JSX.Element {
  const { preview } = props;
  const waiting = props.unchecked
    ? 'Not checked yet (the server did not answer): it is checked when you create the schedule.'
    : 'Checking the schedule…';
  return (
    <div className="nbgate-Preview" aria-live="polite">
      <div className="nbgate-Preview-description">{preview ? preview.description : waiting}</div>
      <div className="nbgate-Preview-cron">
        cron: <code>{props.cron}</code>
      </div>
      {preview && (
        <>
          <div className="nbgate-Preview-next">Next runs:</div>
          <ol className="nbgate-Preview-runs">
            {preview.runs.map(run => (
              <li key={run}>{formatRun(new Date(run), props.timezone)}</li>
            ))}
            {preview.runs.length === 0 && <li>never runs</li>}
          </ol>
        </>
      )}
    </div>
  );
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

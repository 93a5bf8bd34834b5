/**
 * The friendly frequency picker (every N minutes / hours, daily, weekly on days, monthly on day D, or a
 * raw cron expression) and the preview: the frequency in words and the next three runs.
 */
import * as React from 'react';

import {
  DAY_NAMES,
  describeCron,
  Frequency,
  HOUR_STEPS,
  MINUTE_STEPS,
  nextRuns,
  toCron
} from '../cron';

const KINDS: { kind: Frequency['kind']; label: string }[] = [
  { kind: 'minutes', label: 'Every N minutes' },
  { kind: 'hours', label: 'Every N hours' },
  { kind: 'daily', label: 'Daily' },
  { kind: 'weekly', label: 'Weekly' },
  { kind: 'monthly', label: 'Monthly' },
  { kind: 'cron', label: 'Cron expression' }
];

/** Switching kinds keeps the time of day where it can. */
function switchKind(current: Frequency, kind: Frequency['kind']): Frequency {
  const hour = 'hour' in current ? current.hour : 9;
  const minute = 'minute' in current ? current.minute : 0;
  switch (kind) {
    case 'minutes':
      return { kind, every: 15 };
    case 'hours':
      return { kind, every: 1, minute };
    case 'daily':
      return { kind, hour, minute };
    case 'weekly':
      return { kind, days: [1], hour, minute };
    case 'monthly':
      return { kind, day: 1, hour, minute };
    case 'cron':
      return { kind, expression: toCron(current) };
  }
}

export function FrequencyPicker(props: {
  frequency: Frequency;
  onChange: (frequency: Frequency) => void;
}): JSX.Element {
  const f = props.frequency;
  const timeValue = 'hour' in f ? `${pad(f.hour)}:${pad(f.minute)}` : '';
  const setTime = (text: string) => {
    const [h, m] = text.split(':').map(Number);
    if ('hour' in f && Number.isInteger(h) && Number.isInteger(m)) {
      props.onChange({ ...f, hour: h, minute: m } as Frequency);
    }
  };
  return (
    <div className="nbgate-FrequencyPicker">
      <label className="nbgate-Field">
        <span>Repeat</span>
        <select
          className="nbgate-FrequencyPicker-kind"
          value={f.kind}
          onChange={e => props.onChange(switchKind(f, e.target.value as Frequency['kind']))}
        >
          {KINDS.map(k => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      {f.kind === 'minutes' && (
        <StepSelect
          label="Every"
          unit="minutes"
          steps={MINUTE_STEPS}
          value={f.every}
          onChange={every => props.onChange({ ...f, every })}
        />
      )}
      {f.kind === 'hours' && (
        <>
          <StepSelect
            label="Every"
            unit="hours"
            steps={HOUR_STEPS}
            value={f.every}
            onChange={every => props.onChange({ ...f, every })}
          />
          <NumberField
            label="At minute"
            className="nbgate-FrequencyPicker-minute"
            min={0}
            max={59}
            value={f.minute}
            onChange={minute => props.onChange({ ...f, minute })}
          />
        </>
      )}
      {f.kind === 'weekly' && (
        <div className="nbgate-FrequencyPicker-days">
          {DAY_NAMES.map((day, index) => (
            <label key={day} title={day}>
              <input
                type="checkbox"
                value={index}
                checked={f.days.includes(index)}
                onChange={e =>
                  props.onChange({
                    ...f,
                    days: e.target.checked ? [...f.days, index] : f.days.filter(d => d !== index)
                  })
                }
              />
              {day.slice(0, 3)}
            </label>
          ))}
        </div>
      )}
      {f.kind === 'monthly' && (
        <NumberField
          label="On day"
          className="nbgate-FrequencyPicker-day"
          min={1}
          max={31}
          value={f.day}
          onChange={day => props.onChange({ ...f, day })}
        />
      )}
      {(f.kind === 'daily' || f.kind === 'weekly' || f.kind === 'monthly') && (
        <label className="nbgate-Field">
          <span>At</span>
          <input
            type="time"
            className="nbgate-FrequencyPicker-time"
            value={timeValue}
            onChange={e => setTime(e.target.value)}
          />
        </label>
      )}
      {f.kind === 'cron' && (
        <label className="nbgate-Field">
          <span>Cron</span>
          <input
            className="nbgate-FrequencyPicker-cron"
            value={f.expression}
            placeholder="minute hour day-of-month month day-of-week"
            onChange={e => props.onChange({ kind: 'cron', expression: e.target.value })}
          />
        </label>
      )}
      {f.kind === 'weekly' && f.days.length === 0 && (
        <div className="nbgate-FieldError">choose at least one day</div>
      )}
    </div>
  );
}

/** A whole number within `min..=max`. */
function NumberField(props: {
  label: string;
  className: string;
  min: number;
  max: number;
  value: number;
  onChange: (value: number) => void;
}): JSX.Element {
  return (
    <label className="nbgate-Field">
      <span>{props.label}</span>
      <input
        type="number"
        min={props.min}
        max={props.max}
        className={props.className}
        value={props.value}
        onChange={e => props.onChange(clamp(Number(e.target.value), props.min, props.max))}
      />
    </label>
  );
}

function StepSelect(props: {
  label: string;
  unit: string;
  steps: number[];
  value: number;
  onChange: (value: number) => void;
}): JSX.Element {
  return (
    <label className="nbgate-Field">
      <span>{props.label}</span>
      <select
        className="nbgate-FrequencyPicker-every"
        value={props.value}
        onChange={e => props.onChange(Number(e.target.value))}
      >
        {props.steps.map(step => (
          <option key={step} value={step}>
            {step} {props.unit}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The frequency in words and the next three runs, in the chosen time zone. */
export function Preview(props: { cron: string; timezone: string }): JSX.Element {
  const runs = nextRuns(props.cron, props.timezone, new Date(), 3);
  const format = new Intl.DateTimeFormat(undefined, {
    timeZone: props.timezone,
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit'
  });
  return (
    <div className="nbgate-Preview">
      <div className="nbgate-Preview-description">
        {describeCron(props.cron) ?? `Cron ${props.cron}`} ({props.timezone})
      </div>
      <div className="nbgate-Preview-cron">
        cron: <code>{props.cron}</code>
      </div>
      <ol className="nbgate-Preview-runs">
        {runs.map(run => (
          <li key={run.getTime()}>{format.format(run)}</li>
        ))}
        {runs.length === 0 && <li>never runs</li>}
      </ol>
    </div>
  );
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function clamp(n: number, min: number, max: number): number {
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.round(n))) : min;
}

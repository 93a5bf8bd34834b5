/**
 * The Execute dialog's "After other schedules" choice: the upstream schedules (one or more: it runs
 * once each has ended so since it last ran) and how they must have ended. The server checks the
 * choice as it is made (`POST /api/schedules/preview` with `after`): an unknown upstream or a cycle
 * is shown here, under the list.
 */
import * as React from 'react';

import * as api from '../api';
import { AfterOn } from '../pipelines';
import { Schedule } from '../tokens';
import { Field, FieldError } from './Field';

const ON_CHOICES: { on: AfterOn; label: string }[] = [
  { on: 'success', label: 'each succeeded (else this run is skipped)' },
  { on: 'failure', label: 'each failed' },
  { on: 'completion', label: 'each ended, however' }
];

export const AFTER_ERROR_ID = 'nbgate-AfterPicker-error';
const detailId = (name: string): string => `nbgate-AfterPicker-detail_${name}`;

/** The schedules that may be chosen as upstreams (all but `self`), loaded once. */
export function useUpstreamChoices(self: string | undefined): Schedule[] | null {
  const [schedules, setSchedules] = React.useState<Schedule[] | null>(null);
  React.useEffect(() => {
    let live = true;
    api.listSchedules().then(
      list => live && setSchedules(list.filter(schedule => schedule.id !== self)),
      () => live && setSchedules([])
    );
    return () => {
      live = false;
    };
  }, [self]);
  return schedules;
}

export function AfterPicker(props: {
  /** The schedules to choose from; null while they load. */
  choices: Schedule[] | null;
  upstreams: string[];
  on: AfterOn;
  /** What is wrong with the choice (the server's word, or none chosen). */
  error: string | null;
  /** The trigger in words ("After a and b end (UTC)"), once the server checked it. */
  description: string | null;
  onChange: (upstreams: string[], on: AfterOn) => void;
}): JSX.Element {
  const { choices, upstreams } = props;
  // An upstream chosen before (editing) that is no longer listed stays shown, to be unticked.
  const names = [
    ...(choices ?? []).map(schedule => schedule.name),
    ...upstreams.filter(name => !(choices ?? []).some(schedule => schedule.name === name))
  ];
  const toggle = (name: string, checked: boolean) =>
    props.onChange(
      checked
        ? names.filter(n => n === name || upstreams.includes(n))
        : upstreams.filter(n => n !== name),
      props.on
    );
  return (
    <div className="nbgate-AfterPicker">
      <fieldset className="nbgate-AfterPicker-upstreams">
        <legend>Run after</legend>
        {choices === null ? (
          <div className="nbgate-Loading" role="status">
            Listing the schedules…
          </div>
        ) : names.length === 0 ? (
          <p className="nbgate-Hint nbgate-AfterPicker-none">
            No other schedule yet: create the schedule this one runs after first.
          </p>
        ) : (
          <ul className="nbgate-AfterPicker-list">
            {names.map(name => {
              const schedule = choices.find(s => s.name === name);
              return (
                <li key={name}>
                  <label>
                    <input
                      type="checkbox"
                      className="nbgate-AfterPicker-upstream"
                      value={name}
                      checked={upstreams.includes(name)}
                      aria-describedby={[detailId(name), props.error ? AFTER_ERROR_ID : '']
                        .join(' ')
                        .trim()}
                      aria-invalid={props.error ? true : undefined}
                      onChange={e => toggle(name, e.target.checked)}
                    />
                    <span className="nbgate-AfterPicker-name">{name}</span>
                  </label>
                  <span id={detailId(name)} className="nbgate-Hint nbgate-AfterPicker-detail">
                    {schedule
                      ? `${schedule.notebook} · ${schedule.description}`
                      : 'no longer exists'}
                  </span>
                </li>
              );
            })}
          </ul>
        )}
      </fieldset>
      <FieldError id={AFTER_ERROR_ID} message={props.error} />
      <Field
        id="nbgate-AfterPicker-on"
        label="Run when"
        help={
          upstreams.length > 1 ? 'It runs once all of them have ended so since it last ran' : ''
        }
        control={control => (
          <select
            {...control}
            className="nbgate-AfterPicker-on"
            value={props.on}
            onChange={e => props.onChange(upstreams, e.target.value as AfterOn)}
          >
            {ON_CHOICES.map(choice => (
              <option key={choice.on} value={choice.on}>
                {choice.label}
              </option>
            ))}
          </select>
        )}
      />
      {props.description && !props.error && (
        <div className="nbgate-Preview nbgate-AfterPicker-description" aria-live="polite">
          <div className="nbgate-Preview-description">{props.description}</div>
        </div>
      )}
    </div>
  );
}

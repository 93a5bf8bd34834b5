/**
 * Backfill: a schedule run once for each time it would have fired in a date range (in its own zone),
 * each run with that fire time (and the fire-time parameter set from it), optionally with the
 * schedules that run after it (`POST /api/schedules/{id}/backfill`). The server's message about a
 * bound is shown at that bound.
 */
import * as React from 'react';

import { backfillSchedule, Queued } from '../pipelines';
import { Schedule } from '../tokens';
import { Field } from './Field';
import { ModalDialog, openModal } from './ModalDialog';

const TITLE_ID = 'nbgate-BackfillDialog-title';

/** `YYYY-MM-DD` of a day `days` before today, in the browser's zone. */
export function dayBefore(days: number, now: Date = new Date()): string {
  const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() - days);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}

/** The bound a server message is about (`from: …`, `to: …`), else null. */
export function boundOfMessage(message: string): 'from' | 'to' | null {
  const match = /^(from|to)\b/.exec(message);
  return match ? (match[1] as 'from' | 'to') : null;
}

export function openBackfillDialog(
  schedule: Schedule,
  /** The schedules that run after it (offered to run after each backfilled run). */
  dependants: string[],
  onDone: (queued: Queued) => void
): void {
  openModal(close => (
    <BackfillDialog
      schedule={schedule}
      dependants={dependants}
      onCancel={close}
      onDone={queued => {
        close();
        onDone(queued);
      }}
    />
  ));
}

export function BackfillDialog(props: {
  schedule: Schedule;
  dependants: string[];
  onDone: (queued: Queued) => void;
  onCancel: () => void;
}): JSX.Element {
  const { schedule } = props;
  const [from, setFrom] = React.useState(() => dayBefore(7));
  const [to, setTo] = React.useState(() => dayBefore(1));
  const [downstream, setDownstream] = React.useState(props.dependants.length > 0);
  const [submitting, setSubmitting] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const first = React.useRef<HTMLInputElement>(null);
  React.useEffect(() => first.current?.focus(), []);
  const bound = error ? boundOfMessage(error) : null;
  const errorAt = (field: 'from' | 'to') => (bound === field ? error : null);
  const missing = from === '' || to === '';

  const submit = async () => {
    if (missing || submitting) {
      return;
    }
    setSubmitting(true);
    setError(null);
    try {
      props.onDone(await backfillSchedule(schedule.id, { from, to, downstream }));
    } catch (failure) {
      setError((failure as Error).message);
      setSubmitting(false);
    }
  };

  return (
    <ModalDialog
      labelledBy={TITLE_ID}
      className="nbgate-BackfillDialog"
      onRequestClose={props.onCancel}
    >
      <form
        noValidate
        onSubmit={event => {
          event.preventDefault();
          void submit();
        }}
      >
        <h2 id={TITLE_ID} className="nbgate-ExecuteDialog-title">
          Backfill {schedule.name}
          <span className="nbgate-ExecuteDialog-path">{schedule.description}</span>
        </h2>
        <p className="nbgate-Hint">
          One run for each time the schedule would have fired between these days (in{' '}
          {schedule.timezone}), each with that fire time; they run {schedule.max_concurrent} at a
          time.
        </p>
        {(['from', 'to'] as const).map(bound => (
          <Field
            key={bound}
            id={`nbgate-BackfillDialog-${bound}`}
            label={bound === 'from' ? 'From (first day)' : 'To (last day, included)'}
            error={errorAt(bound)}
            control={control => (
              <input
                {...control}
                ref={bound === 'from' ? first : undefined}
                type="date"
                className={`nbgate-BackfillDialog-${bound}`}
                value={bound === 'from' ? from : to}
                required
                onChange={e => {
                  (bound === 'from' ? setFrom : setTo)(e.target.value);
                  setError(null);
                }}
              />
            )}
          />
        ))}
        {props.dependants.length > 0 && (
          <Field
            id="nbgate-BackfillDialog-downstream"
            label="Downstream"
            help={`${props.dependants.join(', ')} run after each backfilled run, as they would have`}
            control={control => (
              <label className="nbgate-Check">
                <input
                  {...control}
                  type="checkbox"
                  className="nbgate-BackfillDialog-downstream"
                  checked={downstream}
                  onChange={e => setDownstream(e.target.checked)}
                />
                Also run the schedules after it
              </label>
            )}
          />
        )}
        {error && !bound && (
          <div className="nbgate-Error nbgate-BackfillDialog-error" role="alert">
            {error}
          </div>
        )}
        <div className="nbgate-ExecuteDialog-buttons">
          {missing && (
            <span className="nbgate-Hint nbgate-ExecuteDialog-invalid">Choose both days.</span>
          )}
          <button
            type="button"
            className="jp-Dialog-button jp-mod-reject jp-mod-styled"
            onClick={props.onCancel}
          >
            Cancel
          </button>
          <button
            type="submit"
            className="jp-Dialog-button jp-mod-accept jp-mod-styled nbgate-BackfillDialog-submit"
            disabled={missing || submitting}
          >
            {submitting ? 'Queuing…' : 'Backfill'}
          </button>
        </div>
      </form>
    </ModalDialog>
  );
}

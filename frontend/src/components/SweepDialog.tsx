/**
 * Sweep: a schedule run once per combination of the values typed for some of its parameters
 * (`POST /api/schedules/{id}/sweep`), then the sweep's comparison table (`GET /api/sweeps/{id}`):
 * one row per execution with the parameters varied, its status and what it recorded, kept fresh
 * while its runs go on. The table opens from a sweep's execution too ("Sweep table").
 */
import * as React from 'react';
import { ISignal } from '@lumino/signaling';

import * as api from '../api';
import { statusWord } from '../format';
import { getSweep, recordedNames, Sweep, sweepGrid, sweepSchedule } from '../pipelines';
import { ParameterField, parameterFields } from '../schema';
import { valueText } from '../trends';
import { isTerminal, Schedule } from '../tokens';
import { Field } from './Field';
import { ModalDialog, openModal } from './ModalDialog';
import { StatusIcon } from './StatusIcon';

const TITLE_ID = 'nbgate-SweepDialog-title';

/** What the dialogs need from their host. */
export interface ISweepHost {
  /** Emitted when the executions change (the model's `changed`): the table is fetched again. */
  changed: ISignal<unknown, void>;
  /** Opens an execution's result. */
  openResult: (id: string, name: string) => void;
}

/** The sweep form for a schedule; after the submit, the sweep's table in the same dialog. */
export function openSweepDialog(
  schedule: Schedule,
  host: ISweepHost,
  onQueued: (count: number) => void
): void {
  openModal(close => (
    <SweepDialog schedule={schedule} host={host} onClose={close} onQueued={onQueued} />
  ));
}

/** The table of a sweep. */
export function openSweepTable(sweepId: string, host: ISweepHost): void {
  openModal(close => (
    <ModalDialog labelledBy={TITLE_ID} className="nbgate-SweepDialog" onRequestClose={close}>
      <SweepTable sweepId={sweepId} host={host} onClose={close} />
    </ModalDialog>
  ));
}

function SweepDialog(props: {
  schedule: Schedule;
  host: ISweepHost;
  onClose: () => void;
  onQueued: (count: number) => void;
}): JSX.Element {
  const { schedule } = props;
  const [fields, setFields] = React.useState<ParameterField[] | null>(null);
  const [loadError, setLoadError] = React.useState<string | null>(null);
  const [texts, setTexts] = React.useState<{ [name: string]: string }>({});
  const [submitting, setSubmitting] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [sweepId, setSweepId] = React.useState<string | null>(null);
  const formRef = React.useRef<HTMLFormElement>(null);

  React.useEffect(() => {
    let live = true;
    api.notebookParameters(schedule.notebook).then(
      info => {
        if (live) {
          // A parameter set when the schedule runs (from an upstream, the fire time) is not swept.
          const from = schedule.parameters_from ?? {};
          setFields(parameterFields(info.parameters ?? []).filter(field => !(field.name in from)));
        }
      },
      failure => live && setLoadError((failure as Error).message)
    );
    return () => {
      live = false;
    };
  }, [schedule.id]);
  React.useEffect(() => {
    if (fields) {
      formRef.current?.querySelector<HTMLElement>('input')?.focus();
    }
  }, [fields]);

  if (sweepId) {
    return (
      <ModalDialog
        labelledBy={TITLE_ID}
        className="nbgate-SweepDialog"
        onRequestClose={props.onClose}
      >
        <SweepTable sweepId={sweepId} host={props.host} onClose={props.onClose} />
      </ModalDialog>
    );
  }
  const { grid, errors, count } = sweepGrid(fields ?? [], texts);
  const valid = fields !== null && Object.keys(errors).length === 0 && count > 0;
  const submit = async () => {
    if (!valid || submitting) {
      return;
    }
    setSubmitting(true);
    setError(null);
    try {
      const queued = await sweepSchedule(schedule.id, grid);
      props.onQueued(queued.executions.length);
      setSweepId(queued.sweep_id ?? null);
      if (!queued.sweep_id) {
        props.onClose();
      }
    } catch (failure) {
      setError((failure as Error).message);
      setSubmitting(false);
    }
  };
  const current = (name: string) =>
    name in schedule.parameters ? valueText(schedule.parameters[name]) : null;
  return (
    <ModalDialog
      labelledBy={TITLE_ID}
      className="nbgate-SweepDialog"
      onRequestClose={props.onClose}
    >
      <form
        ref={formRef}
        noValidate
        onSubmit={event => {
          event.preventDefault();
          void submit();
        }}
      >
        <h2 id={TITLE_ID} className="nbgate-ExecuteDialog-title">
          Sweep {schedule.name}
          <span className="nbgate-ExecuteDialog-path">{schedule.notebook}</span>
        </h2>
        <p className="nbgate-Hint">
          One run per combination of the values below; a parameter left empty keeps the schedule's
          value. The runs are compared in a table.
        </p>
        {loadError && (
          <div className="nbgate-Error" role="alert">
            {loadError}
          </div>
        )}
        {!fields && !loadError && (
          <div className="nbgate-Loading" role="status">
            Reading the notebook's parameters…
          </div>
        )}
        {fields && fields.length === 0 && (
          <p className="nbgate-Hint">The notebook has no parameter to sweep.</p>
        )}
        {fields?.map(field => (
          <Field
            key={field.name}
            id={`nbgate-sweep_${field.name}`}
            label={<code>{field.name}</code>}
            help={`values separated by commas, or a JSON list; empty: ${
              current(field.name) ?? field.default
            }${field.help ? ` · ${field.help}` : ''}`}
            error={errors[field.name]}
            control={control => (
              <input
                {...control}
                type="text"
                className="nbgate-SweepDialog-values"
                autoComplete="off"
                spellCheck={false}
                placeholder={field.kind === 'int' ? 'e.g. 2, 3, 4' : undefined}
                value={texts[field.name] ?? ''}
                onChange={e => {
                  setError(null);
                  setTexts(before => ({ ...before, [field.name]: e.target.value }));
                }}
              />
            )}
          />
        ))}
        {error && (
          <div className="nbgate-Error nbgate-SweepDialog-error" role="alert">
            {error}
          </div>
        )}
        <div className="nbgate-ExecuteDialog-buttons">
          <span
            className="nbgate-Hint nbgate-ExecuteDialog-invalid nbgate-SweepDialog-count"
            role="status"
          >
            {count === 0
              ? 'Type the values of at least one parameter.'
              : `${count} run${count === 1 ? '' : 's'}`}
          </span>
          <button
            type="button"
            className="jp-Dialog-button jp-mod-reject jp-mod-styled"
            onClick={props.onClose}
          >
            Cancel
          </button>
          <button
            type="submit"
            className="jp-Dialog-button jp-mod-accept jp-mod-styled nbgate-SweepDialog-submit"
            disabled={!valid || submitting}
          >
            {submitting ? 'Queuing…' : count > 1 ? `Run ${count}` : 'Run'}
          </button>
        </div>
      </form>
    </ModalDialog>
  );
}

/** The sweep's comparison table, fetched again while its runs go on. */
export function SweepTable(props: {
  sweepId: string;
  host: ISweepHost;
  onClose: () => void;
}): JSX.Element {
  const [sweep, setSweep] = React.useState<Sweep | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const close = React.useRef<HTMLButtonElement>(null);
  const done = sweep !== null && sweep.rows.every(row => isTerminal(row.status));
  React.useEffect(() => {
    let live = true;
    const load = () =>
      getSweep(props.sweepId).then(
        next => live && setSweep(next),
        failure => live && setError((failure as Error).message)
      );
    void load();
    if (done) {
      return () => {
        live = false;
      };
    }
    props.host.changed.connect(load);
    return () => {
      live = false;
      props.host.changed.disconnect(load);
    };
  }, [props.sweepId, done]);
  React.useEffect(() => close.current?.focus(), []);
  const values = sweep ? recordedNames(sweep.rows) : [];
  const ended = sweep ? sweep.rows.filter(row => isTerminal(row.status)).length : 0;
  return (
    <div className="nbgate-SweepTable-panel">
      <h2 id={TITLE_ID} className="nbgate-ExecuteDialog-title">
        Sweep of {sweep?.schedule_name ?? '…'}
        <span className="nbgate-ExecuteDialog-path">
          {sweep ? `${ended} of ${sweep.rows.length} runs ended` : 'Loading…'}
        </span>
      </h2>
      {error && (
        <div className="nbgate-Error" role="alert">
          {error}
        </div>
      )}
      {sweep && (
        <div className="nbgate-SweepTable-scroll">
          <table className="nbgate-SweepTable">
            <caption className="nbgate-VisuallyHidden">
              Runs of the sweep: parameters varied, status and recorded values
            </caption>
            <colgroup />
            <colgroup span={sweep.varied.length} />
            <colgroup />
            {values.length > 0 && <colgroup span={values.length} />}
            <thead>
              <tr>
                <th scope="col" rowSpan={2}>
                  Run
                </th>
                <th scope="colgroup" colSpan={sweep.varied.length}>
                  Parameters
                </th>
                <th scope="col" rowSpan={2}>
                  Status
                </th>
                {values.length > 0 && (
                  <th scope="colgroup" colSpan={values.length}>
                    Recorded values
                  </th>
                )}
              </tr>
              <tr>
                {sweep.varied.map(name => (
                  <th scope="col" key={`p-${name}`} className="nbgate-SweepTable-parameter">
                    <code>{name}</code>
                  </th>
                ))}
                {values.map(name => (
                  <th scope="col" key={`v-${name}`} className="nbgate-SweepTable-value">
                    <code>{name}</code>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {sweep.rows.map((row, index) => (
                <tr key={row.execution_id} data-id={row.execution_id} data-status={row.status}>
                  <th scope="row">
                    <button
                      type="button"
                      className="nbgate-LinkButton nbgate-SweepTable-open"
                      title={row.name}
                      aria-label={`Run ${index + 1}: view result of ${row.name}`}
                      onClick={() => {
                        props.onClose();
                        props.host.openResult(row.execution_id, row.name);
                      }}
                    >
                      {index + 1}
                    </button>
                  </th>
                  {sweep.varied.map(name => (
                    <td key={`p-${name}`} className="nbgate-SweepTable-parameter">
                      <code>{valueText(row.parameters[name])}</code>
                    </td>
                  ))}
                  <td className="nbgate-SweepTable-status" title={row.reason ?? undefined}>
                    <StatusIcon status={row.status} decorative /> {statusWord(row.status)}
                  </td>
                  {values.map(name => (
                    <td key={`v-${name}`} className="nbgate-SweepTable-value">
                      {name in (row.values ?? {}) ? (
                        <code>{valueText(row.values[name])}</code>
                      ) : (
                        '—'
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="nbgate-ExecuteDialog-buttons">
        <button
          type="button"
          ref={close}
          className="jp-Dialog-button jp-mod-accept jp-mod-styled nbgate-SweepTable-close"
          onClick={props.onClose}
        >
          Close
        </button>
      </div>
    </div>
  );
}

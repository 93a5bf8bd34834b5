/**
 * The left-sidebar panel: Schedules and Executions tabs over the model, live.
 */
import * as React from 'react';

import {
  executionDuration,
  formatError,
  formatParameters,
  formatTime,
  statusWord
} from '../format';
import { NbgateModel } from '../model';
import { canCompare } from '../compare';
import {
  EXECUTION_STATUSES,
  Execution,
  ExecutionStatus,
  isTerminal,
  Schedule,
  scheduleCron
} from '../tokens';
import { StatusIcon } from './StatusIcon';
import { MachineTypeLabel } from './MachineType';
import { ChainView } from './ChainView';

/** What the panel asks its host to do (open files, confirm, call the API, notify). */
export interface ISidebarActions {
  openResult(execution: Execution): void;
  /** Opens the schedule's detail (recorded values across runs, outputs). */
  openSchedule(schedule: Schedule): void;
  editSchedule(schedule: Schedule): void;
  runSchedule(schedule: Schedule): Promise<void>;
  pauseSchedule(schedule: Schedule): Promise<void>;
  resumeSchedule(schedule: Schedule): Promise<void>;
  deleteSchedule(schedule: Schedule): Promise<void>;
  cancelExecution(execution: Execution): Promise<void>;
  deleteExecution(execution: Execution): Promise<void>;
  /** Opens the comparison of an execution with another run of its schedule. */
  compareExecution(execution: Execution): void;
  /** Asks for a date range and runs the schedule once per fire time in it. */
  backfillSchedule(schedule: Schedule): void;
  /** Asks for values per parameter and runs the schedule once per combination. */
  sweepSchedule(schedule: Schedule): void;
  /** Shows the table of the sweep an execution belongs to. */
  openSweep(execution: Execution): void;
  /** Runs an ended execution again (same parameters and input, same chain). */
  rerunExecution(execution: Execution): Promise<void>;
}

export type Tab = 'schedules' | 'executions';

export function Sidebar(props: {
  model: NbgateModel;
  actions: ISidebarActions;
  tab: Tab;
  onTab: (tab: Tab) => void;
}): JSX.Element {
  const [, setVersion] = React.useState(0);
  React.useEffect(() => {
    const bump = () => setVersion(v => v + 1);
    props.model.changed.connect(bump);
    return () => {
      props.model.changed.disconnect(bump);
    };
  }, [props.model]);
  const { model, tab } = props;
  return (
    <div className="nbgate-Sidebar">
      <header className="nbgate-Sidebar-header">
        <h2>nbgate</h2>
        <div className="nbgate-Tabs" role="tablist">
          <button
            role="tab"
            aria-selected={tab === 'schedules'}
            className={`nbgate-Tab nbgate-Tab-schedules ${tab === 'schedules' ? 'nbgate-mod-active' : ''}`}
            onClick={() => props.onTab('schedules')}
          >
            Schedules ({model.schedules.length})
          </button>
          <button
            role="tab"
            aria-selected={tab === 'executions'}
            className={`nbgate-Tab nbgate-Tab-executions ${tab === 'executions' ? 'nbgate-mod-active' : ''}`}
            onClick={() => props.onTab('executions')}
          >
            Executions ({model.executions.length})
          </button>
        </div>
      </header>
      {model.unavailable && (
        <div className="nbgate-Error nbgate-Sidebar-unavailable">{model.unavailable}</div>
      )}
      {tab === 'schedules' ? (
        <Schedules model={model} actions={props.actions} />
      ) : (
        <Executions model={model} actions={props.actions} />
      )}
    </div>
  );
}

function Schedules(props: { model: NbgateModel; actions: ISidebarActions }): JSX.Element {
  const { model, actions } = props;
  if (model.schedules.length === 0) {
    return (
      <p className="nbgate-Empty">
        No schedules yet. Open a notebook, press <b>Execute</b> and choose <i>Recurring</i> to run
        it on a schedule.
      </p>
    );
  }
  return (
    <ul className="nbgate-List nbgate-Schedules">
      {model.schedules.map(schedule => {
        const cron = scheduleCron(schedule);
        const words = schedule.description || cron || schedule.every || '';
        const latest = model.latestExecution(schedule.id) ?? schedule.last_execution ?? undefined;
        return (
          <li key={schedule.id} className="nbgate-Item nbgate-Schedule" data-name={schedule.name}>
            <div className="nbgate-Item-title">
              <button
                type="button"
                className="nbgate-LinkButton nbgate-Item-name nbgate-Schedule-open"
                title="Recorded values across runs, outputs"
                aria-label={`${schedule.name}: details`}
                onClick={() => actions.openSchedule(schedule)}
              >
                {schedule.name}
              </button>
              {schedule.paused && (
                <span className="nbgate-Badge nbgate-Schedule-paused">paused</span>
              )}
              <MachineTypeLabel name={schedule.machine_type} />
            </div>
            <div className="nbgate-Item-detail nbgate-Schedule-frequency">{words}</div>
            <div className="nbgate-Item-detail nbgate-Schedule-next">
              {schedule.paused
                ? 'Paused'
                : schedule.next_run
                  ? `Next run ${formatTime(schedule.next_run, { timeZone: schedule.timezone, seconds: false })}`
                  : schedule.after
                    ? `Next run after ${schedule.after.schedules.join(' and ')}`
                    : 'No next run'}
            </div>
            <div className="nbgate-Item-detail nbgate-Schedule-latest">
              {latest ? (
                <>
                  Latest: <StatusIcon status={latest.status} decorative />{' '}
                  {statusWord(latest.status)} · {formatTime(latest.started_at ?? latest.created_at)}
                </>
              ) : (
                'Not run yet'
              )}
            </div>
            <div className="nbgate-Actions">
              <ActionButton
                className="nbgate-Schedule-run"
                label="Run now"
                describe={schedule.name}
                run={() => actions.runSchedule(schedule)}
              />
              {schedule.paused ? (
                <ActionButton
                  className="nbgate-Schedule-resume"
                  label="Resume"
                  describe={schedule.name}
                  run={() => actions.resumeSchedule(schedule)}
                />
              ) : (
                <ActionButton
                  className="nbgate-Schedule-pause"
                  label="Pause"
                  describe={schedule.name}
                  run={() => actions.pauseSchedule(schedule)}
                />
              )}
              <ActionButton
                className="nbgate-Schedule-edit"
                label="Edit"
                describe={schedule.name}
                run={async () => actions.editSchedule(schedule)}
              />
              {!schedule.after && (
                <ActionButton
                  className="nbgate-Schedule-backfill"
                  label="Backfill"
                  describe={schedule.name}
                  run={async () => actions.backfillSchedule(schedule)}
                />
              )}
              <ActionButton
                className="nbgate-Schedule-sweep"
                label="Sweep"
                describe={schedule.name}
                run={async () => actions.sweepSchedule(schedule)}
              />
              <ActionButton
                className="nbgate-Schedule-delete"
                label="Delete"
                describe={schedule.name}
                run={() => actions.deleteSchedule(schedule)}
              />
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function Executions(props: { model: NbgateModel; actions: ISidebarActions }): JSX.Element {
  const { model, actions } = props;
  const [scheduleFilter, setScheduleFilter] = React.useState('');
  const [statusFilter, setStatusFilter] = React.useState<ExecutionStatus | ''>('');
  const shown = model.executions.filter(
    e =>
      (!scheduleFilter ||
        (scheduleFilter === 'adhoc'
          ? !e.schedule_id && !e.schedule_name
          : e.schedule_id === scheduleFilter)) &&
      (!statusFilter || e.status === statusFilter)
  );
  return (
    <div className="nbgate-Executions-panel">
      <div className="nbgate-Filters" role="group" aria-label="Filter executions">
        <label className="nbgate-Filter">
          <span className="nbgate-Filter-label">Schedule</span>
          <select
            className="nbgate-Filter-schedule"
            value={scheduleFilter}
            onChange={e => setScheduleFilter(e.target.value)}
          >
            <option value="">All schedules</option>
            <option value="adhoc">Run once</option>
            {model.schedules.map(s => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label className="nbgate-Filter">
          <span className="nbgate-Filter-label">Status</span>
          <select
            className="nbgate-Filter-status"
            value={statusFilter}
            onChange={e => setStatusFilter(e.target.value as ExecutionStatus | '')}
          >
            <option value="">Any status</option>
            {EXECUTION_STATUSES.map(s => (
              <option key={s} value={s}>
                {statusWord(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {shown.length === 0 ? (
        <p className="nbgate-Empty">
          {model.executions.length === 0
            ? 'No executions yet. Press Execute on a notebook toolbar to run one.'
            : 'No execution matches these filters.'}
        </p>
      ) : (
        <ul className="nbgate-List nbgate-Executions">
          {shown.map(execution => (
            <ExecutionItem
              key={execution.id}
              execution={execution}
              focused={model.focus === execution.id}
              comparable={canCompare(execution, model.executions)}
              executions={model.executions}
              actions={actions}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

function ExecutionItem(props: {
  execution: Execution;
  focused: boolean;
  /** Another run of its schedule is listed: "Compare with…" is offered. */
  comparable: boolean;
  /** The executions listed: those of its chain are shown with it. */
  executions: Execution[];
  actions: ISidebarActions;
}): JSX.Element {
  const { execution: e, actions } = props;
  const parameters = formatParameters(e.parameters);
  // The listing carries each execution's recorded values.
  const values = formatParameters(e.values);
  const progress = e.progress;
  const duration = executionDuration(e);
  return (
    <li
      className={`nbgate-Item nbgate-Execution nbgate-Execution-${e.status} ${props.focused ? 'nbgate-mod-focused' : ''}`}
      data-id={e.id}
      data-name={e.name}
      data-status={e.status}
    >
      <div className="nbgate-Item-title">
        <StatusIcon status={e.status} decorative />
        <span className="nbgate-Item-name">{e.name}</span>
        <MachineTypeLabel name={e.machine_type} />
      </div>
      <div className="nbgate-Item-detail">
        <span className="nbgate-Execution-status">{statusWord(e.status)}</span>
        {' · '}
        <span className="nbgate-Execution-time">
          {e.started_at ? formatTime(e.started_at) : `queued ${formatTime(e.created_at)}`}
        </span>
        {duration && ` · ${duration}`}
        {e.attempt && e.max_attempts && e.max_attempts > 1
          ? ` · attempt ${e.attempt} of ${e.max_attempts}`
          : ''}
      </div>
      {e.status === 'running' && progress && (
        <div
          className="nbgate-Progress"
          role="progressbar"
          aria-label={`${e.name}: cell ${progress.cell + 1} of ${progress.total}`}
          aria-valuemin={0}
          aria-valuemax={progress.total}
          aria-valuenow={progress.cell + 1}
        >
          <div
            className="nbgate-Progress-bar"
            style={{
              width: `${Math.round(((progress.cell + 1) / Math.max(progress.total, 1)) * 100)}%`
            }}
          />
          <span className="nbgate-Progress-label">
            cell {progress.cell + 1} of {progress.total}
          </span>
        </div>
      )}
      <ChainView execution={e} executions={props.executions} onOpen={actions.openResult} />
      <div className="nbgate-Item-detail nbgate-Execution-parameters">
        {parameters.length === 0 ? (
          "The notebook's default parameters"
        ) : (
          <ParameterList lines={parameters} />
        )}
      </div>
      {values.length > 0 && (
        <div className="nbgate-Item-detail nbgate-Execution-values">
          <span className="nbgate-Values-label" aria-hidden="true">
            Recorded
          </span>
          <ul className="nbgate-Parameters nbgate-Values" aria-label="Recorded values">
            {values.map(line => (
              <li key={line} title={line}>
                <code>{line}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {e.error && <div className="nbgate-Error nbgate-Execution-error">{formatError(e.error)}</div>}
      {!e.error && e.reason && isTerminal(e.status) && e.status !== 'succeeded' && (
        <div className="nbgate-Hint nbgate-Execution-reason">{e.reason}</div>
      )}
      <div className="nbgate-Actions">
        {e.status !== 'skipped' && (
          <ActionButton
            className="nbgate-Execution-view"
            label="View result"
            describe={e.name}
            run={async () => actions.openResult(e)}
          />
        )}
        {props.comparable && (
          <ActionButton
            className="nbgate-Execution-compare"
            label="Compare with…"
            describe={e.name}
            run={async () => actions.compareExecution(e)}
          />
        )}
        {e.sweep_id && (
          <ActionButton
            className="nbgate-Execution-sweep"
            label="Sweep table"
            describe={e.name}
            run={async () => actions.openSweep(e)}
          />
        )}
        {(e.status === 'failed' || e.status === 'timed_out' || e.status === 'cancelled') && (
          <ActionButton
            className="nbgate-Execution-rerun"
            label="Run again"
            describe={e.name}
            run={() => actions.rerunExecution(e)}
          />
        )}
        {!isTerminal(e.status) && (
          <ActionButton
            className="nbgate-Execution-cancel"
            label="Cancel"
            describe={e.name}
            run={() => actions.cancelExecution(e)}
          />
        )}
        {isTerminal(e.status) && (
          <ActionButton
            className="nbgate-Execution-delete"
            label="Delete"
            describe={e.name}
            run={() => actions.deleteExecution(e)}
          />
        )}
      </div>
    </li>
  );
}

/** How many parameter lines a row shows before folding the rest under "n more parameters". */
const PARAMETERS_SHOWN = 4;

/** An execution's parameters, one `name = value` line each; a long list folded after the first few. */
function ParameterList(props: { lines: string[] }): JSX.Element {
  const list = (lines: string[], label: string) => (
    <ul className="nbgate-Parameters" aria-label={label}>
      {lines.map(line => (
        <li key={line} title={line}>
          <code>{line}</code>
        </li>
      ))}
    </ul>
  );
  const { lines } = props;
  if (lines.length <= PARAMETERS_SHOWN) {
    return list(lines, 'Parameters');
  }
  const first = PARAMETERS_SHOWN - 1;
  return (
    <>
      {list(lines.slice(0, first), 'Parameters')}
      <details className="nbgate-Parameters-more">
        <summary>{lines.length - first} more parameters</summary>
        {list(lines.slice(first), 'More parameters')}
      </details>
    </>
  );
}

function ActionButton(props: {
  label: string;
  className: string;
  /** What the action applies to, for its accessible name ("Delete daily_report"). */
  describe?: string;
  run: () => Promise<void>;
}): JSX.Element {
  const [busy, setBusy] = React.useState(false);
  return (
    <button
      type="button"
      className={`jp-mod-styled nbgate-ActionButton ${props.className}`}
      disabled={busy}
      aria-label={props.describe ? `${props.label} ${props.describe}` : undefined}
      onClick={() => {
        setBusy(true);
        props.run().finally(() => setBusy(false));
      }}
    >
      {props.label}
    </button>
  );
}

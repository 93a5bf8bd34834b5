/**
 * The left-sidebar panel: Schedules and Executions tabs over the model, live.
 */
import * as React from 'react';

import { describeCron } from '../cron';
import { NbgateModel } from '../model';
import {
  EXECUTION_STATUSES,
  Execution,
  ExecutionStatus,
  isTerminal,
  Schedule,
  scheduleCron
} from '../tokens';

/** What the panel asks its host to do (open files, confirm, call the API, notify). */
export interface ISidebarActions {
  openResult(execution: Execution): void;
  editSchedule(schedule: Schedule): void;
  runSchedule(schedule: Schedule): Promise<void>;
  pauseSchedule(schedule: Schedule): Promise<void>;
  resumeSchedule(schedule: Schedule): Promise<void>;
  deleteSchedule(schedule: Schedule): Promise<void>;
  cancelExecution(execution: Execution): Promise<void>;
  deleteExecution(execution: Execution): Promise<void>;
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
        const words =
          schedule.description || (cron && describeCron(cron)) || cron || schedule.every || '';
        const latest = model.latestExecution(schedule.id) ?? schedule.last_execution ?? undefined;
        return (
          <li key={schedule.id} className="nbgate-Item nbgate-Schedule" data-name={schedule.name}>
            <div className="nbgate-Item-title">
              <span className="nbgate-Item-name">{schedule.name}</span>
              {schedule.paused && (
                <span className="nbgate-Badge nbgate-Schedule-paused">paused</span>
              )}
            </div>
            <div className="nbgate-Item-detail nbgate-Schedule-frequency">{words}</div>
            <div className="nbgate-Item-detail">
              {schedule.paused
                ? 'Paused'
                : schedule.next_run
                  ? `Next run ${formatTime(schedule.next_run)}`
                  : 'No next run'}
            </div>
            <div className="nbgate-Item-detail">
              {latest ? (
                <>
                  Latest: <StatusIcon status={latest.status} /> {latest.status} ·{' '}
                  {formatTime(latest.started_at ?? latest.created_at)}
                </>
              ) : (
                'Not run yet'
              )}
            </div>
            <div className="nbgate-Actions">
              <ActionButton
                className="nbgate-Schedule-run"
                label="Run now"
                run={() => actions.runSchedule(schedule)}
              />
              {schedule.paused ? (
                <ActionButton
                  className="nbgate-Schedule-resume"
                  label="Resume"
                  run={() => actions.resumeSchedule(schedule)}
                />
              ) : (
                <ActionButton
                  className="nbgate-Schedule-pause"
                  label="Pause"
                  run={() => actions.pauseSchedule(schedule)}
                />
              )}
              <ActionButton
                className="nbgate-Schedule-edit"
                label="Edit"
                run={async () => actions.editSchedule(schedule)}
              />
              <ActionButton
                className="nbgate-Schedule-delete"
                label="Delete"
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
        (scheduleFilter === 'adhoc' ? !e.schedule_id : e.schedule_id === scheduleFilter)) &&
      (!statusFilter || e.status === statusFilter)
  );
  return (
    <div className="nbgate-Executions-panel">
      <div className="nbgate-Filters">
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
        <select
          className="nbgate-Filter-status"
          value={statusFilter}
          onChange={e => setStatusFilter(e.target.value as ExecutionStatus | '')}
        >
          <option value="">Any status</option>
          {EXECUTION_STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
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
  actions: ISidebarActions;
}): JSX.Element {
  const { execution: e, actions } = props;
  const parameters = Object.entries(e.parameters ?? {})
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join('\n');
  const progress = e.progress;
  return (
    <li
      className={`nbgate-Item nbgate-Execution nbgate-Execution-${e.status} ${props.focused ? 'nbgate-mod-focused' : ''}`}
      data-id={e.id}
      data-name={e.name}
      data-status={e.status}
      title={parameters ? `Parameters:\n${parameters}` : 'Default parameters'}
    >
      <div className="nbgate-Item-title">
        <StatusIcon status={e.status} />
        <span className="nbgate-Item-name">{e.name}</span>
      </div>
      <div className="nbgate-Item-detail">
        <span className="nbgate-Execution-status">{e.status.replace('_', ' ')}</span>
        {' · '}
        {e.started_at ? formatTime(e.started_at) : `queued ${formatTime(e.created_at)}`}
        {e.started_at && ` · ${formatDuration(e.started_at, e.ended_at)}`}
        {e.attempt && e.max_attempts && e.max_attempts > 1
          ? ` · attempt ${e.attempt}/${e.max_attempts}`
          : ''}
      </div>
      {e.status === 'running' && progress && (
        <div className="nbgate-Progress" title={`cell ${progress.cell + 1} of ${progress.total}`}>
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
      {e.error && (
        <div className="nbgate-Error nbgate-Execution-error">
          {e.error.ename}: {e.error.evalue}
          {e.error.cell_index !== undefined &&
            e.error.cell_index !== null &&
            ` (cell ${e.error.cell_index + 1})`}
        </div>
      )}
      {!e.error && e.reason && isTerminal(e.status) && e.status !== 'succeeded' && (
        <div className="nbgate-Hint nbgate-Execution-reason">{e.reason}</div>
      )}
      <div className="nbgate-Actions">
        {e.status !== 'skipped' && e.status !== 'queued' && (
          <ActionButton
            className="nbgate-Execution-view"
            label="View result"
            run={async () => actions.openResult(e)}
          />
        )}
        {!isTerminal(e.status) && (
          <ActionButton
            className="nbgate-Execution-cancel"
            label="Cancel"
            run={() => actions.cancelExecution(e)}
          />
        )}
        {isTerminal(e.status) && (
          <ActionButton
            className="nbgate-Execution-delete"
            label="Delete"
            run={() => actions.deleteExecution(e)}
          />
        )}
      </div>
    </li>
  );
}

function ActionButton(props: {
  label: string;
  className: string;
  run: () => Promise<void>;
}): JSX.Element {
  const [busy, setBusy] = React.useState(false);
  return (
    <button
      type="button"
      className={`jp-mod-styled nbgate-ActionButton ${props.className}`}
      disabled={busy}
      onClick={() => {
        setBusy(true);
        props.run().finally(() => setBusy(false));
      }}
    >
      {props.label}
    </button>
  );
}

const ICONS: { [status in ExecutionStatus]: string } = {
  queued: '◷',
  running: '▶',
  succeeded: '✔',
  failed: '✖',
  cancelled: '■',
  timed_out: '⌛',
  skipped: '↷'
};

function StatusIcon(props: { status: ExecutionStatus }): JSX.Element {
  return (
    <span className={`nbgate-StatusIcon nbgate-StatusIcon-${props.status}`} title={props.status}>
      {ICONS[props.status] ?? '?'}
    </span>
  );
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return date.toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit'
  });
}

export function formatDuration(startIso: string, endIso?: string | null): string {
  const ms = (endIso ? new Date(endIso).getTime() : Date.now()) - new Date(startIso).getTime();
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) {
    return `${seconds} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${seconds % 60} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

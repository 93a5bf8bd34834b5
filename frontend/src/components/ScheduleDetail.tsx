/**
 * A schedule's detail, in the main area: a chart per numeric recorded value across its runs (rendered
 * by Lab's own Vega-Lite renderer; a click on a point opens that run's result), every run's values as
 * a table (the same, by keyboard), the outputs' freshness and a preview of the latest output table.
 * Reloads when one of the schedule's runs ends.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import * as api from '../api';
import { formatTime, statusWord } from '../format';
import {
  cellText,
  describeFreshness,
  describeOutput,
  numericNames,
  previewColumn,
  runsWithValues,
  trendPoints,
  trendSpec,
  VEGALITE_MIME
} from '../trends';
import {
  Execution,
  INbgateModel,
  isTerminal,
  OutputFile,
  OutputPreview,
  Schedule,
  scheduleCron,
  ValueSeries
} from '../tokens';
import { StatusIcon } from './StatusIcon';

/** How many runs' values are asked for, per name. */
const VALUES_LIMIT = 200;
/** Rows of the runs table and of an output's preview. */
const RUNS_SHOWN = 20;
const PREVIEW_ROWS = 50;

export interface IScheduleDetailOptions {
  id: string;
  model: INbgateModel;
  rendermime: IRenderMimeRegistry;
  /** Opens a run's result (View result). */
  openResult(executionId: string): void;
  /** Called with the schedule once loaded (the tab's title). */
  loaded?(schedule: Schedule): void;
}

export class ScheduleDetail extends ReactWidget {
  constructor(readonly options: IScheduleDetailOptions) {
    super();
    this.addClass('nbgate-ScheduleDetail');
  }

  protected render(): JSX.Element {
    return <Detail {...this.options} />;
  }
}

/** What the detail shows, loaded together. */
interface IData {
  schedule: Schedule;
  series: ValueSeries;
  /** The newest run that recorded output files, with them. */
  latest: Execution | null;
}

/** The newest of these runs (newest first) that recorded output files, read in full when needed. */
async function latestWithOutputs(executions: Execution[]): Promise<Execution | null> {
  let read = 0;
  for (const execution of executions) {
    if (!isTerminal(execution.status) || execution.status === 'skipped') {
      continue;
    }
    let full = execution;
    if (full.outputs === undefined) {
      if (read >= 5) {
        break;
      }
      read += 1;
      full = await api.getExecution(execution.id);
    }
    if (full.outputs && full.outputs.length > 0) {
      return full;
    }
  }
  return null;
}

async function load(id: string): Promise<IData> {
  const [schedule, series, executions] = await Promise.all([
    api.getSchedule(id),
    api.scheduleValues(id, { limit: VALUES_LIMIT }),
    api.listExecutions({ schedule: id, limit: 20 })
  ]);
  return { schedule, series, latest: await latestWithOutputs(executions) };
}

/** A key that changes when one of the schedule's runs ends or is deleted. */
function endedKey(model: INbgateModel, id: string): string {
  return model.executions
    .filter(e => e.schedule_id === id && isTerminal(e.status))
    .map(e => `${e.id}:${e.status}`)
    .join(',');
}

/** Re-renders every 30 s, so that "2 h ago" stays true; returns the time now. */
function useNow(): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

function Detail(props: IScheduleDetailOptions): JSX.Element {
  const { id, model } = props;
  const [data, setData] = React.useState<IData | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);
  const now = useNow();
  const reload = React.useCallback(async () => {
    setLoading(true);
    try {
      const loaded = await load(id);
      setData(loaded);
      setProblem(null);
      props.loaded?.(loaded.schedule);
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setLoading(false);
    }
  }, [id]);
  React.useEffect(() => {
    void reload();
    let key = endedKey(model, id);
    const changed = () => {
      const next = endedKey(model, id);
      if (next !== key) {
        key = next;
        void reload();
      }
    };
    model.changed.connect(changed);
    return () => {
      model.changed.disconnect(changed);
    };
  }, [id, model, reload]);

  if (!data) {
    return (
      <div className="nbgate-ScheduleDetail-body">
        {problem ? (
          <p className="nbgate-Error">{problem}</p>
        ) : (
          <p className="nbgate-Hint">Loading the schedule…</p>
        )}
      </div>
    );
  }
  const { schedule, series, latest } = data;
  const cron = scheduleCron(schedule);
  const words = schedule.description || cron || schedule.every || '';
  return (
    <div className="nbgate-ScheduleDetail-body" data-name={schedule.name}>
      <div className="nbgate-ScheduleDetail-header">
        <h2 className="nbgate-ScheduleDetail-title">{schedule.name}</h2>
        <p className="nbgate-ScheduleDetail-facts">
          {schedule.notebook} · {words}
          {schedule.paused ? ' · paused' : ''}
        </p>
        <button
          type="button"
          className="jp-mod-styled nbgate-ActionButton nbgate-ScheduleDetail-refresh"
          disabled={loading}
          onClick={() => void reload()}
        >
          Refresh
        </button>
      </div>
      {problem && <p className="nbgate-Error">{problem}</p>}
      <Values series={series} rendermime={props.rendermime} openResult={props.openResult} />
      <Outputs schedule={schedule} latest={latest} now={now} />
    </div>
  );
}

function Values(props: {
  series: ValueSeries;
  rendermime: IRenderMimeRegistry;
  openResult(executionId: string): void;
}): JSX.Element {
  const { series } = props;
  const names = Object.keys(series);
  const numeric = numericNames(series);
  const runs = runsWithValues(series);
  const canChart = props.rendermime.mimeTypes.includes(VEGALITE_MIME);
  return (
    <section className="nbgate-ScheduleDetail-values" aria-labelledby="nbgate-values-heading">
      <h3 id="nbgate-values-heading">Recorded values</h3>
      {names.length === 0 ? (
        <p className="nbgate-Hint nbgate-ScheduleDetail-noValues">
          No run has recorded a value yet. A notebook records one with scrapbook:{' '}
          <code>import scrapbook as sb; sb.glue("accuracy", accuracy)</code>.
        </p>
      ) : (
        <>
          {!canChart && numeric.length > 0 && (
            <p className="nbgate-Hint">
              Charts need JupyterLab&apos;s Vega renderer (@jupyterlab/vega5-extension), which is
              disabled here; the values are in the table below.
            </p>
          )}
          {canChart && (
            <div className="nbgate-Trends">
              {numeric.map(name => (
                <Trend
                  key={name}
                  name={name}
                  series={series}
                  rendermime={props.rendermime}
                  openResult={props.openResult}
                />
              ))}
            </div>
          )}
          <RunsTable names={names} runs={runs} openResult={props.openResult} />
        </>
      )}
    </section>
  );
}

/** The Vega view vega-embed made, which Lab's renderer keeps (not part of its typed API). */
interface IVegaView {
  addEventListener(
    type: 'click',
    handler: (event: Event, item?: { datum?: { execution_id?: unknown } } | null) => void
  ): void;
}

/** One recorded value across runs: Lab's Vega-Lite renderer in a figure; a point opens its run. */
function Trend(props: {
  name: string;
  series: ValueSeries;
  rendermime: IRenderMimeRegistry;
  openResult(executionId: string): void;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const open = React.useRef(props.openResult);
  open.current = props.openResult;
  const points = props.series[props.name];
  React.useEffect(() => {
    if (!host.current) {
      return;
    }
    const shaped = trendPoints(props.name, points);
    const renderer = props.rendermime.createRenderer(VEGALITE_MIME);
    renderer.addClass('nbgate-Trend-chart');
    Widget.attach(renderer, host.current);
    const model = new MimeModel({
      data: { [VEGALITE_MIME]: trendSpec(props.name, shaped) as any },
      // SVG: each point is an element (its description is its accessible name); no actions menu.
      metadata: { [VEGALITE_MIME]: { embed_options: { renderer: 'svg', actions: false } } },
      trusted: false
    });
    void renderer.renderModel(model).then(() => {
      const view = (renderer as unknown as { _result?: { view?: IVegaView } })._result?.view;
      view?.addEventListener('click', (_event, item) => {
        const id = item?.datum?.execution_id;
        if (typeof id === 'string') {
          open.current(id);
        }
      });
    });
    return () => renderer.dispose();
  }, [props.name, points, props.rendermime]);
  return (
    <figure className="nbgate-Trend" data-name={props.name}>
      <figcaption className="nbgate-Trend-title">{props.name}</figcaption>
      <div ref={host} className="nbgate-Trend-host" />
    </figure>
  );
}

function RunsTable(props: {
  names: string[];
  runs: ReturnType<typeof runsWithValues>;
  openResult(executionId: string): void;
}): JSX.Element {
  const { names, runs } = props;
  const shown = runs.slice(0, RUNS_SHOWN);
  return (
    <div className="nbgate-TableScroll">
      <table className="nbgate-Table nbgate-Runs">
        <caption>
          Values recorded by each run, newest first
          {runs.length > shown.length ? ` (the latest ${shown.length} of ${runs.length})` : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            {names.map(name => (
              <th scope="col" key={name}>
                {name}
              </th>
            ))}
            <th scope="col">
              <span className="nbgate-VisuallyHidden">Result</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map(run => {
            const when = formatTime(run.time);
            return (
              <tr key={run.execution_id} data-id={run.execution_id} data-status={run.status}>
                <th scope="row">{when}</th>
                <td>
                  <StatusIcon status={run.status} decorative /> {statusWord(run.status)}
                </td>
                {names.map(name => (
                  <td key={name} className="nbgate-Runs-value">
                    {run.values[name] ?? ''}
                  </td>
                ))}
                <td>
                  <button
                    type="button"
                    className="nbgate-LinkButton nbgate-Runs-view"
                    aria-label={`View result of the run of ${when}`}
                    onClick={() => props.openResult(run.execution_id)}
                  >
                    View result
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** A table output (rows known) is previewed first. */
function previewable(output: OutputFile): boolean {
  return typeof output.rows === 'number' || Array.isArray(output.columns);
}

function Outputs(props: {
  schedule: Schedule;
  latest: Execution | null;
  now: number;
}): JSX.Element {
  const { schedule, latest, now } = props;
  const outputs = latest?.outputs ?? [];
  const [chosen, setChosen] = React.useState<string | null>(null);
  const first = outputs.find(previewable)?.path ?? null;
  const path = chosen && outputs.some(o => o.path === chosen) ? chosen : first;
  const freshness = schedule.freshness
    ? describeFreshness(schedule.freshness, now, schedule)
    : null;
  const declared = schedule.outputs ?? [];
  return (
    <section className="nbgate-ScheduleDetail-outputs" aria-labelledby="nbgate-outputs-heading">
      <h3 id="nbgate-outputs-heading">Outputs</h3>
      {freshness && (
        <p className={`nbgate-Freshness ${freshness.stale ? 'nbgate-mod-stale' : ''}`}>
          {freshness.stale && <span className="nbgate-Badge nbgate-Freshness-stale">stale</span>}{' '}
          {freshness.text}
          {freshness.why && ` ${freshness.why}`}
        </p>
      )}
      {!latest ? (
        <p className="nbgate-Hint nbgate-ScheduleDetail-noOutputs">
          {declared.length > 0
            ? `No run has written ${declared.join(', ')} yet.`
            : 'No run recorded output files. Declare them (glob patterns such as output/*.csv) under Edit → Advanced options → Output files.'}
        </p>
      ) : (
        <>
          <p className="nbgate-Hint">
            Written by the run of {formatTime(latest.started_at ?? latest.created_at)} (
            {statusWord(latest.status).toLowerCase()}).
          </p>
          <ul className="nbgate-Outputs">
            {outputs.map(output => (
              <li key={output.path} className="nbgate-Output" data-path={output.path}>
                <span className="nbgate-Output-facts">{describeOutput(output, now)}</span>
                {previewable(output) && output.path !== path && (
                  <button
                    type="button"
                    className="nbgate-LinkButton nbgate-Output-preview"
                    aria-label={`Preview ${output.path}`}
                    onClick={() => setChosen(output.path)}
                  >
                    Preview
                  </button>
                )}
              </li>
            ))}
          </ul>
          {path && <Preview execution={latest} output={outputs.find(o => o.path === path)!} />}
        </>
      )}
    </section>
  );
}

function Preview(props: { execution: Execution; output: OutputFile }): JSX.Element {
  const { execution, output } = props;
  const [preview, setPreview] = React.useState<OutputPreview | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    setPreview(null);
    setProblem(null);
    api
      .outputPreview(execution.id, output.path, PREVIEW_ROWS)
      .then(answer => live && setPreview(answer))
      .catch(error => live && setProblem((error as Error).message));
    return () => {
      live = false;
    };
  }, [execution.id, output.path]);
  if (problem) {
    return <p className="nbgate-Error nbgate-OutputPreview-error">{problem}</p>;
  }
  if (!preview) {
    return <p className="nbgate-Hint">Loading {output.path}…</p>;
  }
  const columns = preview.columns.map(previewColumn);
  const total = typeof output.rows === 'number' ? output.rows : null;
  return (
    <div
      className="nbgate-TableScroll nbgate-OutputPreview"
      tabIndex={0}
      role="region"
      aria-label={`Preview of ${output.path}`}
    >
      <table className="nbgate-Table nbgate-OutputPreview-table">
        <caption>
          {output.path}:{' '}
          {total !== null && total > preview.rows.length
            ? `the first ${preview.rows.length} of ${total.toLocaleString('en-US')} rows`
            : `${preview.rows.length} row${preview.rows.length === 1 ? '' : 's'}`}
        </caption>
        <thead>
          <tr>
            {columns.map((column, index) => (
              <th scope="col" key={index} title={column.type || undefined}>
                {column.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {preview.rows.map((row, index) => (
            <tr key={index}>
              {row.map((cell, column) => (
                <td key={column}>{cellText(cell)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

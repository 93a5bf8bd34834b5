/**
 * Two executions compared, in the main area: run A (the one "Compare with…" was asked on) and run B,
 * picked among the same schedule's runs (by default, for a run that did not succeed, the schedule's
 * last success), then what differs (`GET /api/executions/{a}/compare/{b}`): parameters and recorded
 * values side by side, output files, and the cells whose source or outputs changed with each side's
 * output text.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import * as api from '../api';
import {
  cellRows,
  choiceLabel,
  compareChoices,
  defaultOther,
  IPairRow,
  outputRows,
  pairRows,
  summary
} from '../compare';
import { formatTime, statusWord } from '../format';
import { Comparison, Execution } from '../tokens';
import { StatusIcon } from './StatusIcon';

/** How many of the schedule's runs the picker lists (newest first). */
const CHOICES_LIMIT = 200;

export interface ICompareViewOptions {
  /** Execution A. */
  a: string;
  /** Execution B; the default other run when not given. */
  b?: string | null;
  /** Opens a run's result (View result). */
  openResult(executionId: string): void;
  /** Called once A is loaded and whenever B changes (the tab's title, what a reload reopens). */
  changed?(a: Execution, b: Execution | null): void;
}

export class CompareView extends ReactWidget {
  constructor(readonly options: ICompareViewOptions) {
    super();
    this.addClass('nbgate-CompareView');
    this._b = options.b ?? null;
  }

  /** Execution B as now chosen (null until known). */
  get b(): string | null {
    return this._b;
  }

  /** Picks B (the command asked again with another one). */
  set b(id: string | null) {
    if (id !== this._b) {
      this._b = id;
      this.update();
    }
  }

  protected render(): JSX.Element {
    return (
      <Compare
        a={this.options.a}
        b={this._b}
        openResult={this.options.openResult}
        onPick={(a, b) => {
          this._b = b?.id ?? null;
          this.options.changed?.(a, b);
          this.update();
        }}
      />
    );
  }

  private _b: string | null;
}

/** Run A and the runs it can be compared with. */
interface IRuns {
  a: Execution;
  choices: Execution[];
}

async function loadRuns(id: string): Promise<IRuns> {
  const a = await api.getExecution(id);
  const listed = await api.listExecutions(
    a.schedule_id ? { schedule: a.schedule_id, limit: CHOICES_LIMIT } : { limit: CHOICES_LIMIT }
  );
  return { a, choices: compareChoices(a, listed) };
}

function Compare(props: {
  a: string;
  b: string | null;
  openResult(executionId: string): void;
  onPick(a: Execution, b: Execution | null): void;
}): JSX.Element {
  const [runs, setRuns] = React.useState<IRuns | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  const [comparison, setComparison] = React.useState<Comparison | null>(null);
  const [compareProblem, setCompareProblem] = React.useState<string | null>(null);
  const [version, setVersion] = React.useState(0);
  const bId = props.b ?? (runs ? defaultOther(runs.a, runs.choices) : null);

  React.useEffect(() => {
    let live = true;
    loadRuns(props.a)
      .then(loaded => {
        if (!live) {
          return;
        }
        setRuns(loaded);
        setProblem(null);
        const b = props.b ?? defaultOther(loaded.a, loaded.choices);
        props.onPick(loaded.a, loaded.choices.find(c => c.id === b) ?? null);
      })
      .catch(error => live && setProblem((error as Error).message));
    return () => {
      live = false;
    };
  }, [props.a, version]);

  React.useEffect(() => {
    if (!bId) {
      return;
    }
    let live = true;
    setComparison(null);
    setCompareProblem(null);
    api
      .compareExecutions(props.a, bId)
      .then(answer => live && setComparison(answer))
      .catch(error => live && setCompareProblem((error as Error).message));
    return () => {
      live = false;
    };
  }, [props.a, bId, version]);

  if (!runs) {
    return (
      <div className="nbgate-CompareView-body">
        {problem ? (
          <p className="nbgate-Error">{problem}</p>
        ) : (
          <p className="nbgate-Hint">Loading the execution…</p>
        )}
      </div>
    );
  }
  const { a, choices } = runs;
  const b = choices.find(choice => choice.id === bId) ?? null;
  const pickerId = `nbgate-CompareView-b-${a.id}`;
  return (
    <div className="nbgate-CompareView-body" data-a={a.id} data-b={bId ?? ''}>
      <div className="nbgate-CompareView-header">
        <h2 className="nbgate-CompareView-title">Compare executions</h2>
        <button
          type="button"
          className="jp-mod-styled nbgate-ActionButton nbgate-CompareView-refresh"
          onClick={() => setVersion(v => v + 1)}
        >
          Refresh
        </button>
      </div>
      <p className="nbgate-CompareView-facts">
        {a.schedule_name ? `Runs of the schedule ${a.schedule_name}` : 'One-off runs'} of{' '}
        {a.notebook}
      </p>
      {problem && <p className="nbgate-Error">{problem}</p>}
      <div className="nbgate-CompareView-runs">
        <span className="nbgate-CompareView-side" aria-hidden="true">
          A
        </span>
        <div className="nbgate-CompareView-run nbgate-CompareView-a">
          <RunFacts execution={a} />
          <ViewResult execution={a} openResult={props.openResult} />
        </div>
        <label className="nbgate-CompareView-side" htmlFor={pickerId}>
          B<span className="nbgate-VisuallyHidden">: compare {a.name} with</span>
        </label>
        <div className="nbgate-CompareView-run nbgate-CompareView-b">
          {choices.length === 0 ? (
            <p className="nbgate-Hint nbgate-CompareView-noChoice">
              {a.schedule_id || a.schedule_name
                ? 'No other run of this schedule to compare with.'
                : `No other one-off run of ${a.notebook} to compare with.`}
            </p>
          ) : (
            <>
              <select
                id={pickerId}
                className="nbgate-CompareView-picker"
                value={bId ?? ''}
                onChange={event =>
                  props.onPick(a, choices.find(c => c.id === event.target.value) ?? null)
                }
              >
                {choices.map(choice => (
                  <option key={choice.id} value={choice.id}>
                    {choiceLabel(choice)}
                  </option>
                ))}
              </select>
              {b && <ViewResult execution={b} openResult={props.openResult} />}
            </>
          )}
        </div>
      </div>
      {bId && (
        <Differences
          prefix={`nbgate-CompareView-${a.id}`}
          a={a}
          b={b}
          comparison={comparison}
          problem={compareProblem}
          loading={!comparison && !compareProblem}
        />
      )}
    </div>
  );
}

function RunFacts(props: { execution: Execution }): JSX.Element {
  const { execution } = props;
  return (
    <span className="nbgate-CompareView-runFacts">
      <StatusIcon status={execution.status} decorative /> {statusWord(execution.status)} ·{' '}
      {formatTime(execution.started_at ?? execution.created_at)} ·{' '}
      <span className="nbgate-CompareView-name">{execution.name}</span>
    </span>
  );
}

function ViewResult(props: {
  execution: Execution;
  openResult(executionId: string): void;
}): JSX.Element {
  return (
    <button
      type="button"
      className="nbgate-LinkButton nbgate-CompareView-view"
      aria-label={`View result of ${props.execution.name}`}
      onClick={() => props.openResult(props.execution.id)}
    >
      View result
    </button>
  );
}

function Differences(props: {
  /** Makes the ids of this view's headings unique. */
  prefix: string;
  a: Execution;
  b: Execution | null;
  comparison: Comparison | null;
  problem: string | null;
  loading: boolean;
}): JSX.Element {
  const { comparison } = props;
  if (props.problem) {
    return <p className="nbgate-Error nbgate-CompareView-problem">{props.problem}</p>;
  }
  if (props.loading || !comparison) {
    return <p className="nbgate-Hint">Comparing…</p>;
  }
  // Column headings say which run and how it ended.
  const heads = [
    `A · ${statusWord(props.a.status)}`,
    `B${props.b ? ` · ${statusWord(props.b.status)}` : ''}`
  ];
  const cells = cellRows(comparison.cells);
  const sections = [
    {
      id: 'parameters',
      title: 'Parameters',
      what: 'Parameter',
      rows: pairRows(comparison.parameters),
      absent: "not given (the notebook's default)",
      same: 'The same parameters.'
    },
    {
      id: 'values',
      title: 'Recorded values',
      what: 'Value',
      rows: pairRows(comparison.values),
      absent: 'not recorded',
      same: 'The same recorded values.'
    },
    {
      id: 'outputs',
      title: 'Output files',
      what: 'File',
      rows: outputRows(comparison.outputs),
      absent: 'not written',
      same: 'The same output files (by size, rows and SHA-256).'
    }
  ];
  return (
    <>
      <p className="nbgate-CompareView-summary" role="status">
        {summary(comparison)}
      </p>
      {sections.map(section => (
        <PairTable key={section.id} prefix={props.prefix} heads={heads} {...section} />
      ))}
      <section className="nbgate-CompareView-cells" aria-labelledby={`${props.prefix}-cells`}>
        <h3 id={`${props.prefix}-cells`}>Cells</h3>
        {cells.length === 0 ? (
          <p className="nbgate-Hint">The same sources and outputs in every cell.</p>
        ) : (
          cells.map(cell => (
            <section key={cell.label} className="nbgate-CompareCell" data-cell={cell.label}>
              <h4 className="nbgate-CompareCell-title">
                {cell.label}: {cell.what}
              </h4>
              <div className="nbgate-CompareCell-sides">
                {(['a', 'b'] as const).map((side, index) => (
                  <figure
                    key={side}
                    className={`nbgate-CompareCell-side nbgate-CompareCell-${side}`}
                  >
                    <figcaption>{heads[index]}</figcaption>
                    {cell[side] === null ? (
                      <p className="nbgate-Hint">No such cell.</p>
                    ) : (
                      <pre
                        tabIndex={0}
                        role="region"
                        aria-label={`${cell.label}, run ${side.toUpperCase()}: outputs`}
                      >
                        {cell[side] || '(no output)'}
                      </pre>
                    )}
                  </figure>
                ))}
              </div>
            </section>
          ))
        )}
      </section>
    </>
  );
}

/** Names that differ, A and B side by side; a missing side says why. */
function PairTable(props: {
  prefix: string;
  id: string;
  title: string;
  what: string;
  rows: IPairRow[];
  heads: string[];
  absent: string;
  same: string;
}): JSX.Element {
  const headingId = `${props.prefix}-${props.id}`;
  return (
    <section className={`nbgate-CompareView-${props.id}`} aria-labelledby={headingId}>
      <h3 id={headingId}>{props.title}</h3>
      {props.rows.length === 0 ? (
        <p className="nbgate-Hint">{props.same}</p>
      ) : (
        <div className="nbgate-TableScroll">
          <table className="nbgate-Table nbgate-CompareTable">
            <thead>
              <tr>
                <th scope="col">{props.what}</th>
                <th scope="col">{props.heads[0]}</th>
                <th scope="col">{props.heads[1]}</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map(row => (
                <tr key={row.name} data-name={row.name}>
                  <th scope="row">{row.name}</th>
                  {[row.a, row.b].map((text, index) => (
                    <td key={index} className="nbgate-CompareTable-value">
                      {text === null ? <span className="nbgate-Hint">{props.absent}</span> : text}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

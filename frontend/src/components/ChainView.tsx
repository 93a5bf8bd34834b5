/**
 * A chain in the sidebar: the executions that share a `run_id` (a schedule and those that ran after
 * it), shown as `prepare → train → score` with each step's status. A step opens that execution's
 * result; a skipped step has none, and says why it was skipped instead ("upstream prepare failed").
 * The steps are those the sidebar lists, completed by `GET /api/executions?run_id=` (its word is
 * fetched again whenever a step the list shows changes).
 */
import * as React from 'react';

import { statusWord } from '../format';
import { chainExecutions, chainOf, chainSteps, inChain, stepLabel } from '../pipelines';
import { Execution } from '../tokens';
import { StatusIcon } from './StatusIcon';

export function ChainView(props: {
  /** The execution whose row shows the chain (marked as the current step). */
  execution: Execution;
  /** The executions the sidebar lists. */
  executions: Execution[];
  onOpen: (execution: Execution) => void;
}): JSX.Element | null {
  const { execution, executions } = props;
  const runId = chainOf(execution);
  const chained = inChain(execution, executions);
  const known = executions.filter(e => chainOf(e) === runId);
  // What the list shows of the chain; the server is asked again when it changes.
  const key = known.map(e => `${e.id}:${e.status}`).join(',');
  const [fetched, setFetched] = React.useState<Execution[]>([]);
  React.useEffect(() => {
    if (!chained) {
      return;
    }
    let live = true;
    chainExecutions(runId).then(
      steps => live && setFetched(steps),
      () => undefined
    );
    return () => {
      live = false;
    };
  }, [runId, key, chained]);
  if (!chained) {
    return null;
  }
  const steps = chainSteps(executions, fetched, runId);
  if (steps.length < 2) {
    return null;
  }
  // Why a step was skipped (the row's own reason is shown by the row).
  const skipped = steps.filter(
    step => step.status === 'skipped' && step.reason && step.id !== execution.id
  );
  return (
    <div className="nbgate-Chain">
      <div className="nbgate-Chain-line">
        <span className="nbgate-Values-label" aria-hidden="true">
          Chain
        </span>
        <ol className="nbgate-Chain-steps" aria-label={`Chain of ${steps.length} runs`}>
          {steps.map(step => {
            const label = stepLabel(step);
            const current = step.id === execution.id;
            const content = (
              <>
                <StatusIcon status={step.status} decorative />
                <span className="nbgate-Chain-label">{label}</span>
              </>
            );
            return (
              <li
                key={step.id}
                className={`nbgate-Chain-step nbgate-Chain-${step.status}${current ? ' nbgate-mod-current' : ''}`}
                data-id={step.id}
                data-name={label}
                data-status={step.status}
                aria-current={current ? 'step' : undefined}
              >
                {step.status === 'skipped' ? (
                  <span className="nbgate-Chain-skippedStep" title={step.reason ?? 'Skipped'}>
                    {content}
                    <span className="nbgate-VisuallyHidden">: skipped</span>
                  </span>
                ) : (
                  <button
                    type="button"
                    className="nbgate-LinkButton nbgate-Chain-open"
                    title={`${statusWord(step.status)}: view ${step.name}`}
                    aria-label={`${label}: ${statusWord(step.status).toLowerCase()}, view result`}
                    onClick={() => props.onOpen(step)}
                  >
                    {content}
                  </button>
                )}
              </li>
            );
          })}
        </ol>
      </div>
      {skipped.map(step => (
        <div key={step.id} className="nbgate-Hint nbgate-Chain-reason">
          {stepLabel(step)} skipped: {step.reason}
        </div>
      ))}
    </div>
  );
}

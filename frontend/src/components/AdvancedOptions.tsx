/**
 * The Execute dialog's advanced options: run and cell timeouts, retries, output folder, output files to
 * record, expectations on what a run records and, for a schedule, overlap and catch-up policies and a
 * webhook. Typed as text, each with the server's message at the field.
 */
import * as React from 'react';

import { Catchup, Overlap } from '../tokens';
import { Field, TextField } from './Field';

/** The options as typed. */
export interface IAdvanced {
  timeout: string;
  cellTimeout: string;
  retries: string;
  outputDir: string;
  overlap: Overlap;
  catchup: Catchup;
  webhook: string;
  /** Output file patterns, one per line. */
  outputs: string;
  /** Expectations, one rule per line. */
  expect: string;
}

/** The fields shown here: a message about one of them opens the advanced options. */
export const ADVANCED_FIELDS = [
  'timeout',
  'cellTimeout',
  'retries',
  'outputDir',
  'webhook',
  'outputs',
  'expect'
];

export function AdvancedOptions(props: {
  advanced: IAdvanced;
  recurring: boolean;
  /** The message of a field (`timeout`, `retries`…), or null. */
  messageFor: (field: string) => string | null;
  onChange: (key: keyof IAdvanced, value: string) => void;
}): JSX.Element {
  const { advanced, messageFor } = props;
  const setAdv = props.onChange;
  const recurring = props.recurring;
  return (
    <>
      <TextField
        id="nbgate-ExecuteDialog-timeout"
        label="Run timeout (seconds)"
        className="nbgate-ExecuteDialog-timeout"
        inputMode="decimal"
        placeholder="no limit"
        value={advanced.timeout}
        error={messageFor('timeout')}
        onChange={v => setAdv('timeout', v)}
      />
      <TextField
        id="nbgate-ExecuteDialog-cellTimeout"
        label="Cell timeout (seconds)"
        className="nbgate-ExecuteDialog-cellTimeout"
        inputMode="decimal"
        placeholder="no limit"
        value={advanced.cellTimeout}
        error={messageFor('cellTimeout')}
        onChange={v => setAdv('cellTimeout', v)}
      />
      <TextField
        id="nbgate-ExecuteDialog-retries"
        label="Retries"
        className="nbgate-ExecuteDialog-retries"
        inputMode="numeric"
        placeholder="0"
        help="Runs again after a failure, up to this many times"
        value={advanced.retries}
        error={messageFor('retries')}
        onChange={v => setAdv('retries', v)}
      />
      <TextField
        id="nbgate-ExecuteDialog-outputDir"
        label="Output folder"
        className="nbgate-ExecuteDialog-outputDir"
        placeholder="executions"
        value={advanced.outputDir}
        error={messageFor('outputDir')}
        onChange={v => setAdv('outputDir', v)}
      />
      <Field
        id="nbgate-ExecuteDialog-outputs"
        label="Output files"
        help="Glob patterns relative to the notebook's folder, one per line (output/*.csv): their rows, size and time are recorded after each run"
        error={messageFor('outputs')}
        control={control => (
          <textarea
            {...control}
            className="nbgate-ExecuteDialog-outputs"
            rows={2}
            placeholder="output/predictions.csv"
            value={advanced.outputs}
            spellCheck={false}
            onChange={e => setAdv('outputs', e.target.value)}
          />
        )}
      />
      <Field
        id="nbgate-ExecuteDialog-expect"
        label="Expectations"
        help={
          <>
            One rule per line on what a run records: <code>accuracy &gt;= 0.8</code>,{' '}
            <code>rows(output/*.csv) &gt; 0</code>, <code>exists accuracy</code>. A run that breaks
            one ends failed (ExpectationFailed).
          </>
        }
        error={messageFor('expect')}
        control={control => (
          <textarea
            {...control}
            className="nbgate-ExecuteDialog-expect"
            rows={2}
            placeholder="accuracy >= 0.8"
            value={advanced.expect}
            spellCheck={false}
            onChange={e => setAdv('expect', e.target.value)}
          />
        )}
      />
      {recurring && (
        <>
          <Field
            id="nbgate-ExecuteDialog-overlap"
            label="If the previous run is still going"
            control={control => (
              <select
                {...control}
                value={advanced.overlap}
                onChange={e => setAdv('overlap', e.target.value)}
              >
                <option value="skip">skip this run</option>
                <option value="queue">queue it</option>
              </select>
            )}
          />
          <Field
            id="nbgate-ExecuteDialog-catchup"
            label="Runs missed while nbgate was down"
            control={control => (
              <select
                {...control}
                value={advanced.catchup}
                onChange={e => setAdv('catchup', e.target.value)}
              >
                <option value="once">run once</option>
                <option value="all">run each</option>
                <option value="skip">skip them</option>
              </select>
            )}
          />
          <TextField
            id="nbgate-ExecuteDialog-webhook"
            label="Webhook on failure"
            className="nbgate-ExecuteDialog-webhook"
            placeholder="http://host:port/path"
            value={advanced.webhook}
            error={messageFor('webhook')}
            onChange={v => setAdv('webhook', v)}
          />
        </>
      )}
    </>
  );
}

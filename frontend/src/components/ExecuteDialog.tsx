/**
 * The Execute dialog: the parameter form (from the notebook's `parameters` cell), the environment, run
 * once or on a schedule (friendly picker or cron, time zone, next runs), advanced options. Submits to the
 * executor API and shows the server's errors in its own words. Also edits a schedule.
 */
import { FormComponent } from '@jupyterlab/ui-components';
import validator from '@rjsf/validator-ajv8';
import * as React from 'react';

import * as api from '../api';
import {
  browserTimeZone,
  cronError,
  DEFAULT_FREQUENCY,
  Frequency,
  fromCron,
  isTimeZone,
  timeZones,
  toCron
} from '../cron';
import { FrequencyPicker, Preview } from './FrequencyPicker';
import { NbgateRequestError } from '../handler';
import { FormData, formDataFor, formSchema, valuesFromForm } from '../schema';
import {
  Catchup,
  CreateSchedule,
  Environment,
  Execution,
  NotebookParameters,
  Overlap,
  Schedule,
  scheduleCron
} from '../tokens';
import {
  nameFromPath,
  optionalIntegerError,
  outputDirError,
  scheduleNameError,
  webhookError
} from '../validate';

export type SubmitResult =
  | { kind: 'execution'; execution: Execution }
  | { kind: 'schedule'; schedule: Schedule; created: boolean };

export interface IExecuteDialogProps {
  /** The notebook, relative to the Jupyter root. */
  path: string;
  /** The notebook's kernel, the environment preselected. */
  kernel?: string;
  /** Edit this schedule instead of creating. */
  schedule?: Schedule;
  onDone: (result: SubmitResult) => void;
  onCancel: () => void;
}

type Mode = 'once' | 'recurring';

interface Advanced {
  timeout: string;
  cellTimeout: string;
  retries: string;
  outputDir: string;
  overlap: Overlap;
  catchup: Catchup;
  webhook: string;
}

/** The advanced options typed as text (class `nbgate-ExecuteDialog-<key>`). */
const TEXT_FIELDS: {
  key: 'timeout' | 'cellTimeout' | 'retries' | 'outputDir';
  label: string;
  placeholder: string;
}[] = [
  { key: 'timeout', label: 'Run timeout (seconds)', placeholder: 'none' },
  { key: 'cellTimeout', label: 'Cell timeout (seconds)', placeholder: 'none' },
  { key: 'retries', label: 'Retries', placeholder: '0' },
  { key: 'outputDir', label: 'Output folder', placeholder: 'executions' }
];

const toText = (seconds?: number | null): string =>
  seconds === undefined || seconds === null ? '' : String(seconds);
const toSeconds = (text: string): number | undefined =>
  text.trim() === '' ? undefined : Number(text);

export function ExecuteDialog(props: IExecuteDialogProps): JSX.Element {
  const editing = props.schedule;
  const [info, setInfo] = React.useState<NotebookParameters | null>(null);
  const [environments, setEnvironments] = React.useState<Environment[]>([]);
  const [loadError, setLoadError] = React.useState<string | null>(null);
  const [formData, setFormData] = React.useState<FormData>({});
  const [kernel, setKernel] = React.useState(editing?.kernel ?? props.kernel ?? '');
  const [mode, setMode] = React.useState<Mode>(editing ? 'recurring' : 'once');
  const [name, setName] = React.useState(editing?.name ?? nameFromPath(props.path));
  const initialCron = editing ? scheduleCron(editing) : null;
  const [frequency, setFrequency] = React.useState<Frequency>(
    initialCron ? fromCron(initialCron) : DEFAULT_FREQUENCY
  );
  const [timezone, setTimezone] = React.useState(editing?.timezone ?? browserTimeZone());
  const [showAdvanced, setShowAdvanced] = React.useState(false);
  const [advanced, setAdvanced] = React.useState<Advanced>({
    timeout: toText(editing?.timeout),
    cellTimeout: toText(editing?.cell_timeout),
    retries: toText(editing?.retries),
    outputDir: editing?.output_dir ?? '',
    overlap: editing?.overlap ?? 'skip',
    catchup: editing?.catchup ?? 'once',
    webhook: editing?.notify?.url ?? ''
  });
  const [submitted, setSubmitted] = React.useState(false);
  const [submitting, setSubmitting] = React.useState(false);
  const [serverError, setServerError] = React.useState<string | null>(null);

  React.useEffect(() => {
    let live = true;
    Promise.all([api.notebookParameters(props.path), api.listEnvironments()])
      .then(([parameters, envs]) => {
        if (!live) {
          return;
        }
        setInfo(parameters);
        setEnvironments(envs);
        setFormData(formDataFor(parameters.parameters ?? [], editing?.parameters));
        setKernel(current => current || parameters.kernel || envs[0]?.name || '');
      })
      .catch((error: NbgateRequestError) => live && setLoadError(error.message));
    return () => {
      live = false;
    };
  }, [props.path]);

  const parameters = info?.parameters ?? [];
  const form = React.useMemo(() => formSchema(parameters), [info]);
  const { values, errors: parameterErrors } = valuesFromForm(parameters, formData);
  const cron = toCron(frequency);
  const errors: { [field: string]: string | null } = {
    name: mode === 'recurring' ? scheduleNameError(name) : null,
    cron: mode === 'recurring' ? cronError(cron) : null,
    timezone:
      mode === 'recurring' && !isTimeZone(timezone)
        ? `unknown time zone ${JSON.stringify(timezone)}: use an IANA name such as Europe/Paris or UTC`
        : null,
    timeout: optionalIntegerError('timeout', advanced.timeout, 1, 604800),
    cellTimeout: optionalIntegerError('cell timeout', advanced.cellTimeout, 1, 604800),
    retries: optionalIntegerError('retries', advanced.retries, 0, 10),
    outputDir: outputDirError(advanced.outputDir),
    webhook: mode === 'recurring' ? webhookError(advanced.webhook) : null
  };
  const valid =
    Object.values(errors).every(e => e === null) && Object.keys(parameterErrors).length === 0;

  const submit = async (): Promise<void> => {
    setSubmitted(true);
    if (!valid || submitting || !info) {
      return;
    }
    setSubmitting(true);
    setServerError(null);
    const common = {
      parameters: values,
      kernel: kernel || undefined,
      timeout: toSeconds(advanced.timeout),
      cell_timeout: toSeconds(advanced.cellTimeout),
      retries: toSeconds(advanced.retries),
      output_dir: advanced.outputDir.trim() || undefined
    };
    try {
      if (mode === 'once') {
        const execution = await api.createExecution({ notebook: props.path, ...common });
        props.onDone({ kind: 'execution', execution });
      } else {
        const request: CreateSchedule = {
          name,
          notebook: props.path,
          cron,
          timezone,
          overlap: advanced.overlap,
          catchup: advanced.catchup,
          notify: advanced.webhook.trim()
            ? { url: advanced.webhook.trim(), on_failure: true, on_success: false }
            : null,
          ...common
        };
        // An edit clears what was emptied; a creation leaves it to the server's defaults.
        const schedule = editing
          ? await api.updateSchedule(editing.id, {
              ...request,
              timeout: request.timeout ?? null,
              cell_timeout: request.cell_timeout ?? null
            })
          : await api.createSchedule(request);
        props.onDone({ kind: 'schedule', schedule, created: !editing });
      }
    } catch (error) {
      setServerError((error as Error).message);
    } finally {
      setSubmitting(false);
    }
  };

  const show = (field: string): JSX.Element | null =>
    submitted || field === 'cron' || field === 'name' ? fieldError(errors[field]) : null;
  const setAdv = (patch: Partial<Advanced>) => setAdvanced({ ...advanced, ...patch });

  return (
    <div
      className="nbgate-ExecuteDialog"
      onKeyDown={event => {
        if (event.key === 'Escape') {
          props.onCancel();
        }
      }}
    >
      <h2 className="nbgate-ExecuteDialog-title">
        {editing ? `Edit schedule ${editing.name}` : 'Execute notebook'}
        <span className="nbgate-ExecuteDialog-path">{props.path}</span>
      </h2>
      {loadError && <div className="nbgate-Error nbgate-ExecuteDialog-loadError">{loadError}</div>}
      {!info && !loadError && (
        <div className="nbgate-Loading">Reading the notebook's parameters…</div>
      )}
      {info && (
        <div className="nbgate-ExecuteDialog-body">
          <section className="nbgate-Section nbgate-ExecuteDialog-parameters">
            <h3>Parameters</h3>
            {info.parameters === null ? (
              <p className="nbgate-Hint nbgate-ExecuteDialog-noParameters">
                This notebook has no cell tagged <code>parameters</code>: it will run as it is. Tag
                a cell <code>parameters</code> to set values here.
              </p>
            ) : parameters.length === 0 ? (
              <p className="nbgate-Hint">The parameters cell assigns no variables.</p>
            ) : (
              <>
                <FormComponent
                  schema={form.schema as any}
                  uiSchema={form.uiSchema}
                  formData={formData as any}
                  validator={validator as any}
                  idPrefix="nbgate-param"
                  liveValidate
                  compact
                  showModifiedFromDefault={false}
                  onChange={e => setFormData({ ...(e.formData as FormData) })}
                  onSubmit={() => void submit()}
                  tagName="div"
                />
                {Object.entries(parameterErrors).map(([param, message]) => (
                  <div key={param} className="nbgate-FieldError">
                    {param} {message}
                  </div>
                ))}
              </>
            )}
          </section>

          <section className="nbgate-Section">
            <label className="nbgate-Field">
              <span>Environment</span>
              <select
                className="nbgate-ExecuteDialog-kernel"
                value={kernel}
                onChange={e => setKernel(e.target.value)}
              >
                {environments.map(env => (
                  <option key={env.name} value={env.name}>
                    {env.display_name} ({env.name})
                  </option>
                ))}
                {kernel && !environments.some(env => env.name === kernel) && (
                  <option value={kernel}>{kernel} (not installed)</option>
                )}
              </select>
            </label>
          </section>

          <section className="nbgate-Section nbgate-ExecuteDialog-when">
            <h3>When</h3>
            {!editing && (
              <div className="nbgate-Radios">
                <label>
                  <input
                    type="radio"
                    name="nbgate-mode"
                    className="nbgate-ExecuteDialog-once"
                    checked={mode === 'once'}
                    onChange={() => setMode('once')}
                  />
                  Run once now
                </label>
                <label>
                  <input
                    type="radio"
                    name="nbgate-mode"
                    className="nbgate-ExecuteDialog-recurring"
                    checked={mode === 'recurring'}
                    onChange={() => setMode('recurring')}
                  />
                  Recurring
                </label>
              </div>
            )}
            {mode === 'recurring' && (
              <>
                <label className="nbgate-Field">
                  <span>Schedule name</span>
                  <input
                    className="nbgate-ExecuteDialog-name"
                    value={name}
                    maxLength={128}
                    onChange={e => setName(e.target.value)}
                  />
                </label>
                {show('name')}
                <FrequencyPicker frequency={frequency} onChange={setFrequency} />
                {show('cron')}
                <label className="nbgate-Field">
                  <span>Time zone</span>
                  <input
                    className="nbgate-ExecuteDialog-timezone"
                    list="nbgate-timezones"
                    value={timezone}
                    onChange={e => setTimezone(e.target.value)}
                  />
                  <datalist id="nbgate-timezones">
                    {timeZones().map(zone => (
                      <option key={zone} value={zone} />
                    ))}
                  </datalist>
                </label>
                {show('timezone')}
                {!errors.cron && !errors.timezone && <Preview cron={cron} timezone={timezone} />}
              </>
            )}
          </section>

          <section className="nbgate-Section">
            <button
              type="button"
              className="nbgate-LinkButton nbgate-ExecuteDialog-advancedToggle"
              onClick={() => setShowAdvanced(!showAdvanced)}
            >
              {showAdvanced ? '▾' : '▸'} Advanced options
            </button>
            {showAdvanced && (
              <div className="nbgate-ExecuteDialog-advanced">
                {TEXT_FIELDS.map(field => (
                  <React.Fragment key={field.key}>
                    <TextField
                      label={field.label}
                      value={advanced[field.key]}
                      placeholder={field.placeholder}
                      className={`nbgate-ExecuteDialog-${field.key}`}
                      onChange={value => setAdv({ [field.key]: value })}
                    />
                    {show(field.key)}
                  </React.Fragment>
                ))}
                {mode === 'recurring' && (
                  <>
                    <label className="nbgate-Field">
                      <span>If the previous run is still going</span>
                      <select
                        value={advanced.overlap}
                        onChange={e => setAdv({ overlap: e.target.value as Overlap })}
                      >
                        <option value="skip">skip this run</option>
                        <option value="queue">queue it</option>
                      </select>
                    </label>
                    <label className="nbgate-Field">
                      <span>Runs missed while nbgate was down</span>
                      <select
                        value={advanced.catchup}
                        onChange={e => setAdv({ catchup: e.target.value as Catchup })}
                      >
                        <option value="once">run once</option>
                        <option value="all">run each</option>
                        <option value="skip">skip them</option>
                      </select>
                    </label>
                    <TextField
                      label="Webhook on failure"
                      value={advanced.webhook}
                      placeholder="http://host:port/path"
                      className="nbgate-ExecuteDialog-webhook"
                      onChange={v => setAdv({ webhook: v })}
                    />
                    {show('webhook')}
                  </>
                )}
              </div>
            )}
          </section>
        </div>
      )}
      {serverError && (
        <div className="nbgate-Error nbgate-ExecuteDialog-serverError">{serverError}</div>
      )}
      <div className="nbgate-ExecuteDialog-buttons">
        <button
          type="button"
          className="jp-Dialog-button jp-mod-reject jp-mod-styled"
          onClick={props.onCancel}
        >
          Cancel
        </button>
        <button
          type="button"
          className="jp-Dialog-button jp-mod-accept jp-mod-styled nbgate-ExecuteDialog-submit"
          disabled={!info || submitting || (submitted && !valid)}
          onClick={() => void submit()}
        >
          {submitting
            ? 'Submitting…'
            : editing
              ? 'Save'
              : mode === 'once'
                ? 'Run now'
                : 'Create schedule'}
        </button>
      </div>
    </div>
  );
}

function fieldError(message: string | null | undefined): JSX.Element | null {
  return message ? <div className="nbgate-FieldError">{message}</div> : null;
}

function TextField(props: {
  label: string;
  value: string;
  placeholder?: string;
  className?: string;
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <label className="nbgate-Field">
      <span>{props.label}</span>
      <input
        className={props.className}
        value={props.value}
        placeholder={props.placeholder}
        onChange={e => props.onChange(e.target.value)}
      />
    </label>
  );
}

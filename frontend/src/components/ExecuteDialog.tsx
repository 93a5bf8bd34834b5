/**
 * The Execute dialog: the parameters (from the notebook's `parameters` cell, exact as typed), the
 * environment, run once or on a schedule (friendly picker or cron, time zone, next runs), advanced
 * options. A native modal `<dialog>` (ModalDialog.tsx) with a real `<form>`: Enter submits, Escape
 * closes (asking first when something was edited). The fields' rules are the server's: as the user
 * types, `POST /api/schedules/preview` (debounced, `src/preview.ts`) says what is wrong with each field,
 * the frequency in words and the next runs. Every message is shown once, at its field; the server's
 * answer to the submit too when it names one. Also edits a schedule. A schedule may run after others
 * instead of by time, its parameters taken from their runs (AfterPicker.tsx, ParameterSources.tsx).
 */
import * as React from 'react';

import * as api from '../api';
import {
  browserTimeZone,
  DEFAULT_FREQUENCY,
  Frequency,
  frequencyError,
  fromCron,
  timeZones,
  toCron
} from '../cron';
import { NbgateRequestError } from '../handler';
import { outputPatterns, outputsRequest } from '../trends';
import { expectRequest, expectRules } from '../expectations';
import { fieldErrors, IPreviewAnswer, previewBody, Previewer, recurrencePreview } from '../preview';
import {
  FieldTexts,
  initialTexts,
  ParameterField,
  parameterFields,
  valuesFromTexts
} from '../schema';
import {
  CreateSchedule,
  Environment,
  Execution,
  NotebookParameters,
  ParameterValues,
  Schedule,
  scheduleCron
} from '../tokens';
import { nameFromPath, uniqueName } from '../validate';
import {
  AfterOn,
  afterOf,
  IParameterSource,
  keepSources,
  mappedParameters,
  parametersFrom,
  pipelineFieldOf,
  sourcesOf
} from '../pipelines';
import { AfterPicker, useUpstreamChoices } from './AfterPicker';
import { MappedNote, ParameterSources } from './ParameterSources';
import { Field, FieldError, TextField } from './Field';
import { useMachineTypeChoice } from './MachineType';
import { FrequencyPicker, Preview } from './FrequencyPicker';
import { ADVANCED_FIELDS, AdvancedOptions, IAdvanced } from './AdvancedOptions';
import { DiscardConfirm, ModalDialog, openModal } from './ModalDialog';
import { parameterId, ParameterFields } from './ParameterFields';
import { fieldOfServerError, ServerError } from './serverErrors';

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

type Mode = 'once' | 'recurring' | 'after';

const TITLE_ID = 'nbgate-ExecuteDialog-title';

const toText = (seconds?: number | null): string =>
  seconds === undefined || seconds === null ? '' : String(seconds);
const toNumber = (text: string): number | undefined =>
  text.trim() === '' ? undefined : Number(text);

/** Opens the Execute dialog over the page; focus goes back to `returnFocus` when it closes. */
export function openExecuteDialog(
  props: Omit<IExecuteDialogProps, 'onCancel'>,
  returnFocus?: HTMLElement | null
): void {
  openModal(
    close => (
      <ExecuteDialog
        {...props}
        onCancel={close}
        onDone={result => {
          close();
          props.onDone(result);
        }}
      />
    ),
    returnFocus ?? undefined
  );
}

export function ExecuteDialog(props: IExecuteDialogProps): JSX.Element {
  const editing = props.schedule;
  const [info, setInfo] = React.useState<NotebookParameters | null>(null);
  const [environments, setEnvironments] = React.useState<Environment[]>([]);
  const [loadError, setLoadError] = React.useState<string | null>(null);
  const [texts, setTexts] = React.useState<FieldTexts>({});
  const [kernel, setKernel] = React.useState(editing?.kernel ?? props.kernel ?? '');
  const [mode, setMode] = React.useState<Mode>(
    editing ? (editing.after ? 'after' : 'recurring') : 'once'
  );
  const [upstreams, setUpstreams] = React.useState<string[]>(editing?.after?.schedules ?? []);
  const [afterOn, setAfterOn] = React.useState<AfterOn>(editing?.after?.on ?? 'success');
  const [sources, setSources] = React.useState<{ [parameter: string]: IParameterSource }>(() =>
    sourcesOf(editing?.parameters_from)
  );
  const upstreamChoices = useUpstreamChoices(editing?.id);
  const [name, setName] = React.useState(editing?.name ?? nameFromPath(props.path));
  const initialCron = editing ? scheduleCron(editing) : null;
  const [frequency, setFrequency] = React.useState<Frequency>(
    initialCron ? fromCron(initialCron) : DEFAULT_FREQUENCY
  );
  const [timezone, setTimezone] = React.useState(editing?.timezone ?? browserTimeZone());
  const [showAdvanced, setShowAdvanced] = React.useState(false);
  const [advanced, setAdvanced] = React.useState<IAdvanced>({
    timeout: toText(editing?.timeout),
    cellTimeout: toText(editing?.cell_timeout),
    retries: toText(editing?.retries),
    outputDir: editing?.output_dir ?? '',
    overlap: editing?.overlap ?? 'skip',
    catchup: editing?.catchup ?? 'once',
    webhook: editing?.notify?.url ?? '',
    outputs: (editing?.outputs ?? []).join('\n'),
    expect: (editing?.expect ?? []).join('\n')
  });
  const [submitting, setSubmitting] = React.useState(false);
  const [serverError, setServerError] = React.useState<ServerError | null>(null);
  /** The server's latest word on the fields as typed (`POST /api/schedules/preview`). */
  const [answer, setAnswer] = React.useState<IPreviewAnswer | null>(null);
  /** The latest preview request failed: the submit's answer is then the only check. */
  const [unchecked, setUnchecked] = React.useState(false);
  const previewer = React.useMemo(
    () =>
      new Previewer(
        body => api.previewSchedule(body),
        next => {
          setUnchecked(next === null);
          if (next) {
            setAnswer(next);
          }
        }
      ),
    []
  );
  React.useEffect(() => () => previewer.dispose(), [previewer]);
  /** Something was changed: closing asks first. */
  const [edited, setEdited] = React.useState(false);
  const [confirming, setConfirming] = React.useState(false);
  const formRef = React.useRef<HTMLFormElement>(null);
  const nameEdited = React.useRef(false);

  React.useEffect(() => {
    let live = true;
    const names = editing
      ? Promise.resolve([])
      : api.listSchedules().then(
          schedules => schedules.map(s => s.name),
          () => [] as string[]
        );
    // The schedule again, its parameters read exactly (the list's copy went through JSON.parse).
    const saved: Promise<ParameterValues | undefined> = editing
      ? api.getSchedule(editing.id).then(
          schedule => schedule.parameters,
          () => editing.parameters
        )
      : Promise.resolve(undefined);
    Promise.all([api.notebookParameters(props.path), api.listEnvironments(), names, saved])
      .then(([parameters, envs, taken, values]) => {
        if (!live) {
          return;
        }
        setInfo(parameters);
        setEnvironments(envs);
        setTexts(initialTexts(parameterFields(parameters.parameters ?? []), values));
        setKernel(current => current || parameters.kernel || envs[0]?.name || '');
        if (!nameEdited.current) {
          setName(current => uniqueName(current, taken));
        }
      })
      .catch((error: NbgateRequestError) => live && setLoadError(error.message));
    return () => {
      live = false;
    };
  }, [props.path]);

  // Once loaded, the first field has the focus.
  React.useEffect(() => {
    if (info) {
      formRef.current
        ?.querySelector<HTMLElement>('.nbgate-ExecuteDialog-body :is(input, select, textarea)')
        ?.focus();
    }
  }, [info]);

  const fields: ParameterField[] = React.useMemo(
    () => parameterFields(info?.parameters ?? []),
    [info]
  );
  const cron = toCron(frequency);
  const recurring = mode === 'recurring';
  // On a schedule, a parameter may take its value when it runs (an upstream's, the fire time).
  const activeSources =
    mode === 'once' ? {} : keepSources(sources, mode === 'after' ? upstreams : []);
  const mapped = mappedParameters(activeSources);
  const typedFields = fields.filter(field => !mapped.has(field.name));
  const { values, errors: parameterErrors } = valuesFromTexts(typedFields, texts);
  const after = mode === 'after' ? afterOf(upstreams, afterOn) : null;
  const from = parametersFrom(activeSources);
  // The picker's own boxes are checked here (the server sees only the expression they make).
  const pickerError = recurring ? frequencyError(frequency) : null;
  const body = previewBody({
    recurring: mode !== 'once',
    name,
    cron: pickerError || !recurring ? null : cron,
    timezone,
    timeout: advanced.timeout,
    cellTimeout: advanced.cellTimeout,
    retries: advanced.retries,
    outputDir: advanced.outputDir,
    webhook: advanced.webhook,
    outputs: outputPatterns(advanced.outputs),
    expect: expectRules(advanced.expect)
  });
  if (mode !== 'once' && (after || Object.keys(from).length > 0)) {
    // The pipeline fields are checked against the notebook and the other schedules.
    Object.assign(body, { notebook: props.path, parameters_from: from }, after ? { after } : {});
  }
  const bodyKey = JSON.stringify(body);
  React.useEffect(() => {
    if (info) {
      previewer.request(body);
    }
  }, [bodyKey, info]);
  const errors = fieldErrors(answer, body);
  const recurrence = recurrencePreview(answer, body);
  const scheduleError =
    pickerError ?? (errors.cron ? { field: 'cron' as const, message: errors.cron } : null);
  const afterError =
    mode !== 'after'
      ? null
      : upstreams.length === 0
        ? 'Choose the schedule it runs after.'
        : (errors.after ?? (serverError?.field === 'after' ? serverError.message : null));
  const sourcesError =
    errors.parameters_from ??
    (serverError?.field === 'parameters_from' ? serverError.message : null);
  const valid =
    pickerError === null &&
    (mode !== 'after' || upstreams.length > 0) &&
    Object.keys(errors).length === 0 &&
    Object.keys(parameterErrors).length === 0;
  const advancedInvalid = ADVANCED_FIELDS.some(
    key => errors[key] !== undefined || serverError?.field === key
  );

  /** A field's message: the server's word on it as typed (preview or submit), or the parameter's. */
  const messageFor = (field: string): string | null =>
    errors[field] ??
    parameterErrors[field] ??
    (serverError?.field === field ? serverError.message : null);

  const fieldMessages: { [name: string]: string } = {};
  for (const field of fields) {
    const message = messageFor(field.name);
    if (message) {
      fieldMessages[field.name] = message;
    }
  }

  /** Every change goes through here: it marks the form edited and clears the server's word on it. */
  const changed = (field: string) => {
    setEdited(true);
    if (serverError && (serverError.field === field || serverError.field === null)) {
      setServerError(null);
    }
  };
  const machineType = useMachineTypeChoice(
    editing?.machine_type,
    () => changed('machine_type'),
    messageFor('machine_type')
  );

  const submit = async (): Promise<void> => {
    if (!valid || submitting || !info) {
      return;
    }
    setSubmitting(true);
    setServerError(null);
    const common = {
      parameters: values,
      kernel: kernel || undefined,
      ...machineType.request,
      timeout: toNumber(advanced.timeout),
      cell_timeout: toNumber(advanced.cellTimeout),
      retries: toNumber(advanced.retries),
      output_dir: advanced.outputDir.trim() || undefined,
      ...outputsRequest(advanced.outputs, editing ? (editing.outputs ?? null) : undefined),
      ...expectRequest(advanced.expect, editing ? (editing.expect ?? null) : undefined)
    };
    try {
      if (mode === 'once') {
        const execution = await api.createExecution({ notebook: props.path, ...common });
        props.onDone({ kind: 'execution', execution });
      } else {
        const request: CreateSchedule = {
          name,
          notebook: props.path,
          ...(after ? { after } : { cron }),
          parameters_from: from,
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
      const message = (error as Error).message;
      const about = pipelineFieldOf(message) ?? fieldOfServerError(message, fields);
      // A cron error shows at the expression; with the friendly picker there is none to show it at.
      const field = about === 'cron' && frequency.kind !== 'cron' ? null : about;
      setServerError({ field, message });
      setSubmitting(false);
      if (field && ADVANCED_FIELDS.includes(field)) {
        setShowAdvanced(true);
      }
      // The field the server complains about gets the focus; its message is read with it.
      setTimeout(() => focusField(formRef.current, field));
    }
  };

  /** Escape or the backdrop: closes an untouched form; asks first about an edited one. Escape on the
   * question means keep editing; the backdrop leaves the question up. */
  const requestClose = (how: 'escape' | 'backdrop') => {
    if (!edited) {
      props.onCancel();
    } else if (!confirming) {
      setConfirming(true);
    } else if (how === 'escape') {
      setConfirming(false);
    } else {
      formRef.current?.querySelector<HTMLElement>('.nbgate-ExecuteDialog-keep')?.focus();
    }
  };

  const setAdv = (key: keyof IAdvanced, value: string) => {
    changed(key);
    setAdvanced({ ...advanced, [key]: value });
  };

  return (
    <ModalDialog
      labelledBy={TITLE_ID}
      className="nbgate-ExecuteDialog"
      onRequestClose={requestClose}
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
          {editing ? `Edit schedule ${editing.name}` : 'Execute notebook'}
          <span className="nbgate-ExecuteDialog-path">{props.path}</span>
        </h2>
        {loadError && (
          <div className="nbgate-Error nbgate-ExecuteDialog-loadError" role="alert">
            {loadError}
          </div>
        )}
        {!info && !loadError && (
          <div className="nbgate-Loading" role="status">
            Reading the notebook's parameters…
          </div>
        )}
        {info && (
          <div className="nbgate-ExecuteDialog-body">
            <section
              className="nbgate-Section nbgate-ExecuteDialog-parameters"
              aria-labelledby="nbgate-ExecuteDialog-parameters"
            >
              <h3 id="nbgate-ExecuteDialog-parameters">Parameters</h3>
              {info.parameters === null ? (
                <p className="nbgate-Hint nbgate-ExecuteDialog-noParameters">
                  This notebook has no cell tagged <code>parameters</code>: it will run as it is.
                  Tag a cell <code>parameters</code> to set values here.
                </p>
              ) : fields.length === 0 ? (
                <p className="nbgate-Hint">The parameters cell assigns no variables.</p>
              ) : (
                <ParameterFields
                  fields={typedFields}
                  texts={texts}
                  errors={fieldMessages}
                  onChange={(param, text) => {
                    changed(param);
                    setTexts(current => ({ ...current, [param]: text }));
                  }}
                />
              )}
              <MappedNote sources={activeSources} />
              {serverError?.field === 'parameters' && (
                <FieldError
                  id="nbgate-ExecuteDialog-parameters-error"
                  message={serverError.message}
                />
              )}
            </section>

            <section className="nbgate-Section">
              <Field
                id="nbgate-ExecuteDialog-kernel"
                label="Environment"
                error={messageFor('kernel')}
                control={control => (
                  <select
                    {...control}
                    className="nbgate-ExecuteDialog-kernel"
                    value={kernel}
                    onChange={e => {
                      changed('kernel');
                      setKernel(e.target.value);
                    }}
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
                )}
              />
            </section>
            {machineType.element}

            <section className="nbgate-Section nbgate-ExecuteDialog-when">
              {!editing && (
                <fieldset className="nbgate-Radios">
                  <legend>When</legend>
                  <label>
                    <input
                      type="radio"
                      name="nbgate-mode"
                      className="nbgate-ExecuteDialog-once"
                      checked={mode === 'once'}
                      onChange={() => {
                        changed('mode');
                        setMode('once');
                      }}
                    />
                    Run once now
                  </label>
                  <label>
                    <input
                      type="radio"
                      name="nbgate-mode"
                      className="nbgate-ExecuteDialog-recurring"
                      checked={mode === 'recurring'}
                      onChange={() => {
                        changed('mode');
                        setMode('recurring');
                      }}
                    />
                    Recurring
                  </label>
                  <label>
                    <input
                      type="radio"
                      name="nbgate-mode"
                      className="nbgate-ExecuteDialog-after"
                      checked={mode === 'after'}
                      onChange={() => {
                        changed('mode');
                        setMode('after');
                      }}
                    />
                    After other schedules
                  </label>
                </fieldset>
              )}
              {mode !== 'once' && (
                <>
                  <TextField
                    id="nbgate-ExecuteDialog-name"
                    label="Schedule name"
                    className="nbgate-ExecuteDialog-name"
                    value={name}
                    maxLength={128}
                    help="a-z, 0-9 and _; names the output files"
                    error={messageFor('name')}
                    onChange={value => {
                      nameEdited.current = true;
                      changed('name');
                      setName(value);
                    }}
                  />
                  {mode === 'after' && (
                    <AfterPicker
                      choices={upstreamChoices}
                      upstreams={upstreams}
                      on={afterOn}
                      error={afterError}
                      description={
                        answer && JSON.stringify(answer.body.after) === JSON.stringify(after)
                          ? (answer.preview.description ?? null)
                          : null
                      }
                      onChange={(next, on) => {
                        changed('after');
                        setUpstreams(next);
                        setAfterOn(on);
                      }}
                    />
                  )}
                  {recurring && (
                    <FrequencyPicker
                      frequency={frequency}
                      error={
                        scheduleError ??
                        (serverError?.field === 'cron'
                          ? { field: 'cron', message: serverError.message }
                          : null)
                      }
                      onChange={next => {
                        changed('cron');
                        setFrequency(next);
                      }}
                    />
                  )}
                  <TextField
                    id="nbgate-ExecuteDialog-timezone"
                    label="Time zone"
                    className="nbgate-ExecuteDialog-timezone"
                    list="nbgate-timezones"
                    value={timezone}
                    help={
                      recurring
                        ? "The schedule's times are in this zone"
                        : 'Fire times are written in this zone'
                    }
                    error={messageFor('timezone')}
                    onChange={value => {
                      changed('timezone');
                      setTimezone(value);
                    }}
                  />
                  <datalist id="nbgate-timezones">
                    {timeZones().map(zone => (
                      <option key={zone} value={zone} />
                    ))}
                  </datalist>
                  {recurring && !scheduleError && !errors.timezone && (
                    <Preview
                      cron={cron}
                      timezone={timezone}
                      preview={recurrence}
                      unchecked={unchecked}
                    />
                  )}
                  <ParameterSources
                    fields={fields}
                    sources={activeSources}
                    upstreams={mode === 'after' ? upstreams : []}
                    schedules={upstreamChoices ?? []}
                    error={sourcesError}
                    onChange={(parameter, source) => {
                      changed('parameters_from');
                      setSources(current => ({ ...current, [parameter]: source }));
                    }}
                  />
                </>
              )}
            </section>

            <section className="nbgate-Section">
              <button
                type="button"
                className="nbgate-LinkButton nbgate-ExecuteDialog-advancedToggle"
                aria-expanded={showAdvanced || advancedInvalid}
                aria-controls="nbgate-ExecuteDialog-advanced"
                onClick={() => setShowAdvanced(!showAdvanced)}
              >
                <span aria-hidden="true">{showAdvanced || advancedInvalid ? '▾' : '▸'}</span>{' '}
                Advanced options
              </button>
              {(showAdvanced || advancedInvalid) && (
                <div className="nbgate-ExecuteDialog-advanced" id="nbgate-ExecuteDialog-advanced">
                  <AdvancedOptions
                    advanced={advanced}
                    recurring={recurring}
                    messageFor={messageFor}
                    onChange={setAdv}
                  />
                </div>
              )}
            </section>
          </div>
        )}
        <div className="nbgate-ExecuteDialog-footer">
          {serverError && serverError.field === null && (
            <div className="nbgate-Error nbgate-ExecuteDialog-serverError" role="alert">
              {serverError.message}
            </div>
          )}
          {confirming ? (
            <DiscardConfirm onKeep={() => setConfirming(false)} onDiscard={props.onCancel} />
          ) : (
            <div className="nbgate-ExecuteDialog-buttons">
              {info && !valid && (
                <span
                  className="nbgate-Hint nbgate-ExecuteDialog-invalid"
                  id="nbgate-ExecuteDialog-invalid"
                >
                  Correct the fields marked in red to continue.
                </span>
              )}
              <button
                type="button"
                className="jp-Dialog-button jp-mod-reject jp-mod-styled nbgate-ExecuteDialog-cancel"
                onClick={props.onCancel}
              >
                Cancel
              </button>
              <button
                type="submit"
                className="jp-Dialog-button jp-mod-accept jp-mod-styled nbgate-ExecuteDialog-submit"
                disabled={!info || submitting || !valid}
                aria-describedby={info && !valid ? 'nbgate-ExecuteDialog-invalid' : undefined}
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
          )}
        </div>
      </form>
    </ModalDialog>
  );
}

/** Focuses the control a server error is about (a parameter, a field of the dialog). */
function focusField(form: HTMLFormElement | null, field: string | null): void {
  if (!form || !field) {
    return;
  }
  const id =
    field === 'cron'
      ? null
      : form.querySelector(`#${CSS.escape(parameterId(field))}`)
        ? parameterId(field)
        : `nbgate-ExecuteDialog-${field}`;
  const target =
    (id && form.querySelector<HTMLElement>(`#${CSS.escape(id)}`)) ||
    form.querySelector<HTMLElement>('[aria-invalid="true"]');
  target?.focus();
}

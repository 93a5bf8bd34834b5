/**
 * Where each notebook parameter of a schedule gets its value (`parameters_from`): typed in the
 * dialog's Parameters section, a value an upstream's run recorded or a parameter it ran with
 * (`UPSTREAM.values.NAME`, `UPSTREAM.parameters.NAME`), or the run's fire time. Resolved by the
 * server when the schedule fires; checked as it is chosen (the preview), its message at the parameter.
 */
import * as React from 'react';

import * as api from '../api';
import { IParameterSource, parameterOfMessage, referenceOf, SourceKind, TYPED } from '../pipelines';
import { ParameterField } from '../schema';
import { Schedule } from '../tokens';
import { Field, FieldError } from './Field';

export const sourceId = (name: string): string => `nbgate-source_${name}`;
const sourceNameId = (name: string): string => `nbgate-sourceName_${name}`;

/** The values each upstream's recent runs recorded, by upstream name, loaded once per upstream. */
function useRecordedNames(upstreams: Schedule[]): { [upstream: string]: string[] } {
  const [names, setNames] = React.useState<{ [upstream: string]: string[] }>({});
  const key = upstreams.map(s => s.id).join(',');
  React.useEffect(() => {
    let live = true;
    for (const upstream of upstreams) {
      api.scheduleValues(upstream.id, { limit: 5 }).then(
        series => live && setNames(before => ({ ...before, [upstream.name]: Object.keys(series) })),
        () => undefined
      );
    }
    return () => {
      live = false;
    };
  }, [key]);
  return names;
}

/** The names an upstream offers for a kind of source: what its runs recorded, or its parameters. */
function suggestions(
  upstream: Schedule | undefined,
  kind: SourceKind,
  recorded: { [upstream: string]: string[] }
): string[] {
  if (!upstream) {
    return [];
  }
  if (kind === 'values') {
    return recorded[upstream.name] ?? [];
  }
  return [...Object.keys(upstream.parameters), ...Object.keys(upstream.parameters_from ?? {})];
}

/** The name to start with: the parameter's own name when the upstream has it, else its first. */
function defaultName(parameter: string, names: string[]): string {
  return names.find(name => name.toLowerCase() === parameter.toLowerCase()) ?? names[0] ?? '';
}

/** The select's value for a source. */
const choiceOf = (source: IParameterSource): string =>
  source.kind === 'values' || source.kind === 'parameters'
    ? `${source.kind}:${source.upstream}`
    : source.kind;

export function ParameterSources(props: {
  fields: ParameterField[];
  sources: { [parameter: string]: IParameterSource };
  /** The upstreams chosen (none on a schedule that runs by time: only the fire time is offered). */
  upstreams: string[];
  /** The schedules, for the names each upstream offers. */
  schedules: Schedule[];
  /** The server's word on `parameters_from`. */
  error: string | null;
  onChange: (parameter: string, source: IParameterSource) => void;
}): JSX.Element | null {
  const chosen = props.schedules.filter(s => props.upstreams.includes(s.name));
  const recorded = useRecordedNames(chosen);
  if (props.fields.length === 0) {
    return null;
  }
  const about = props.error ? parameterOfMessage(props.error) : null;
  if (props.upstreams.length === 0) {
    return <FireTimeField {...props} message={about?.message ?? props.error} />;
  }
  const upstreamOf = (name: string) => props.schedules.find(s => s.name === name);
  const choose = (parameter: string, choice: string) => {
    if (choice === 'typed' || choice === 'fire_time') {
      props.onChange(parameter, choice === 'typed' ? TYPED : { ...TYPED, kind: 'fire_time' });
      return;
    }
    const [kind, upstream] = choice.split(':') as ['values' | 'parameters', string];
    const name = defaultName(parameter, suggestions(upstreamOf(upstream), kind, recorded));
    props.onChange(parameter, { kind, upstream, name });
  };
  return (
    <fieldset className="nbgate-ParameterSources">
      <legend>Parameter values</legend>
      <p className="nbgate-Hint nbgate-ParameterSources-help">
        Each parameter takes the value typed above, or one from the run it runs after, or the time
        it fires.
      </p>
      {props.fields.map(field => {
        const source = props.sources[field.name] ?? TYPED;
        const upstreamKind = source.kind === 'values' || source.kind === 'parameters';
        const message = about ? (about.parameter === field.name ? about.message : null) : null;
        const errorId = message ? `${sourceId(field.name)}-error` : undefined;
        const listId = `${sourceNameId(field.name)}-list`;
        return (
          <div
            key={field.name}
            className="nbgate-Field nbgate-ParameterSource"
            data-parameter={field.name}
          >
            <label htmlFor={sourceId(field.name)}>
              <code>{field.name}</code>
              <span className="nbgate-VisuallyHidden"> takes</span>
            </label>
            <div className="nbgate-Field-control">
              <div className="nbgate-ParameterSource-row">
                <select
                  id={sourceId(field.name)}
                  className="nbgate-ParameterSource-kind"
                  value={choiceOf(source)}
                  aria-describedby={errorId}
                  aria-invalid={message && !upstreamKind ? true : undefined}
                  onChange={e => choose(field.name, e.target.value)}
                >
                  <option value="typed">the value typed above</option>
                  {props.upstreams.map(upstream => (
                    <React.Fragment key={upstream}>
                      <option value={`values:${upstream}`}>a value {upstream} recorded</option>
                      <option value={`parameters:${upstream}`}>
                        a parameter {upstream} ran with
                      </option>
                    </React.Fragment>
                  ))}
                  <option value="fire_time">the fire time (YYYY-MM-DD)</option>
                </select>
                {upstreamKind && (
                  <>
                    <input
                      id={sourceNameId(field.name)}
                      className="nbgate-ParameterSource-name"
                      type="text"
                      list={listId}
                      autoComplete="off"
                      spellCheck={false}
                      placeholder="name"
                      aria-label={`${field.name}: name of the ${
                        source.kind === 'values' ? 'value' : 'parameter'
                      } of ${source.upstream}`}
                      aria-describedby={errorId}
                      aria-invalid={message ? true : undefined}
                      value={source.name}
                      onChange={e =>
                        props.onChange(field.name, { ...source, name: e.target.value })
                      }
                    />
                    <datalist id={listId}>
                      {suggestions(upstreamOf(source.upstream), source.kind, recorded).map(name => (
                        <option key={name} value={name} />
                      ))}
                    </datalist>
                  </>
                )}
              </div>
              {upstreamKind && !message && (
                <div className="nbgate-Hint nbgate-Field-help">
                  Reads <code>{referenceOf(source)}</code> when it runs; if that{' '}
                  {source.kind === 'values' ? 'value was not recorded' : 'parameter is missing'},
                  the run fails and says so
                </div>
              )}
              {message && (
                <div id={errorId} className="nbgate-FieldError">
                  {message}
                </div>
              )}
            </div>
          </div>
        );
      })}
      {props.error && !about && (
        <FieldError id="nbgate-ParameterSources-error" message={props.error} />
      )}
    </fieldset>
  );
}

/** A schedule that runs by time: which parameter, if any, receives each run's fire time. */
function FireTimeField(props: {
  fields: ParameterField[];
  sources: { [parameter: string]: IParameterSource };
  message: string | null;
  onChange: (parameter: string, source: IParameterSource) => void;
}): JSX.Element {
  const fired = props.fields
    .filter(field => props.sources[field.name]?.kind === 'fire_time')
    .map(field => field.name);
  return (
    <Field
      id="nbgate-ParameterSources-fireTime"
      label="Fire time into"
      help="The parameter that receives the time each run was due (YYYY-MM-DD in the zone above): the day of data a run processes, also when it runs late or is backfilled"
      error={props.message}
      control={control => (
        <select
          {...control}
          className="nbgate-ParameterSources-fireTime"
          value={fired[0] ?? ''}
          onChange={e => {
            for (const name of fired) {
              props.onChange(name, TYPED);
            }
            if (e.target.value) {
              props.onChange(e.target.value, { ...TYPED, kind: 'fire_time' });
            }
          }}
        >
          <option value="">no parameter</option>
          {props.fields.map(field => (
            <option key={field.name} value={field.name}>
              {field.name}
            </option>
          ))}
        </select>
      )}
    />
  );
}

/** In the Parameters section: the parameters whose value comes from elsewhere, and from where. */
export function MappedNote(props: {
  sources: { [parameter: string]: IParameterSource };
}): JSX.Element | null {
  const mapped = Object.entries(props.sources)
    .map(([parameter, source]) => [parameter, referenceOf(source)] as const)
    .filter(([, reference]) => reference !== null);
  if (mapped.length === 0) {
    return null;
  }
  return (
    <ul className="nbgate-Hint nbgate-MappedNote" aria-label="Parameters set when it runs">
      {mapped.map(([parameter, reference]) => (
        <li key={parameter}>
          <code>{parameter}</code> ←{' '}
          {reference === 'fire_time' ? 'the fire time' : <code>{reference}</code>} (under When)
        </li>
      ))}
    </ul>
  );
}

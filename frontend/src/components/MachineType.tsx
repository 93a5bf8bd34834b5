/**
 * Machine types in the UI: the Execute dialog's choice (`GET /api/machine-types` as a select showing
 * each type's description; nothing at all when the server has none) and the label the sidebar shows
 * on a schedule's or an execution's row.
 */
import * as React from 'react';

import type { components } from '../generated/api';
import { requestAPI } from '../handler';
import { Field } from './Field';

export type MachineType = components['schemas']['MachineType'];

export function listMachineTypes(): Promise<MachineType[]> {
  return requestAPI<MachineType[]>('machine-types');
}

/** What the dialog keeps of the choice: the control to show, and the request's `machine_type`. */
export interface IMachineTypeChoice {
  element: JSX.Element | null;
  request: { machine_type?: string };
}

/**
 * The dialog's machine type: `initial` (an edited schedule's), else the server's default type.
 * `onChange` runs on every change the user makes (the dialog marks itself edited).
 */
export function useMachineTypeChoice(
  initial: string | null | undefined,
  onChange: () => void,
  error?: string | null
): IMachineTypeChoice {
  const [types, setTypes] = React.useState<MachineType[]>([]);
  const [chosen, setChosen] = React.useState(initial ?? '');
  React.useEffect(() => {
    let live = true;
    listMachineTypes()
      .then(list => {
        if (live) {
          setTypes(list);
          setChosen(current => current || list.find(type => type.default)?.name || '');
        }
      })
      // Without the list there is no choice to offer: the server applies its default.
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  const element =
    types.length === 0 ? null : (
      <MachineTypeField
        types={types}
        value={chosen}
        error={error}
        onChange={value => {
          onChange();
          setChosen(value);
        }}
      />
    );
  return { element, request: chosen ? { machine_type: chosen } : {} };
}

export function MachineTypeField(props: {
  types: MachineType[];
  value: string;
  onChange: (value: string) => void;
  error?: string | null;
}): JSX.Element {
  const selected = props.types.find(type => type.name === props.value);
  return (
    <section className="nbgate-Section">
      <Field
        id="nbgate-ExecuteDialog-machineType"
        label="Machine type"
        error={props.error}
        help={selected ? `${selected.description} · ${where(selected)}` : undefined}
        control={control => (
          <select
            {...control}
            className="nbgate-ExecuteDialog-machineType"
            value={props.value}
            onChange={event => props.onChange(event.target.value)}
          >
            {!selected && <option value="">Choose a machine type</option>}
            {props.types.map(type => (
              <option key={type.name} value={type.name}>
                {type.name}
                {type.description ? ` — ${type.description}` : ''}
                {type.default ? ' (default)' : ''}
              </option>
            ))}
          </select>
        )}
      />
    </section>
  );
}

/** "this machine" or the gateway's URL. */
function where(type: MachineType): string {
  return type.location === 'local' ? 'this machine' : `on ${type.location}`;
}

/** A row's machine type, as the sidebar shows it (nothing without one). */
export function MachineTypeLabel(props: { name?: string | null }): JSX.Element | null {
  return props.name ? (
    <span className="nbgate-Badge nbgate-MachineType" title="Machine type">
      {props.name}
    </span>
  ) : null;
}

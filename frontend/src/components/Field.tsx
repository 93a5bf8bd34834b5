/**
 * A labelled form field: its label (`<label for>`), the control, its help and its error underneath,
 * wired with `aria-describedby` (only to the messages shown) and `aria-invalid`.
 */
import * as React from 'react';

/** What the control needs to be described by its messages. */
export interface IControlProps {
  id: string;
  'aria-describedby'?: string;
  'aria-invalid'?: boolean;
}

export interface IFieldProps {
  id: string;
  label: React.ReactNode;
  /** Shown under the control (plain help: what to type). */
  help?: React.ReactNode;
  /** Shown under the control, in red, when the value is wrong. */
  error?: string | null;
  className?: string;
  control: (props: IControlProps) => JSX.Element;
}

export function Field(props: IFieldProps): JSX.Element {
  const helpId = props.help ? `${props.id}-help` : undefined;
  const errorId = props.error ? `${props.id}-error` : undefined;
  const describedBy = [helpId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`nbgate-Field${props.className ? ` ${props.className}` : ''}`}>
      <label htmlFor={props.id}>{props.label}</label>
      <div className="nbgate-Field-control">
        {props.control({
          id: props.id,
          'aria-describedby': describedBy,
          'aria-invalid': props.error ? true : undefined
        })}
        {props.help && (
          <div id={helpId} className="nbgate-Hint nbgate-Field-help">
            {props.help}
          </div>
        )}
        <FieldError id={errorId} message={props.error} />
      </div>
    </div>
  );
}

/** A field's error: one message, where the field is. */
export function FieldError(props: { id?: string; message?: string | null }): JSX.Element | null {
  return props.message ? (
    <div id={props.id} className="nbgate-FieldError">
      {props.message}
    </div>
  ) : null;
}

/** A text box in a `Field`. */
export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  help?: React.ReactNode;
  error?: string | null;
  placeholder?: string;
  className?: string;
  inputMode?: 'numeric' | 'decimal' | 'text' | 'url';
  maxLength?: number;
  list?: string;
}): JSX.Element {
  return (
    <Field
      id={props.id}
      label={props.label}
      help={props.help}
      error={props.error}
      control={control => (
        <input
          {...control}
          type="text"
          className={props.className}
          value={props.value}
          placeholder={props.placeholder}
          inputMode={props.inputMode}
          maxLength={props.maxLength}
          list={props.list}
          autoComplete="off"
          spellCheck={false}
          onChange={e => props.onChange(e.target.value)}
        />
      )}
    />
  );
}

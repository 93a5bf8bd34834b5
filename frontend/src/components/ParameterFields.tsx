/**
 * The parameter fields of the Execute dialog: a text box per number (numeric keyboard, the text kept as
 * typed), a checkbox per bool, a text box per string or free JSON value, a textarea per list or dict. Each
 * shows its own error under it.
 */
import * as React from 'react';

import { FieldTexts, ParameterField } from '../schema';
import { Field } from './Field';

/** The id of a parameter's control (`#nbgate-param_<name>`; names are identifiers). */
export const parameterId = (name: string): string => `nbgate-param_${name}`;

export function ParameterFields(props: {
  fields: ParameterField[];
  texts: FieldTexts;
  errors: { [name: string]: string };
  onChange: (name: string, text: string) => void;
}): JSX.Element {
  return (
    <div className="nbgate-ParameterFields">
      {props.fields.map(field => {
        const text = props.texts[field.name] ?? '';
        const help = [field.help, field.hint].filter(Boolean).join(' · ');
        const set = (value: string) => props.onChange(field.name, value);
        return (
          <Field
            key={field.name}
            id={parameterId(field.name)}
            className={`nbgate-ParameterField nbgate-ParameterField-${field.kind}`}
            label={<code>{field.name}</code>}
            help={help}
            error={props.errors[field.name]}
            control={control => {
              switch (field.kind) {
                case 'bool':
                  return (
                    <input
                      {...control}
                      type="checkbox"
                      checked={text === 'true'}
                      onChange={e => set(e.target.checked ? 'true' : 'false')}
                    />
                  );
                case 'list':
                case 'dict':
                  return (
                    <textarea
                      {...control}
                      rows={Math.min(6, Math.max(2, text.split('\n').length))}
                      value={text}
                      spellCheck={false}
                      onChange={e => set(e.target.value)}
                    />
                  );
                default:
                  return (
                    <input
                      {...control}
                      type="text"
                      inputMode={
                        field.kind === 'int'
                          ? 'numeric'
                          : field.kind === 'float'
                            ? 'decimal'
                            : 'text'
                      }
                      autoComplete="off"
                      spellCheck={false}
                      placeholder={field.optional ? field.default : undefined}
                      value={text}
                      onChange={e => set(e.target.value)}
                    />
                  );
              }
            }}
          />
        );
      })}
    </div>
  );
}

/**
 * The parameter fields: one per variable of the notebook's `parameters` cell, edited as text that is
 * kept exactly as typed, checked at the field, and turned into exact JSON values for the request (a
 * 23-digit integer stays 23 digits: see exactJson.ts). Pure functions: no React, no DOM.
 */
import { INTEGER, JsonNumber, NUMBER, parse, stringify } from './exactJson';
import { ParameterInfo, ParameterValues } from './tokens';

/** How a field is edited: a text box with a numeric keyboard, a checkbox, a text box, or JSON text. */
export type FieldKind = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'json';

export interface ParameterField {
  name: string;
  kind: FieldKind;
  /** The comment beside the variable in the notebook. */
  help: string;
  /** What to type, in words (e.g. "whole number"). */
  hint: string;
  /** The default as written in the notebook. */
  default: string;
  /** The text the field starts with when the notebook's default applies. */
  defaultText: string;
  /** Empty is allowed: the default is `None` (or an expression), which applies when nothing is sent. */
  optional: boolean;
}

/** The text of every field by parameter name; a checkbox is `"true"` or `"false"`. */
export type FieldTexts = { [name: string]: string };

const KINDS: { [type: string]: FieldKind } = {
  int: 'int',
  float: 'float',
  bool: 'bool',
  str: 'str',
  list: 'list',
  dict: 'dict'
};

/** Non-finite floats, which JSON (and so the API) cannot carry. */
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;

/** One field per parameter. */
export function parameterFields(parameters: ParameterInfo[]): ParameterField[] {
  return parameters.map(parameter => {
    const kind = KINDS[parameter.type] ?? 'json';
    const optional = kind === 'json';
    const hint = {
      int: 'whole number',
      float: 'number',
      bool: '',
      str: 'text',
      list: 'JSON list, e.g. [1, 2]',
      dict: 'JSON object, e.g. {"a": 1}',
      json:
        parameter.type === 'null'
          ? 'JSON value; leave empty for None'
          : `JSON value; leave empty for the notebook's ${parameter.default}`
    }[kind];
    const initial = defaultText(kind, parameter);
    return {
      name: parameter.name,
      kind,
      help: parameter.help?.trim() ?? '',
      hint:
        kind === 'float' && NON_FINITE.test(initial)
          ? `number; left as ${initial}, the notebook keeps its own (JSON cannot carry ${initial})`
          : hint,
      default: parameter.default,
      defaultText: initial,
      optional
    };
  });
}

/** The notebook's default as field text: JSON as written in the notebook when it is JSON already. */
function defaultText(kind: FieldKind, parameter: ParameterInfo): string {
  if (kind === 'json') {
    return '';
  }
  if ((kind === 'list' || kind === 'dict') && isJson(parameter.default)) {
    return parameter.default;
  }
  return textOf(kind, parameter.default_value);
}

/** The text a field shows for a value (exactly parsed: numbers may be `JsonNumber`s). */
export function textOf(kind: FieldKind, value: unknown): string {
  if (value === undefined) {
    return '';
  }
  switch (kind) {
    case 'int':
    case 'float':
      if (value instanceof JsonNumber || typeof value === 'number') {
        return String(value);
      }
      // Integers a double cannot hold and non-finite floats may come back as strings of their digits.
      return typeof value === 'string' ? value : stringify(value);
    case 'bool':
      return value === true ? 'true' : 'false';
    case 'str':
      return typeof value === 'string' ? value : stringify(value, true);
    default:
      return stringify(value, true);
  }
}

/** Each field's text: the given values (editing a schedule), else the notebook's defaults. */
export function initialTexts(fields: ParameterField[], values: ParameterValues = {}): FieldTexts {
  const texts: FieldTexts = {};
  for (const field of fields) {
    texts[field.name] =
      field.name in values ? textOf(field.kind, values[field.name]) : field.defaultText;
  }
  return texts;
}

function isJson(text: string): boolean {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The value to send for a field's text; `omit`: send nothing, the notebook's default applies. */
export type FieldValue = { value: unknown } | { omit: true } | { error: string };

export function fieldValue(field: ParameterField, text: string): FieldValue {
  const trimmed = text.trim();
  if (trimmed === '' && field.kind !== 'str') {
    return field.optional ? { omit: true } : { error: EMPTY[field.kind] };
  }
  switch (field.kind) {
    case 'int':
      return INTEGER.test(trimmed)
        ? { value: new JsonNumber(trimmed) }
        : { error: `${quote(trimmed)} is not a whole number: use digits, e.g. 42 or -7` };
    case 'float':
      if (NUMBER.test(trimmed)) {
        // A float field sends a float: "3" as 3.0, as the notebook's default is one.
        return { value: new JsonNumber(INTEGER.test(trimmed) ? `${trimmed}.0` : trimmed) };
      }
      if (NON_FINITE.test(trimmed)) {
        // The notebook's own nan or inf, unchanged: nothing is sent and the notebook keeps it.
        return trimmed === field.defaultText
          ? { omit: true }
          : {
              error: `${trimmed} cannot be sent (JSON has no such number): set it in the notebook instead`
            };
      }
      return { error: `${quote(trimmed)} is not a number: e.g. 3.5, -2 or 1e-3` };
    case 'bool':
      return { value: trimmed === 'true' };
    case 'str':
      return { value: text };
    default:
      return jsonValue(field.kind, trimmed);
  }
}

const EMPTY: { [kind in FieldKind]: string } = {
  int: 'enter a whole number',
  float: 'enter a number',
  bool: '',
  str: '',
  list: 'enter a JSON list, e.g. [] or [1, 2]',
  dict: 'enter a JSON object, e.g. {} or {"a": 1}',
  json: ''
};

function jsonValue(kind: FieldKind, text: string): FieldValue {
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    // A bare word is most likely meant as text.
    const hint =
      /^[A-Za-z_]/.test(text) && !/^(true|false|null)\b/.test(text)
        ? ' (put text in "double quotes")'
        : '';
    return { error: `not valid JSON: ${(error as Error).message}${hint}` };
  }
  const isList = Array.isArray(value);
  const isDict = value !== null && typeof value === 'object' && !isList;
  if ((kind === 'list' && !isList) || (kind === 'dict' && !isDict)) {
    return {
      error: kind === 'list' ? 'use a JSON list, e.g. [1, 2]' : 'use a JSON object, e.g. {"a": 1}'
    };
  }
  return { value };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** The values to send, and the error of each field that is wrong. */
export function valuesFromTexts(
  fields: ParameterField[],
  texts: FieldTexts
): { values: ParameterValues; errors: { [name: string]: string } } {
  const values: ParameterValues = {};
  const errors: { [name: string]: string } = {};
  for (const field of fields) {
    const result = fieldValue(field, texts[field.name] ?? '');
    if ('error' in result) {
      errors[field.name] = result.error;
    } else if ('value' in result) {
      values[field.name] = result.value;
    }
  }
  return { values, errors };
}

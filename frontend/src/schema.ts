/**
 * The parameter form: a JSON schema (rendered by JupyterLab's rjsf FormComponent) built from the
 * notebook's `parameters` cell, and the way back from form data to typed parameter values.
 */
import { ParameterInfo, ParameterValues } from './tokens';

/** The subset of JSON schema the form uses. */
export interface FieldSchema {
  type: 'integer' | 'number' | 'boolean' | 'string';
  title: string;
  description?: string;
  default?: unknown;
}

export interface FormSchema {
  type: 'object';
  properties: { [name: string]: FieldSchema };
}

export type UiSchema = { [name: string]: { [key: string]: unknown } };

/** Form data: one entry per parameter; lists, dicts and expressions are JSON text. */
export type FormData = { [name: string]: unknown };

/** Types edited as JSON text in a textarea. */
const JSON_TYPES = ['list', 'dict'];
/** Types whose default is not a literal the form can hold: free JSON, empty keeps the default. */
const FREE_TYPES = ['null', 'unknown'];

/** One typed field per parameter, the default prefilled, the comment as help. */
export function formSchema(parameters: ParameterInfo[]): {
  schema: FormSchema;
  uiSchema: UiSchema;
} {
  const properties: FormSchema['properties'] = {};
  const uiSchema: UiSchema = {};
  for (const parameter of parameters) {
    const help = parameter.help?.trim();
    const field: FieldSchema = { type: 'string', title: parameter.name };
    switch (parameter.type) {
      case 'int':
        field.type = 'integer';
        break;
      case 'float':
        field.type = 'number';
        break;
      case 'bool':
        field.type = 'boolean';
        break;
      case 'str':
        field.type = 'string';
        break;
    }
    const typeHint = JSON_TYPES.includes(parameter.type)
      ? `JSON ${parameter.type === 'list' ? 'list' : 'object'}`
      : FREE_TYPES.includes(parameter.type)
        ? `JSON value; empty keeps ${parameter.default}`
        : '';
    const description = [help, typeHint].filter(Boolean).join(' · ');
    if (description) {
      field.description = description;
    }
    const value = defaultFormValue(parameter);
    if (value !== undefined) {
      field.default = value;
    }
    properties[parameter.name] = field;
    if (JSON_TYPES.includes(parameter.type)) {
      uiSchema[parameter.name] = { 'ui:widget': 'textarea', 'ui:options': { rows: 2 } };
    }
  }
  return { schema: { type: 'object', properties }, uiSchema };
}

function defaultFormValue(parameter: ParameterInfo): unknown {
  const value = parameter.default_value;
  if (JSON_TYPES.includes(parameter.type)) {
    return value === undefined ? parameter.default : JSON.stringify(value);
  }
  if (FREE_TYPES.includes(parameter.type)) {
    return undefined;
  }
  return value === null ? undefined : value;
}

/** Form data for the given values (an edit), the defaults for the rest. */
export function formDataFor(parameters: ParameterInfo[], values: ParameterValues = {}): FormData {
  const data: FormData = {};
  for (const parameter of parameters) {
    if (parameter.name in values) {
      const value = values[parameter.name];
      data[parameter.name] =
        JSON_TYPES.includes(parameter.type) ||
        FREE_TYPES.includes(parameter.type) ||
        (value === null && parameter.type !== 'str')
          ? JSON.stringify(value)
          : value;
    } else {
      const value = defaultFormValue(parameter);
      if (value !== undefined) {
        data[parameter.name] = value;
      }
    }
  }
  return data;
}

/**
 * Typed values from form data, and a message per field that is wrong. A field left empty is not sent,
 * so the notebook's own default applies.
 */
export function valuesFromForm(
  parameters: ParameterInfo[],
  data: FormData
): { values: ParameterValues; errors: { [name: string]: string } } {
  const values: ParameterValues = {};
  const errors: { [name: string]: string } = {};
  for (const parameter of parameters) {
    const raw = data[parameter.name];
    if (raw === undefined || raw === '') {
      if (parameter.type === 'str' && raw === '') {
        values[parameter.name] = '';
      }
      continue;
    }
    const result = typed(parameter, raw);
    if ('error' in result) {
      errors[parameter.name] = result.error;
    } else {
      values[parameter.name] = result.value;
    }
  }
  return { values, errors };
}

function typed(parameter: ParameterInfo, raw: unknown): { value: unknown } | { error: string } {
  switch (parameter.type) {
    case 'int':
      return typeof raw === 'number' && Number.isInteger(raw)
        ? { value: raw }
        : { error: 'must be an integer' };
    case 'float':
      return typeof raw === 'number' && Number.isFinite(raw)
        ? { value: raw }
        : { error: 'must be a number' };
    case 'bool':
      return typeof raw === 'boolean' ? { value: raw } : { error: 'must be true or false' };
    case 'str':
      return { value: String(raw) };
    case 'list':
    case 'dict': {
      const parsed = parseJSON(String(raw));
      if ('error' in parsed) {
        return parsed;
      }
      const isList = Array.isArray(parsed.value);
      const isDict = parsed.value !== null && typeof parsed.value === 'object' && !isList;
      if (parsed.value === null || (parameter.type === 'list' ? isList : isDict)) {
        return parsed;
      }
      return {
        error:
          parameter.type === 'list'
            ? 'must be a JSON list, e.g. [1, 2]'
            : 'must be a JSON object, e.g. {"a": 1}'
      };
    }
    default:
      return parseJSON(String(raw));
  }
}

function parseJSON(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error: `is not valid JSON (${(error as Error).message})` };
  }
}

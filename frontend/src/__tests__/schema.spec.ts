import { formDataFor, formSchema, valuesFromForm } from '../schema';
import { ParameterInfo } from '../tokens';

/** The example notebook's parameters cell, as `POST /api/notebooks/parameters` describes it. */
const LOYAL_CUSTOMER: ParameterInfo[] = [
  {
    name: 'DATA_DAY_RANGE',
    type: 'int',
    default: '60',
    default_value: 60,
    help: 'days of events used for the model'
  },
  { name: 'THRESHOLD', type: 'float', default: '0.5', default_value: 0.5, help: '' },
  { name: 'DRY_RUN', type: 'bool', default: 'False', default_value: false, help: 'write nothing' },
  {
    name: 'OUTPUT_DIR',
    type: 'str',
    default: '"output"',
    default_value: 'output',
    help: 'where predictions are written'
  },
  { name: 'SEGMENTS', type: 'list', default: '["a", "b"]', default_value: ['a', 'b'], help: '' },
  { name: 'WEIGHTS', type: 'dict', default: '{"a": 1}', default_value: { a: 1 }, help: '' },
  { name: 'RUN_DATE', type: 'unknown', default: 'dt.date.today()', help: 'defaults to today' },
  { name: 'LIMIT', type: 'null', default: 'None', default_value: null, help: '' }
];

describe('form schema from parameters', () => {
  it('has one typed field per parameter, the default prefilled, the comment as help', () => {
    // When
    const { schema, uiSchema } = formSchema(LOYAL_CUSTOMER);
    // Then
    expect(schema).toEqual({
      type: 'object',
      properties: {
        DATA_DAY_RANGE: {
          type: 'integer',
          title: 'DATA_DAY_RANGE',
          default: 60,
          description: 'days of events used for the model'
        },
        THRESHOLD: { type: 'number', title: 'THRESHOLD', default: 0.5 },
        DRY_RUN: {
          type: 'boolean',
          title: 'DRY_RUN',
          default: false,
          description: 'write nothing'
        },
        OUTPUT_DIR: {
          type: 'string',
          title: 'OUTPUT_DIR',
          default: 'output',
          description: 'where predictions are written'
        },
        SEGMENTS: {
          type: 'string',
          title: 'SEGMENTS',
          default: '["a","b"]',
          description: 'JSON list'
        },
        WEIGHTS: {
          type: 'string',
          title: 'WEIGHTS',
          default: '{"a":1}',
          description: 'JSON object'
        },
        RUN_DATE: {
          type: 'string',
          title: 'RUN_DATE',
          description: 'defaults to today · JSON value; empty keeps dt.date.today()'
        },
        LIMIT: { type: 'string', title: 'LIMIT', description: 'JSON value; empty keeps None' }
      }
    });
    expect(uiSchema).toEqual({
      SEGMENTS: { 'ui:widget': 'textarea', 'ui:options': { rows: 2 } },
      WEIGHTS: { 'ui:widget': 'textarea', 'ui:options': { rows: 2 } }
    });
  });

  it('no parameters: an empty form', () => {
    expect(formSchema([]).schema).toEqual({ type: 'object', properties: {} });
  });
});

describe('form data ↔ typed values', () => {
  it('the defaults come back as the typed defaults; expressions are left to the notebook', () => {
    const { values, errors } = valuesFromForm(LOYAL_CUSTOMER, formDataFor(LOYAL_CUSTOMER));
    expect(errors).toEqual({});
    expect(values).toEqual({
      DATA_DAY_RANGE: 60,
      THRESHOLD: 0.5,
      DRY_RUN: false,
      OUTPUT_DIR: 'output',
      SEGMENTS: ['a', 'b'],
      WEIGHTS: { a: 1 }
    });
  });

  it('edits become typed values; a string stays a string whatever it holds', () => {
    const data = {
      ...formDataFor(LOYAL_CUSTOMER),
      DATA_DAY_RANGE: 90,
      OUTPUT_DIR: '"; import os #',
      SEGMENTS: '[1, 2, 3]',
      RUN_DATE: '"2026-01-01"',
      LIMIT: '10'
    };
    const { values, errors } = valuesFromForm(LOYAL_CUSTOMER, data);
    expect(errors).toEqual({});
    expect(values).toMatchObject({
      DATA_DAY_RANGE: 90,
      OUTPUT_DIR: '"; import os #',
      SEGMENTS: [1, 2, 3],
      RUN_DATE: '2026-01-01',
      LIMIT: 10
    });
  });

  it.each([
    ['DATA_DAY_RANGE', 1.5, 'must be an integer'],
    ['THRESHOLD', 'x', 'must be a number'],
    ['SEGMENTS', '{"a": 1}', 'must be a JSON list, e.g. [1, 2]'],
    ['WEIGHTS', '[1]', 'must be a JSON object, e.g. {"a": 1}'],
    ['SEGMENTS', '[1,', 'is not valid JSON'],
    ['RUN_DATE', 'today', 'is not valid JSON']
  ])('%s = %j: %s', (name, raw, message) => {
    const { errors } = valuesFromForm(LOYAL_CUSTOMER, {
      ...formDataFor(LOYAL_CUSTOMER),
      [name]: raw
    });
    expect(errors[name]).toContain(message);
  });

  it("an edit is prefilled with the schedule's values", () => {
    const data = formDataFor(LOYAL_CUSTOMER, { DATA_DAY_RANGE: 30, SEGMENTS: ['z'], LIMIT: null });
    expect(data.DATA_DAY_RANGE).toBe(30);
    expect(data.SEGMENTS).toBe('["z"]');
    expect(data.LIMIT).toBe('null');
    expect(valuesFromForm(LOYAL_CUSTOMER, data).values).toMatchObject({
      DATA_DAY_RANGE: 30,
      SEGMENTS: ['z'],
      LIMIT: null
    });
  });
});

import { JsonNumber, stringify } from '../exactJson';
import {
  fieldValue,
  initialTexts,
  ParameterField,
  parameterFields,
  valuesFromTexts
} from '../schema';
import { ParameterInfo } from '../tokens';

/** A parameters cell, as `POST /api/notebooks/parameters` describes it (read with exact numbers). */
const PARAMETERS: ParameterInfo[] = [
  {
    name: 'DATA_DAY_RANGE',
    type: 'int',
    default: '60',
    default_value: 60,
    help: 'days of events used for the model'
  },
  { name: 'THRESHOLD', type: 'float', default: '0.5', default_value: 0.5, help: '' },
  { name: 'DRY_RUN', type: 'bool', default: 'False', default_value: false, help: 'write nothing' },
  { name: 'OUTPUT_DIR', type: 'str', default: '"output"', default_value: 'output', help: '' },
  { name: 'SEGMENTS', type: 'list', default: '["a", "b"]', default_value: ['a', 'b'], help: '' },
  { name: 'WEIGHTS', type: 'dict', default: "{'a': 1}", default_value: { a: 1 }, help: '' },
  { name: 'RUN_DATE', type: 'unknown', default: 'dt.date.today()', help: 'defaults to today' },
  { name: 'LIMIT', type: 'null', default: 'None', default_value: null, help: '' },
  {
    name: 'BIG',
    type: 'int',
    default: '12345678901234567890123',
    default_value: new JsonNumber('12345678901234567890123'),
    help: ''
  },
  { name: 'SCALE', type: 'float', default: '2.0', default_value: new JsonNumber('2.0'), help: '' },
  { name: 'MISSING', type: 'float', default: "float('nan')", default_value: 'nan', help: '' }
];

const fields = parameterFields(PARAMETERS);
const field = (name: string): ParameterField => fields.find(f => f.name === name)!;
const sent = (name: string, text: string): string | undefined => {
  const result = fieldValue(field(name), text);
  return 'value' in result ? stringify(result.value) : undefined;
};
const error = (name: string, text: string): string | undefined => {
  const result = fieldValue(field(name), text);
  return 'error' in result ? result.error : undefined;
};

describe('parameter fields', () => {
  it('start with the defaults as text, big integers and float tokens exact', () => {
    expect(initialTexts(fields)).toEqual({
      DATA_DAY_RANGE: '60',
      THRESHOLD: '0.5',
      DRY_RUN: 'false',
      OUTPUT_DIR: 'output',
      SEGMENTS: '["a", "b"]',
      WEIGHTS: '{"a": 1}',
      RUN_DATE: '',
      LIMIT: '',
      BIG: '12345678901234567890123',
      SCALE: '2.0',
      MISSING: 'nan'
    });
  });

  it('start with the values being edited', () => {
    const texts = initialTexts(fields, {
      BIG: new JsonNumber('-99999999999999999999'),
      SEGMENTS: ['x', new JsonNumber('1e16')],
      DRY_RUN: true
    });
    expect([texts.BIG, texts.SEGMENTS, texts.DRY_RUN]).toEqual([
      '-99999999999999999999',
      '["x", 1e16]',
      'true'
    ]);
  });

  it('send the defaults untouched: every value as the notebook has it', () => {
    const { values, errors } = valuesFromTexts(fields, initialTexts(fields));
    expect(errors).toEqual({});
    expect(stringify(values)).toBe(
      '{"DATA_DAY_RANGE":60,"THRESHOLD":0.5,"DRY_RUN":false,"OUTPUT_DIR":"output",' +
        '"SEGMENTS":["a","b"],"WEIGHTS":{"a":1},"BIG":12345678901234567890123,"SCALE":2.0}'
    );
  });

  it('send an integer as the digits typed, at any size and sign', () => {
    expect(sent('DATA_DAY_RANGE', '9007199254740993')).toBe('9007199254740993');
    expect(sent('DATA_DAY_RANGE', '99999999999999999999999')).toBe('99999999999999999999999');
    expect(sent('DATA_DAY_RANGE', ' -12345678901234567890 ')).toBe('-12345678901234567890');
  });

  it.each(['abc', '1.5', '1e3', '007', '+1', '1_000', '0x10'])(
    'refuse %j in an integer field, at the field',
    text => {
      expect(error('DATA_DAY_RANGE', text)).toMatch(/is not a whole number: use digits/);
    }
  );

  it('send a float as typed, and a whole number in a float field as a float', () => {
    expect(sent('THRESHOLD', '1e16')).toBe('1e16');
    expect(sent('THRESHOLD', '-0.0')).toBe('-0.0');
    expect(sent('THRESHOLD', '0.30000000000000004')).toBe('0.30000000000000004');
    expect(sent('THRESHOLD', '3')).toBe('3.0');
    expect(error('THRESHOLD', 'abc')).toBe('"abc" is not a number: e.g. 3.5, -2 or 1e-3');
    expect(error('THRESHOLD', '1.')).toMatch(/is not a number/);
  });

  it('refuse nan and inf, which JSON cannot carry, unless it is the notebook’s own default', () => {
    expect(error('THRESHOLD', 'nan')).toMatch(/nan cannot be sent .*set it in the notebook/);
    expect(error('THRESHOLD', '-inf')).toMatch(/-inf cannot be sent/);
    expect(fieldValue(field('MISSING'), 'nan')).toEqual({ omit: true });
  });

  it('make an empty field an error, unless the default is None or an expression', () => {
    expect(error('DATA_DAY_RANGE', '')).toBe('enter a whole number');
    expect(error('THRESHOLD', '  ')).toBe('enter a number');
    expect(error('SEGMENTS', '')).toMatch(/^enter a JSON list/);
    expect(error('WEIGHTS', '')).toMatch(/^enter a JSON object/);
    expect(fieldValue(field('LIMIT'), '')).toEqual({ omit: true });
    expect(fieldValue(field('RUN_DATE'), '')).toEqual({ omit: true });
    // An empty string is a string.
    expect(sent('OUTPUT_DIR', '')).toBe('""');
  });

  it('check lists and dicts as JSON of that shape, numbers exact', () => {
    expect(sent('SEGMENTS', '[1, 12345678901234567890]')).toBe('[1,12345678901234567890]');
    expect(error('SEGMENTS', '{"a": 1}')).toBe('use a JSON list, e.g. [1, 2]');
    expect(error('WEIGHTS', '[1]')).toBe('use a JSON object, e.g. {"a": 1}');
    expect(error('WEIGHTS', "{'a': 1}")).toMatch(/^not valid JSON: expected a "quoted" key/);
    expect(sent('LIMIT', '"text"')).toBe('"text"');
    expect(error('LIMIT', 'text')).toBe(
      'not valid JSON: unexpected "t" at character 1 (put text in "double quotes")'
    );
  });

  it('keep a string exactly, spaces included', () => {
    expect(sent('OUTPUT_DIR', '  two  words ')).toBe('"  two  words "');
  });

  it('report every wrong field by name, and send none of them', () => {
    const texts = { ...initialTexts(fields), DATA_DAY_RANGE: 'abc', SEGMENTS: '[' };
    const { values, errors } = valuesFromTexts(fields, texts);
    expect(Object.keys(errors)).toEqual(['DATA_DAY_RANGE', 'SEGMENTS']);
    expect(values).not.toHaveProperty('DATA_DAY_RANGE');
  });

  it('say what to type, with the comment', () => {
    expect(field('DATA_DAY_RANGE')).toMatchObject({
      kind: 'int',
      help: 'days of events used for the model',
      hint: 'whole number'
    });
    expect(field('RUN_DATE').hint).toBe(
      "JSON value; leave empty for the notebook's dt.date.today()"
    );
    expect(field('LIMIT').hint).toBe('JSON value; leave empty for None');
    expect(field('MISSING').hint).toBe(
      'number; left as nan, the notebook keeps its own (JSON cannot carry nan)'
    );
  });
});

import { JsonNumber, parse, stringify } from '../exactJson';

describe('exact JSON', () => {
  it('writes a 20-digit integer as the same digits (JSON.stringify cannot)', () => {
    const body = stringify({ parameters: { N: new JsonNumber('12345678901234567890') } });
    expect(body).toBe('{"parameters":{"N":12345678901234567890}}');
    expect(JSON.stringify({ N: Number('12345678901234567890') })).not.toContain(
      '12345678901234567890'
    );
  });

  it('writes negative and float tokens as typed', () => {
    expect(stringify([new JsonNumber('-9007199254740993'), new JsonNumber('1e16')])).toBe(
      '[-9007199254740993,1e16]'
    );
    expect(stringify(new JsonNumber('-0.0'))).toBe('-0.0');
  });

  it('writes everything else as JSON.stringify does', () => {
    const value = { a: 'x"y', b: [true, null, 1.5], c: { d: 'é\n' }, skipped: undefined };
    expect(stringify(value)).toBe(JSON.stringify(value));
  });

  it('writes spaced JSON for a person to read, numbers exact', () => {
    expect(stringify({ a: [1, new JsonNumber('1.0')], b: {} }, true)).toBe(
      '{"a": [1, 1.0], "b": {}}'
    );
  });

  it('refuses what JSON cannot hold instead of writing null', () => {
    expect(() => stringify(NaN)).toThrow('cannot be written as JSON');
    expect(() => stringify({ x: Infinity })).toThrow('cannot be written as JSON');
  });

  it('accepts only JSON number tokens', () => {
    for (const bad of ['abc', '01', '+1', '1_000', '1.', '.5', 'NaN', '']) {
      expect(() => new JsonNumber(bad)).toThrow('not a JSON number');
    }
  });

  it('reads numbers a double cannot hold as written, others as numbers', () => {
    const value = parse('{"big": 99999999999999999999999, "f": 1.0, "e": 1e16, "n": 42, "x": 0.1}');
    expect(value).toEqual({
      big: new JsonNumber('99999999999999999999999'),
      f: new JsonNumber('1.0'),
      e: new JsonNumber('1e16'),
      n: 42,
      x: 0.1
    });
    expect(stringify(value)).toBe(
      '{"big":99999999999999999999999,"f":1.0,"e":1e16,"n":42,"x":0.1}'
    );
  });

  it('reads strings, nesting and literals like JSON.parse', () => {
    const text = ' [ {"a\\u00e9": [true, false, null]}, "q\\"", [] , {} ] ';
    expect(parse(text)).toEqual(JSON.parse(text));
  });

  it('counts characters from 1', () => {
    expect(() => parse('[1, x]')).toThrow('unexpected "x" at character 5');
  });

  it.each(['[1, 2', '{"a" 1}', "{'a': 1}", '[1,]', '1 2', 'tru', '"\n"'])(
    'rejects %j saying where',
    text => {
      expect(() => parse(text)).toThrow(/at character \d+$/);
    }
  );
});

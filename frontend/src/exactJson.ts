/**
 * JSON with exact numbers. `JSON.parse` turns every number into a double, so 9007199254740993 becomes
 * …992 and `1.0` becomes `1` (an int for the server); `JSON.stringify` can only write doubles back.
 * Parameters must reach the kernel as the user typed them, so the dialog's requests use these instead:
 * `parse` keeps every number token a double cannot hold as written in a `JsonNumber`, and `stringify`
 * writes a `JsonNumber` as its token.
 */

/** A JSON number token, kept as text (already checked against the JSON grammar). */
export class JsonNumber {
  constructor(readonly text: string) {
    if (!NUMBER.test(text)) {
      throw new Error(`not a JSON number: ${JSON.stringify(text)}`);
    }
  }

  /** An integer token (no fraction, no exponent): the server reads it as an int. */
  get isInteger(): boolean {
    return INTEGER.test(this.text);
  }

  toString(): string {
    return this.text;
  }
}

/** JSON's integer grammar: an optional minus, no leading zeros, no `+`, no `_`. */
export const INTEGER = /^-?(0|[1-9][0-9]*)$/;
/** JSON's number grammar. */
export const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/** A number token as a JS value: a double when it reads back as the same token, else the token. */
function numberValue(token: string): number | JsonNumber {
  const value = Number(token);
  return String(value) === token ? value : new JsonNumber(token);
}

/** JSON text → value; numbers a double cannot hold as written are `JsonNumber`s. Throws `SyntaxError`. */
export function parse(text: string): unknown {
  const parser = new Parser(text);
  parser.space();
  const value = parser.value();
  parser.space();
  if (parser.at < text.length) {
    parser.fail('unexpected text after the value');
  }
  return value;
}

class Parser {
  at = 0;

  constructor(private readonly text: string) {}

  /** Where, as a person counts: the first character is 1. */
  fail(what: string): never {
    throw new SyntaxError(`${what} at character ${this.at + 1}`);
  }

  space(): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at])) {
      this.at += 1;
    }
  }

  value(): unknown {
    const c = this.text[this.at];
    if (c === '{') {
      return this.object();
    }
    if (c === '[') {
      return this.array();
    }
    if (c === '"') {
      return this.string();
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null]
    ] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    const number = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(this.at));
    if (c !== undefined && number) {
      this.at += number[0].length;
      return numberValue(number[0]);
    }
    return this.fail(
      c === undefined ? 'unexpected end of the text' : `unexpected ${JSON.stringify(c)}`
    );
  }

  object(): { [key: string]: unknown } {
    const object: { [key: string]: unknown } = {};
    this.at += 1;
    this.space();
    if (this.text[this.at] === '}') {
      this.at += 1;
      return object;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') {
        this.fail('expected a "quoted" key');
      }
      const key = this.string();
      this.space();
      this.expect(':');
      this.space();
      object[key] = this.value();
      this.space();
      if (this.text[this.at] === '}') {
        this.at += 1;
        return object;
      }
      this.expect(',');
    }
  }

  array(): unknown[] {
    const array: unknown[] = [];
    this.at += 1;
    this.space();
    if (this.text[this.at] === ']') {
      this.at += 1;
      return array;
    }
    for (;;) {
      this.space();
      array.push(this.value());
      this.space();
      if (this.text[this.at] === ']') {
        this.at += 1;
        return array;
      }
      this.expect(',');
    }
  }

  string(): string {
    const match = /^"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/.exec(
      this.text.slice(this.at)
    );
    if (!match) {
      this.fail('invalid string');
    }
    this.at += match[0].length;
    return JSON.parse(match[0]) as string;
  }

  expect(c: string): void {
    if (this.text[this.at] !== c) {
      this.fail(`expected ${JSON.stringify(c)}`);
    }
    this.at += 1;
  }
}

/**
 * Value → JSON text, like `JSON.stringify` without `toJSON` (on one line; `spaced`: `[1, 2]`, `{"a": 1}`
 * for a person to read), but a `JsonNumber` is written
 * as its token, and a number that JSON cannot hold (NaN, ±Infinity) throws instead of becoming `null`.
 */
export function stringify(value: unknown, spaced = false): string {
  if (value instanceof JsonNumber) {
    return value.text;
  }
  if (value === null) {
    return 'null';
  }
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) {
        throw new RangeError(`${value} cannot be written as JSON`);
      }
      return String(value);
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'object':
      if (Array.isArray(value)) {
        return `[${value.map(item => (item === undefined ? 'null' : stringify(item, spaced))).join(spaced ? ', ' : ',')}]`;
      }
      return `{${Object.entries(value as object)
        .filter(([, item]) => item !== undefined)
        .map(
          ([key, item]) => `${JSON.stringify(key)}${spaced ? ': ' : ':'}${stringify(item, spaced)}`
        )
        .join(spaced ? ', ' : ',')}}`;
    default:
      throw new TypeError(`a ${typeof value} cannot be written as JSON`);
  }
}

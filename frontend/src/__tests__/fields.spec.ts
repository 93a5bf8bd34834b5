/**
 * The parameter fields' markup: every control is labelled (`<label for>`), described only by messages
 * that are there, marked invalid with its error, and its text is the text given.
 */
import * as React from 'react';

import { ParameterFields } from '../components/ParameterFields';
import { parameterFields } from '../schema';

const fields = parameterFields([
  { name: 'N', type: 'int', default: '1', default_value: 1, help: 'how many' },
  { name: 'FLAG', type: 'bool', default: 'False', default_value: false, help: '' },
  { name: 'ITEMS', type: 'list', default: '[]', default_value: [], help: '' },
  { name: 'LIMIT', type: 'null', default: 'None', default_value: null, help: '' }
]);

/** react-dom ships no types here; its server renderer is all this needs. */
const { renderToStaticMarkup } = jest.requireActual<{
  renderToStaticMarkup: (element: React.ReactElement) => string;
}>('react-dom/server');

function render(texts: { [name: string]: string }, errors: { [name: string]: string }): string {
  return renderToStaticMarkup(
    React.createElement(ParameterFields, { fields, texts, errors, onChange: () => undefined })
  );
}

const attrs = (tag: string): { [name: string]: string } =>
  Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map(m => [m[1], m[2]]));

describe('parameter fields markup', () => {
  const html = render(
    { N: 'abc', FLAG: 'true', ITEMS: '[1]', LIMIT: '' },
    { N: '"abc" is not a whole number: use digits, e.g. 42 or -7' }
  );
  const controls = [...html.matchAll(/<(input|textarea)\b[^>]*>/g)].map(m => attrs(m[0]));
  const ids = new Set([...html.matchAll(/\bid="([^"]+)"/g)].map(m => m[1]));

  it('labels every control', () => {
    expect(controls.map(c => c.id)).toEqual([
      'nbgate-param_N',
      'nbgate-param_FLAG',
      'nbgate-param_ITEMS',
      'nbgate-param_LIMIT'
    ]);
    for (const control of controls) {
      expect(html).toContain(`<label for="${control.id}">`);
    }
  });

  it('describes a control only by messages that exist, its error included', () => {
    for (const control of controls) {
      for (const id of (control['aria-describedby'] ?? '').split(' ').filter(Boolean)) {
        expect(ids).toContain(id);
      }
    }
    expect(controls[0]['aria-describedby']).toBe('nbgate-param_N-help nbgate-param_N-error');
    expect(controls[0]['aria-invalid']).toBe('true');
    expect(controls[1]['aria-invalid']).toBeUndefined();
  });

  it('shows the text as given, with a numeric keyboard for a number, once each error', () => {
    expect(controls[0]).toMatchObject({ type: 'text', inputMode: 'numeric', value: 'abc' });
    expect(html.split('is not a whole number').length - 1).toBe(1);
    expect(controls[1]).toMatchObject({ type: 'checkbox', checked: '' });
    expect(html).toMatch(/<textarea[^>]*id="nbgate-param_ITEMS"[^>]*>\[1\]<\/textarea>/);
    expect(controls[3]).toMatchObject({ type: 'text', placeholder: 'None' });
  });
});

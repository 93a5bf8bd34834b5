/**
 * The Execute dialog's expectations field: labelled and described, rules sent one per line as
 * `expect` (an edit only when they changed), and the server's 422 for a malformed rule shown there.
 */
import * as React from 'react';

import { AdvancedOptions, ADVANCED_FIELDS, IAdvanced } from '../components/AdvancedOptions';
import { fieldOfServerError } from '../components/serverErrors';
import { expectRequest, expectRules } from '../expectations';

const { renderToStaticMarkup } = jest.requireActual<{
  renderToStaticMarkup: (element: React.ReactElement) => string;
}>('react-dom/server');

const advanced: IAdvanced = {
  timeout: '',
  cellTimeout: '',
  retries: '',
  outputDir: '',
  overlap: 'skip',
  catchup: 'once',
  webhook: '',
  outputs: '',
  expect: 'accuracy >>= 0.8\nexists accuracy'
};

/** The server's words for a malformed rule (scheduler ValidationError::InvalidExpectation). */
const MALFORMED =
  'invalid expectation "accuracy >>= 0.8": at character 10: expected a finite number, got ">= 0.8"';

function render(message: string | null): string {
  return renderToStaticMarkup(
    React.createElement(AdvancedOptions, {
      advanced,
      recurring: false,
      messageFor: field => (field === 'expect' ? message : null),
      onChange: () => undefined
    })
  );
}

const textarea = (html: string) =>
  /<textarea[^>]*class="nbgate-ExecuteDialog-expect"[^>]*>([^<]*)<\/textarea>/.exec(html);

describe('the expectations field', () => {
  it('is a labelled text area holding the rules as typed, described by its help', () => {
    const html = render(null);
    expect(html).toContain('<label for="nbgate-ExecuteDialog-expect">Expectations</label>');
    const area = textarea(html);
    expect(area).not.toBeNull();
    expect(area![0]).toContain('id="nbgate-ExecuteDialog-expect"');
    expect(area![0]).toContain('aria-describedby="nbgate-ExecuteDialog-expect-help"');
    expect(area![0]).not.toContain('aria-invalid');
    expect(area![1]).toBe('accuracy &gt;&gt;= 0.8\nexists accuracy');
    expect(html).toContain('<code>rows(output/*.csv) &gt; 0</code>');
  });

  it("shows the server's message for a malformed rule at the field, marked invalid", () => {
    expect(fieldOfServerError(MALFORMED, [])).toBe('expect');
    expect(fieldOfServerError('expect must be at most 64 rules, got 65', [])).toBe('expect');
    // A message about the field opens the advanced options.
    expect(ADVANCED_FIELDS).toContain('expect');
    const html = render(MALFORMED);
    const area = textarea(html)![0];
    expect(area).toContain('aria-invalid="true"');
    expect(area).toContain(
      'aria-describedby="nbgate-ExecuteDialog-expect-help nbgate-ExecuteDialog-expect-error"'
    );
    expect(html).toContain(
      '<div id="nbgate-ExecuteDialog-expect-error" class="nbgate-FieldError">invalid expectation'
    );
  });

  it('sends one rule per non-blank line, trimmed', () => {
    expect(expectRules('  accuracy >= 0.8 \n\n rows(output/*.csv) > 0\n')).toEqual([
      'accuracy >= 0.8',
      'rows(output/*.csv) > 0'
    ]);
    expect(expectRequest('exists accuracy')).toEqual({ expect: ['exists accuracy'] });
    expect(expectRequest(' \n')).toEqual({});
  });

  it('an edit sends them only when they changed; emptied, an empty list clears them', () => {
    expect(expectRequest('a > 1\nb < 2', ['a > 1', 'b < 2'])).toEqual({});
    expect(expectRequest('a > 1', ['a > 1', 'b < 2'])).toEqual({ expect: ['a > 1'] });
    expect(expectRequest('', ['a > 1'])).toEqual({ expect: [] });
    expect(expectRequest('', null)).toEqual({});
  });
});

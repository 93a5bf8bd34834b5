/**
 * Browser test of "Compare with…" (run by run.js in the extension's Lab): three runs of a schedule of
 * a notebook that records `accuracy` with scrapbook and writes a CSV — a success, then two failures.
 * The sidebar shows each run's values from the listing (no request per execution); "Compare with…" on
 * the newest failure, by keyboard, compares it with the schedule's last success (not the failure just
 * before it): the changed parameters and values side by side, the CSV's rows, the failing cell's text;
 * another run picked in the labelled select; axe-core on the view; the result's own "Compare with…".
 */
'use strict';

const fs = require('fs');
const path = require('path');

const { api, finished, openNotebook, openSidebar, seriousViolations, shot } = require('./support');

const NOTEBOOKS = path.join(__dirname, 'notebooks');

/** The text of a comparison table's row (`name`): its A and B cells. */
async function pair(view, section, name) {
  const row = view.locator(`.nbgate-CompareView-${section} tr[data-name="${name}"]`);
  await row.waitFor();
  return row.locator('td').allInnerTexts();
}

async function expectPair(view, section, name, expected) {
  const got = await pair(view, section, name);
  if (got.join(' | ') !== expected.join(' | ')) {
    throw new Error(`${section} ${name} reads ${JSON.stringify(got)}, expected ${expected}`);
  }
}

module.exports = {
  async compare(page, lab) {
    fs.copyFileSync(path.join(NOTEBOOKS, 'records.ipynb'), path.join(lab.root, 'records.ipynb'));
    const schedule = await api(lab, 'POST', 'schedules', {
      name: 'e2e_compare',
      notebook: 'records.ipynb',
      parameters: {},
      cron: '0 3 1 1 *',
      timezone: 'UTC',
      paused: true,
      outputs: ['output/*.csv']
    });
    // A success, then two failures (each after it recorded its accuracy and wrote its table).
    const plan = [
      { ACCURACY: 0.9, ROWS: 3, FAIL: false, status: 'succeeded' },
      { ACCURACY: 0.6, ROWS: 4, FAIL: true, status: 'failed' },
      { ACCURACY: 0.71, ROWS: 5, FAIL: true, status: 'failed' }
    ];
    const runs = [];
    for (const { status, ...parameters } of plan) {
      const started = await api(lab, 'POST', `schedules/${schedule.id}/run`, { parameters });
      const run = await finished(lab, started.id);
      if (run.status !== status) {
        throw new Error(`a run ended ${run.status}: ${JSON.stringify(run.error)}`);
      }
      runs.push(run);
    }
    const [success, firstFailure, failure] = runs;

    // The sidebar reads each run's values from the listing: no request per execution.
    const perExecution = [];
    page.on('request', request => {
      const match = /\/nbgate\/api\/executions\/([^/?]+)(\?|$)/.exec(request.url());
      if (match && request.method() === 'GET') {
        perExecution.push(match[1]);
      }
    });
    const sidebar = await openSidebar(page, lab);
    const row = sidebar.locator(`.nbgate-Execution[data-id="${failure.id}"]`);
    await row
      .locator('.nbgate-Execution-values', { hasText: 'accuracy = 0.71' })
      .waitFor({ timeout: 15_000 });
    await sidebar
      .locator(`.nbgate-Execution[data-id="${success.id}"] .nbgate-Execution-values`, {
        hasText: 'accuracy = 0.9'
      })
      .waitFor();
    if (perExecution.length > 0) {
      throw new Error(`the sidebar read executions one by one: ${perExecution.join(', ')}`);
    }

    // "Compare with…" by keyboard, on the newest failure.
    const compareButton = row.locator('.nbgate-Execution-compare');
    const name = await compareButton.getAttribute('aria-label');
    if (name !== `Compare with… ${failure.name}`) {
      throw new Error(`the compare button is named ${JSON.stringify(name)}`);
    }
    await compareButton.focus();
    await page.keyboard.press('Enter');
    const view = page.locator(`.nbgate-CompareView-body[data-a="${failure.id}"]`);
    await view.waitFor({ timeout: 15_000 });
    // By default, the schedule's last success: not the failure just before it.
    await page.locator(`.nbgate-CompareView-body[data-b="${success.id}"]`).waitFor();
    const picker = view.locator('.nbgate-CompareView-picker');
    if ((await picker.inputValue()) !== success.id) {
      throw new Error(`the picker shows ${await picker.inputValue()}, not the last success`);
    }
    const options = await picker.locator('option').allInnerTexts();
    if (
      options.length !== 2 ||
      !options[0].startsWith('Failed · ') ||
      !options[0].endsWith(firstFailure.name) ||
      !options[1].startsWith('Succeeded · ')
    ) {
      throw new Error(`the picker lists ${JSON.stringify(options)}`);
    }
    const label = await picker.evaluate(select => select.labels[0]?.textContent ?? '');
    if (label !== `B: compare ${failure.name} with`) {
      throw new Error(`the picker is labelled ${JSON.stringify(label)}`);
    }

    // What changed, A (the failure) against B (the success).
    await view.locator('.nbgate-CompareView-summary', { hasText: 'differ' }).waitFor();
    await expectPair(view, 'parameters', 'FAIL', ['true', 'false']);
    await expectPair(view, 'parameters', 'ACCURACY', ['0.71', '0.9']);
    await expectPair(view, 'parameters', 'ROWS', ['5', '3']);
    await expectPair(view, 'values', 'accuracy', ['0.71', '0.9']);
    // The same model on both sides: not listed.
    if ((await view.locator('.nbgate-CompareView-values tr[data-name="model"]').count()) !== 0) {
      throw new Error('an unchanged value is listed');
    }
    const csv = await pair(view, 'outputs', 'output/predictions.csv');
    if (!csv[0].startsWith('5 rows') || !csv[1].startsWith('3 rows')) {
      throw new Error(`the CSV reads ${JSON.stringify(csv)}`);
    }
    // The failing cell (the user's fifth): its error on A's side, nothing on B's.
    const cell = view.locator('.nbgate-CompareCell[data-cell="Cell 5"]');
    await cell.locator('.nbgate-CompareCell-title', { hasText: 'outputs changed' }).waitFor();
    const failed = await cell.locator('.nbgate-CompareCell-a pre').innerText();
    if (!failed.includes('RuntimeError: asked to fail after recording')) {
      throw new Error(`cell 5's A side reads ${JSON.stringify(failed)}`);
    }
    await cell.locator('.nbgate-CompareCell-b pre', { hasText: '(no output)' }).waitFor();
    await shot(page, 'compare-01-failure-vs-last-success');
    await cell.scrollIntoViewIfNeeded();
    await shot(page, 'compare-02-cells');

    const violations = await seriousViolations(page, '.nbgate-CompareView');
    if (violations.length > 0) {
      throw new Error(`axe-core on the comparison: ${violations.join('; ')}`);
    }

    // Another run, picked by keyboard: the two failures differ in their inputs, not in FAIL.
    await picker.focus();
    await page.keyboard.press('ArrowUp');
    await page.locator(`.nbgate-CompareView-body[data-b="${firstFailure.id}"]`).waitFor();
    await expectPair(view, 'parameters', 'ACCURACY', ['0.71', '0.6']);
    await view.locator('.nbgate-CompareView-parameters tr[data-name="ROWS"]').waitFor();
    if ((await view.locator('.nbgate-CompareView-parameters tr[data-name="FAIL"]').count()) !== 0) {
      throw new Error('FAIL, true on both sides, is listed as changed');
    }
    await shot(page, 'compare-03-two-failures');

    // B's result (the first failure) has its own "Compare with…".
    await view.locator('.nbgate-CompareView-b .nbgate-CompareView-view').click();
    const result = page.locator('.nbgate-ResultView:visible');
    await result.locator('.nbgate-ResultHeader-name', { hasText: firstFailure.name }).waitFor();
    await shot(page, 'compare-04-result-header');
    await result.locator('.nbgate-ResultHeader-compare').click();
    await page.locator(`.nbgate-CompareView-body[data-a="${firstFailure.id}"]`).waitFor();
    // A failure: with the last success, again.
    await page
      .locator(`.nbgate-CompareView-body[data-a="${firstFailure.id}"][data-b="${success.id}"]`)
      .waitFor();
    await shot(page, 'compare-05-from-result');
  },

  /**
   * The Execute dialog's expectations: a malformed rule is the server's message, shown at the field as
   * the user types (`POST /api/schedules/preview`), Run disabled; a well-formed rule the run does not
   * meet fails it with ExpectationFailed.
   */
  async expectations(page, lab) {
    fs.copyFileSync(path.join(NOTEBOOKS, 'records.ipynb'), path.join(lab.root, 'expect.ipynb'));
    const button = await openNotebook(page, lab, 'expect.ipynb');
    await button.click();
    const dialog = page.locator('.nbgate-ExecuteDialog');
    await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
    await dialog.locator('.nbgate-ExecuteDialog-advancedToggle').click();
    const field = dialog.locator('.nbgate-ExecuteDialog-expect');
    await field.fill('exists accuracy\naccuracy >>= 0.95');
    const error = dialog.locator('#nbgate-ExecuteDialog-expect-error');
    await error.waitFor({ timeout: 15_000 });
    const message = await error.innerText();
    if (!message.startsWith('invalid expectation "accuracy >>= 0.95": at character')) {
      throw new Error(`the field says ${JSON.stringify(message)}`);
    }
    if (!(await field.evaluate(element => element === document.activeElement))) {
      throw new Error('the field the server complained about does not have the focus');
    }
    if ((await field.getAttribute('aria-invalid')) !== 'true') {
      throw new Error('the field is not marked invalid');
    }
    if (!(await dialog.locator('.nbgate-ExecuteDialog-submit').isDisabled())) {
      throw new Error('Run now is enabled with a malformed expectation');
    }
    await field.scrollIntoViewIfNeeded();
    await shot(page, 'expect-01-malformed-rule');
    const violations = await seriousViolations(page, '.nbgate-ExecuteDialog');
    if (violations.length > 0) {
      throw new Error(`axe-core on the dialog: ${violations.join('; ')}`);
    }

    // Corrected (typing hides the message about the older text); the run records 0.9, short of 0.95.
    await field.fill('exists accuracy\naccuracy >= 0.95');
    if (await error.isVisible()) {
      throw new Error("the server's message stays after the field changed");
    }
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    await dialog.waitFor({ state: 'detached', timeout: 15_000 });
    const listed = await api(lab, 'GET', 'executions?limit=200');
    const started = listed.items.find(e => e.notebook === 'expect.ipynb');
    if (!started || started.expect.join('|') !== 'exists accuracy|accuracy >= 0.95') {
      throw new Error(`the run's expect is ${JSON.stringify(started && started.expect)}`);
    }
    const run = await finished(lab, started.id);
    if (run.status !== 'failed' || run.error.ename !== 'ExpectationFailed') {
      throw new Error(`the run ended ${run.status}: ${JSON.stringify(run.error)}`);
    }
    if (!run.error.evalue.includes('accuracy >= 0.95: was 0.9')) {
      throw new Error(`the run's error says ${JSON.stringify(run.error.evalue)}`);
    }
  }
};

/**
 * Pipelines in the browser (registered in run.js's extensionTests): a schedule created in the Execute
 * dialog to run after another, a parameter taking the upstream's recorded value (the server's word on
 * a wrong reference shown at that parameter), the chain seen in the sidebar once the upstream runs;
 * a sweep from the sidebar and its comparison table; a backfill's range refused at its field.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const { api, finished, openNotebook, openSidebar, seriousViolations, shot } = require('./support');

const NOTEBOOKS = path.join(__dirname, 'notebooks');
const RUN_TIMEOUT = 180_000;

/** Every control in `root` has an accessible name. */
async function unnamedControls(root) {
  return root.evaluate(element =>
    Array.from(element.querySelectorAll('input, select, textarea, button'))
      .filter(
        control =>
          !(
            control.labels?.length > 0 ||
            control.getAttribute('aria-label') ||
            control.getAttribute('aria-labelledby') ||
            (control.tagName === 'BUTTON' && control.textContent.trim())
          )
      )
      .map(control => control.outerHTML.slice(0, 100))
  );
}

async function checkAccessible(page, root, selector, what) {
  const unnamed = await unnamedControls(root);
  if (unnamed.length > 0) {
    throw new Error(`${what}: controls without a name: ${unnamed.join('; ')}`);
  }
  const violations = await seriousViolations(page, selector);
  if (violations.length > 0) {
    throw new Error(`axe-core on ${what}: ${violations.join('; ')}`);
  }
}

/** Polls the API until `predicate` holds for the executions of `schedule`; returns them. */
async function scheduleExecutions(lab, schedule, predicate) {
  const deadline = Date.now() + RUN_TIMEOUT;
  for (;;) {
    const page = await api(lab, 'GET', `executions?schedule=${schedule}&limit=50`);
    if (predicate(page.items)) {
      return page.items;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `executions of ${schedule}: ${JSON.stringify(page.items.map(e => e.status))}`
      );
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

module.exports = {
  /**
   * A created by the API; B "after A" in the dialog with THRESHOLD from A's recorded accuracy and
   * RUN_DATE the fire time; A run from the sidebar; the chain A → B succeeds in the sidebar, B ran
   * with A's value, and a step opens its execution's result.
   */
  async pipeline(page, lab) {
    for (const file of ['records.ipynb', 'after_threshold.ipynb']) {
      fs.copyFileSync(path.join(NOTEBOOKS, file), path.join(lab.root, file));
    }
    const upstream = await api(lab, 'POST', 'schedules', {
      name: 'e2e_pipe_a',
      notebook: 'records.ipynb',
      parameters: { ACCURACY: 0.77 },
      cron: '0 3 1 1 *',
      timezone: 'UTC',
      paused: true
    });

    const button = await openNotebook(page, lab, 'after_threshold.ipynb');
    await button.click();
    const dialog = page.locator('dialog.nbgate-ExecuteDialog[open]');
    await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
    await dialog.getByLabel('After other schedules').check();
    await dialog.getByLabel('Schedule name').fill('e2e_pipe_b');
    // Nothing chosen yet: the dialog says what is missing, and Create waits.
    await dialog
      .locator('.nbgate-FieldError', { hasText: 'Choose the schedule it runs after' })
      .waitFor();
    await dialog.getByRole('checkbox', { name: /e2e_pipe_a/ }).check();
    await dialog
      .locator('.nbgate-AfterPicker-description', { hasText: 'After e2e_pipe_a succeeds' })
      .waitFor();

    // THRESHOLD from a value A recorded: with no name the server's word shows at THRESHOLD.
    const source = dialog.getByLabel('THRESHOLD takes');
    await source.selectOption({ label: 'a value e2e_pipe_a recorded' });
    const valueName = dialog.getByLabel('THRESHOLD: name of the value of e2e_pipe_a');
    await valueName.fill('');
    await dialog
      .locator('.nbgate-ParameterSource[data-parameter="THRESHOLD"] .nbgate-FieldError', {
        hasText: 'no name after e2e_pipe_a.values.'
      })
      .waitFor();
    if (!(await dialog.locator('.nbgate-ExecuteDialog-submit').isDisabled())) {
      throw new Error('Create schedule is enabled with a reference the server refuses');
    }
    await shot(page, 'pipelines-00-reference-refused');
    await valueName.fill('accuracy');
    await dialog
      .locator('.nbgate-ParameterSource .nbgate-FieldError')
      .waitFor({ state: 'detached' });
    await dialog.getByLabel('RUN_DATE takes').selectOption('fire_time');
    // The typed fields of the mapped parameters give way to a note of where they come from.
    await dialog
      .locator('.nbgate-MappedNote', { hasText: 'THRESHOLD ← e2e_pipe_a.values.accuracy' })
      .waitFor();
    if ((await dialog.locator('#nbgate-param_THRESHOLD').count()) !== 0) {
      throw new Error('THRESHOLD is still a typed field while it comes from e2e_pipe_a');
    }
    await dialog.locator('.nbgate-ParameterSources').scrollIntoViewIfNeeded();
    await shot(page, 'pipelines-01-after-dialog');
    await checkAccessible(
      page,
      dialog,
      'dialog.nbgate-ExecuteDialog',
      'the Execute dialog (after)'
    );
    const submit = dialog.locator('.nbgate-ExecuteDialog-submit');
    if ((await submit.innerText()) !== 'Create schedule') {
      throw new Error(`the submit button reads ${await submit.innerText()}`);
    }
    await submit.click();
    await dialog.waitFor({ state: 'detached' });

    const schedules = await api(lab, 'GET', 'schedules');
    const created = schedules.items.find(s => s.name === 'e2e_pipe_b');
    const expected = {
      after: { schedules: ['e2e_pipe_a'], on: 'success' },
      parameters_from: { RUN_DATE: 'fire_time', THRESHOLD: 'e2e_pipe_a.values.accuracy' }
    };
    const got = { after: created?.after, parameters_from: created?.parameters_from };
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(`B was created with ${JSON.stringify(got)}`);
    }
    if ('THRESHOLD' in created.parameters || 'RUN_DATE' in created.parameters) {
      throw new Error(`B's parameters carry a mapped one: ${JSON.stringify(created.parameters)}`);
    }

    // Run A from the sidebar; B follows; the chain shows in B's row.
    const sidebar = page.locator('#nbgate-sidebar');
    await sidebar.locator('.nbgate-Tab-schedules').click();
    const item = sidebar.locator('.nbgate-Schedule[data-name="e2e_pipe_b"]');
    await item.locator('.nbgate-Schedule-frequency', { hasText: 'After e2e_pipe_a' }).waitFor();
    // Editing B shows what it was created with.
    await item.locator('.nbgate-Schedule-edit').click();
    const edit = page.locator('dialog.nbgate-ExecuteDialog[open]');
    await edit.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
    const shown = [
      await edit.getByRole('checkbox', { name: 'e2e_pipe_a' }).isChecked(),
      await edit.getByLabel('THRESHOLD takes').inputValue(),
      await edit.getByLabel('THRESHOLD: name of the value of e2e_pipe_a').inputValue(),
      await edit.getByLabel('RUN_DATE takes').inputValue()
    ];
    if (shown.join(' ') !== 'true values:e2e_pipe_a accuracy fire_time') {
      throw new Error(`editing B shows ${shown.join(' ')}`);
    }
    await page.keyboard.press('Escape');
    await edit.waitFor({ state: 'detached' });
    await sidebar.locator('.nbgate-Schedule[data-name="e2e_pipe_a"] .nbgate-Schedule-run').click();
    const [b] = await scheduleExecutions(lab, 'e2e_pipe_b', items => items.length > 0);
    const ended = await finished(lab, b.id);
    if (ended.status !== 'succeeded') {
      throw new Error(`B ended ${ended.status}: ${ended.reason ?? JSON.stringify(ended.error)}`);
    }
    const row = sidebar.locator(`.nbgate-Execution[data-id="${b.id}"]`);
    const chain = row.locator('.nbgate-Chain');
    await chain
      .locator('.nbgate-Chain-step[data-name="e2e_pipe_b"][data-status="succeeded"]')
      .waitFor({ timeout: 30_000 });
    await chain
      .locator('.nbgate-Chain-step[data-name="e2e_pipe_a"][data-status="succeeded"]')
      .waitFor();
    const steps = await chain
      .locator('.nbgate-Chain-step')
      .evaluateAll(items => items.map(item => `${item.dataset.name}:${item.dataset.status}`));
    if (steps.join(' → ') !== 'e2e_pipe_a:succeeded → e2e_pipe_b:succeeded') {
      throw new Error(`the chain reads ${steps.join(' → ')}`);
    }
    // B ran with A's value, exactly, and the day it fired.
    await row.locator('.nbgate-Execution-parameters', { hasText: 'THRESHOLD = 0.77' }).waitFor();
    const today = new Date().toISOString().slice(0, 10);
    if (
      !(await row.locator('.nbgate-Execution-parameters').innerText()).includes(
        `RUN_DATE = "${today}"`
      )
    ) {
      throw new Error(
        `B's parameters: ${await row.locator('.nbgate-Execution-parameters').innerText()}`
      );
    }
    await row.scrollIntoViewIfNeeded();
    await shot(page, 'pipelines-02-chain');
    await checkAccessible(page, sidebar, '#nbgate-sidebar', 'the sidebar with a chain');

    // A step opens its execution's result: A's, from B's row, by the keyboard.
    await chain.getByRole('button', { name: /^e2e_pipe_a: succeeded, view result/ }).focus();
    await page.keyboard.press('Enter');
    const result = page.locator('.nbgate-ResultView');
    await result
      .locator('.nbgate-ResultHeader-name', { hasText: 'e2e_pipe_a_at_' })
      .waitFor({ timeout: 30_000 });
    await result.locator('.nbgate-ResultHeader-values', { hasText: 'accuracy = 0.77' }).waitFor();
    await shot(page, 'pipelines-03-step-opens-result');

    // A fails: B is skipped, and its chain says where it stopped and why.
    const failing = await api(lab, 'POST', `schedules/${upstream.id}/run`, {
      parameters: { FAIL: true }
    });
    const skipped = (
      await scheduleExecutions(lab, 'e2e_pipe_b', items =>
        items.some(e => e.run_id === failing.id && e.status === 'skipped')
      )
    ).find(e => e.run_id === failing.id);
    const skippedRow = sidebar.locator(`.nbgate-Execution[data-id="${skipped.id}"]`);
    const stopped = skippedRow.locator('.nbgate-Chain');
    await stopped
      .locator('.nbgate-Chain-step[data-name="e2e_pipe_a"][data-status="failed"]')
      .waitFor();
    await stopped
      .locator('.nbgate-Chain-step[data-name="e2e_pipe_b"][data-status="skipped"]')
      .waitFor();
    await skippedRow
      .locator('.nbgate-Execution-reason', { hasText: 'upstream e2e_pipe_a failed' })
      .waitFor();
    // The failed step's row says what its failure stopped.
    await sidebar
      .locator(`.nbgate-Execution[data-id="${failing.id}"] .nbgate-Chain-reason`, {
        hasText: 'e2e_pipe_b skipped: upstream e2e_pipe_a failed'
      })
      .waitFor();
    await stopped.scrollIntoViewIfNeeded();
    await shot(page, 'pipelines-04-chain-stopped');
    await checkAccessible(page, sidebar, '#nbgate-sidebar', 'the sidebar with a stopped chain');

    // Run again (the repair) joins the same chain, told apart from the first run.
    await sidebar
      .locator(`.nbgate-Execution[data-id="${failing.id}"]`)
      .getByRole('button', { name: /^Run again e2e_pipe_a_at_/ })
      .click();
    const again = sidebar.locator(
      `.nbgate-Execution[data-id="${failing.id}"] .nbgate-Chain-step[data-name="e2e_pipe_a, run again"]`
    );
    await again.waitFor({ timeout: 30_000 });

    // Deleting A says B goes with it, and deletes both.
    await sidebar.locator('.nbgate-Tab-schedules').click();
    await sidebar.getByRole('button', { name: 'Delete e2e_pipe_a' }).click();
    const confirm = page.locator('.jp-Dialog');
    await confirm.getByText('deleted too: e2e_pipe_b').waitFor();
    await confirm.getByRole('button', { name: 'Delete, keep executions' }).click();
    await sidebar
      .locator('.nbgate-Schedule[data-name="e2e_pipe_b"]')
      .waitFor({ state: 'detached' });
    await sidebar
      .locator('.nbgate-Schedule[data-name="e2e_pipe_a"]')
      .waitFor({ state: 'detached' });
  },

  /**
   * A sweep from the sidebar: 2 × 2 values, the table fills as the runs end (one row each, the
   * values varied and each run's recorded accuracy); a backfill whose range ends before it starts
   * is refused at the field.
   */
  async sweep(page, lab) {
    fs.copyFileSync(path.join(NOTEBOOKS, 'records.ipynb'), path.join(lab.root, 'records.ipynb'));
    const schedule = await api(lab, 'POST', 'schedules', {
      name: 'e2e_sweep',
      notebook: 'records.ipynb',
      parameters: {},
      cron: '0 3 * * *',
      timezone: 'UTC',
      paused: true
    });
    const sidebar = await openSidebar(page, lab);
    await sidebar.locator('.nbgate-Tab-schedules').click();
    const item = sidebar.locator('.nbgate-Schedule[data-name="e2e_sweep"]');
    await item.getByRole('button', { name: 'Sweep e2e_sweep' }).click();
    const dialog = page.locator('dialog.nbgate-SweepDialog[open]');
    const accuracy = dialog.getByLabel('ACCURACY');
    await accuracy.waitFor({ timeout: 30_000 });
    await accuracy.fill('0.6, x');
    await dialog.locator('.nbgate-FieldError', { hasText: '"x" is not a number' }).waitFor();
    await accuracy.fill('0.6, 0.7');
    await dialog.getByLabel('ROWS').fill('3, 4');
    await dialog.locator('.nbgate-SweepDialog-count', { hasText: '4 runs' }).waitFor();
    await shot(page, 'pipelines-05-sweep-form');
    await checkAccessible(page, dialog, 'dialog.nbgate-SweepDialog', 'the sweep form');
    await dialog.getByRole('button', { name: 'Run 4' }).click();

    const table = dialog.locator('table.nbgate-SweepTable');
    await table.waitFor({ timeout: 30_000 });
    const rows = table.locator('tbody tr');
    const deadline = Date.now() + RUN_TIMEOUT;
    while ((await table.locator('tbody tr[data-status="succeeded"]').count()) < 4) {
      if (Date.now() > deadline) {
        throw new Error(`the sweep table reads ${await table.innerText()}`);
      }
      await page.waitForTimeout(200);
    }
    const header = (await table.locator('thead th').allInnerTexts()).map(t => t.trim());
    if (header.join('|') !== 'Run|Parameters|Status|Recorded values|ACCURACY|ROWS|accuracy|model') {
      throw new Error(`the sweep table's columns: ${header.join('|')}`);
    }
    const lines = [];
    for (let i = 0; i < (await rows.count()); i += 1) {
      lines.push(
        (await rows.nth(i).locator('th, td').allInnerTexts()).map(t => t.trim()).join('|')
      );
    }
    const expected = [
      '1|0.6|3|✔ Succeeded|0.6|xgb',
      '2|0.6|4|✔ Succeeded|0.6|xgb',
      '3|0.7|3|✔ Succeeded|0.7|xgb',
      '4|0.7|4|✔ Succeeded|0.7|xgb'
    ];
    if (lines.join('\n') !== expected.join('\n')) {
      throw new Error(`the sweep table's rows:\n${lines.join('\n')}`);
    }
    await shot(page, 'pipelines-06-sweep-table');
    await checkAccessible(page, dialog, 'dialog.nbgate-SweepDialog', 'the sweep table');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The table again, from one of its executions.
    await sidebar.locator('.nbgate-Tab-executions').click();
    await sidebar.locator('.nbgate-Execution-sweep').first().click();
    await page.locator('dialog.nbgate-SweepDialog[open] tbody tr').nth(3).waitFor();
    await page.keyboard.press('Escape');
    await page.locator('dialog.nbgate-SweepDialog').waitFor({ state: 'detached' });

    // Backfill: a range that ends before it starts is refused at "To".
    await sidebar.locator('.nbgate-Tab-schedules').click();
    await item.getByRole('button', { name: 'Backfill e2e_sweep' }).click();
    const backfill = page.locator('dialog.nbgate-BackfillDialog[open]');
    await backfill.getByLabel('From (first day)').fill('2026-11-03');
    await backfill.getByLabel('To (last day, included)').fill('2026-11-01');
    await backfill.getByRole('button', { name: 'Backfill' }).click();
    await backfill.locator('.nbgate-FieldError', { hasText: 'before' }).waitFor();
    await shot(page, 'pipelines-07-backfill-refused');
    await checkAccessible(page, backfill, 'dialog.nbgate-BackfillDialog', 'the backfill dialog');
    await backfill.getByLabel('To (last day, included)').fill('2026-11-04');
    await backfill.getByRole('button', { name: 'Backfill' }).click();
    await backfill.waitFor({ state: 'detached' });
    const filled = await scheduleExecutions(
      lab,
      schedule.id,
      items => items.filter(e => e.fire_time).length === 2
    );
    const days = filled
      .filter(e => e.fire_time)
      .map(e => e.fire_time.slice(0, 10))
      .sort();
    if (days.join(',') !== '2026-11-03,2026-11-04') {
      throw new Error(`the backfill made runs for ${days.join(',')}`);
    }
  }
};

/**
 * Browser test of a schedule's detail (run by run.js in the extension's Lab): three runs of a schedule
 * of a notebook that records `accuracy` with scrapbook and writes output/predictions.csv show three
 * points in the chart (a click opens that run's result), every run's values in the table, the output's
 * freshness and a preview of its first rows.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const { api, finished, openSidebar, seriousViolations, shot } = require('./support');

const NOTEBOOKS = path.join(__dirname, 'notebooks');

module.exports = {
  /**
   * A schedule's detail: a chart point per run, marked by status, opening that run's result; the
   * values table; the output's rows and freshness; the first rows of the latest output.
   */
  async trends(page, lab) {
    fs.copyFileSync(path.join(NOTEBOOKS, 'records.ipynb'), path.join(lab.root, 'records.ipynb'));
    const schedule = await api(lab, 'POST', 'schedules', {
      name: 'e2e_trends',
      notebook: 'records.ipynb',
      parameters: {},
      cron: '0 3 1 1 *',
      timezone: 'UTC',
      paused: true,
      outputs: ['output/*.csv']
    });
    // Three runs, one after the other, each with its own accuracy (and one more row than the last);
    // the second fails after it recorded its value.
    const accuracies = ['0.81', '0.85', '0.9'];
    const expected = ['succeeded', 'failed', 'succeeded'];
    const runs = [];
    for (const [index, accuracy] of accuracies.entries()) {
      const started = await api(lab, 'POST', `schedules/${schedule.id}/run`, {
        parameters: { ACCURACY: Number(accuracy), ROWS: index + 3, FAIL: index === 1 }
      });
      const run = await finished(lab, started.id);
      if (run.status !== expected[index]) {
        throw new Error(`run ${index + 1} ended ${run.status}: ${JSON.stringify(run.error)}`);
      }
      runs.push(run);
    }

    const sidebar = await openSidebar(page, lab);
    // Each execution row says what its run recorded (the failed one too).
    for (const [index, run] of runs.entries()) {
      await sidebar
        .locator(`.nbgate-Execution[data-id="${run.id}"] .nbgate-Execution-values`, {
          hasText: `accuracy = ${accuracies[index]}`
        })
        .waitFor({ timeout: 15_000 });
    }
    await shot(page, 'trends-00-execution-values');
    await sidebar.locator('.nbgate-Tab-schedules').click();
    // The schedule's output patterns are in its Execute dialog (Edit → Advanced options).
    const item = sidebar.locator('.nbgate-Schedule[data-name="e2e_trends"]');
    await item.locator('.nbgate-Schedule-edit').click();
    const dialog = page.locator('.nbgate-ExecuteDialog');
    await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
    await dialog.locator('.nbgate-ExecuteDialog-advancedToggle').click();
    const outputs = dialog.locator('.nbgate-ExecuteDialog-outputs');
    await outputs.evaluate(element => element.scrollIntoView({ block: 'center' }));
    await shot(page, 'trends-00-edit-output-patterns');
    const patterns = await outputs.inputValue();
    if (patterns !== 'output/*.csv') {
      throw new Error(`the dialog shows the output patterns ${JSON.stringify(patterns)}`);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    const open = sidebar.locator('.nbgate-Schedule[data-name="e2e_trends"] .nbgate-Schedule-open');
    // Reachable by keyboard: focus the name and press Enter.
    await open.focus();
    await page.keyboard.press('Enter');
    const detail = page.locator('.nbgate-ScheduleDetail-body[data-name="e2e_trends"]');
    await detail.waitFor({ timeout: 15_000 });

    // The chart: Lab's Vega-Lite renderer, one point per run.
    const chart = detail.locator('.nbgate-Trend[data-name="accuracy"]');
    const points = chart.locator('svg .mark-symbol.role-mark path');
    await points.nth(2).waitFor({ timeout: 30_000 });
    const count = await points.count();
    if (count !== 3) {
      throw new Error(`the accuracy chart shows ${count} points, expected 3`);
    }
    const labels = await points.evaluateAll(paths => paths.map(p => p.getAttribute('aria-label')));
    // Each point says its value and how its run ended (its colour and shape show it too).
    for (const [index, accuracy] of accuracies.entries()) {
      const pattern = new RegExp(`^accuracy ${accuracy} on .* \\(${expected[index]}\\)$`);
      if (!labels.some(label => label && pattern.test(label))) {
        throw new Error(`no point says accuracy ${accuracy}, ${expected[index]}: ${labels}`);
      }
    }
    await chart.locator('svg', { hasText: 'Failed' }).waitFor();
    // "model" is text: in the table, not charted.
    if ((await detail.locator('.nbgate-Trend[data-name="model"]').count()) !== 0) {
      throw new Error('a text value was charted');
    }
    const table = detail.locator('.nbgate-Runs tbody tr');
    if ((await table.count()) !== 3) {
      throw new Error(`the values table has ${await table.count()} rows, expected 3`);
    }
    const newest = await table.first().innerText();
    if (!/Succeeded\s+0\.9\s+xgb/.test(newest)) {
      throw new Error(`the newest run's values read ${JSON.stringify(newest)}`);
    }

    // The output: its rows and freshness, and the first rows of the latest one.
    await detail
      .locator('.nbgate-Output', {
        hasText: /predictions\.csv: 5 rows, .*written (just now|1\smin ago)/
      })
      .waitFor();
    const preview = detail.locator('.nbgate-OutputPreview-table');
    await preview.waitFor({ timeout: 15_000 });
    const header = await preview.locator('thead th').allInnerTexts();
    if (header.join(',') !== 'customer,score') {
      throw new Error(`the preview's columns are ${header}`);
    }
    const cells = await preview.locator('tbody tr').first().locator('td').allInnerTexts();
    if ((await preview.locator('tbody tr').count()) !== 5 || cells.join(',') !== 'c1,0.9') {
      throw new Error(`the preview shows ${await preview.innerText()}`);
    }
    await detail.locator('.nbgate-Trend-chart svg').first().scrollIntoViewIfNeeded();
    await shot(page, 'trends-01-schedule-detail');
    await preview.scrollIntoViewIfNeeded();
    await shot(page, 'trends-02-output-preview');

    const violations = await seriousViolations(page, '.nbgate-ScheduleDetail');
    if (violations.length > 0) {
      throw new Error(`axe-core on the schedule's detail: ${violations.join('; ')}`);
    }

    // A click on the middle point opens that run's result: failed, and with the values it recorded
    // before it failed in its header.
    const middle = chart.locator('svg .mark-symbol.role-mark path[aria-label*="accuracy 0.85 on"]');
    await middle.scrollIntoViewIfNeeded();
    await middle.click();
    const result = page.locator(`.nbgate-ResultView`);
    await result.locator('.nbgate-ResultHeader-name', { hasText: runs[1].name }).waitFor();
    await result.locator('.nbgate-ResultHeader-status', { hasText: 'Failed' }).waitFor();
    // The run's recorded values, exactly, in its result's header.
    await result
      .locator('.nbgate-ResultHeader-values', { hasText: 'accuracy = 0.85' })
      .waitFor({ timeout: 15_000 });
    await result.locator('.nbgate-ResultHeader-values', { hasText: 'model = "xgb"' }).waitFor();
    await shot(page, 'trends-03-point-opens-result');
  }
};

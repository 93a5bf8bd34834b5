/**
 * Browser tests of results as records, the sidebar and the end-of-run notification (run by run.js in the
 * extension's Lab; each is `(page, lab) => Promise`). Executions and schedules are made through the API
 * (with Lab's token, as a script would) unless what is tested is the UI that makes them.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const { labFetch } = require('./lab');
const { api, finished, openSidebar, seriousViolations, shot, TERMINAL } = require('./support');

const NOTEBOOKS = path.join(__dirname, 'notebooks');
const RUN_TIMEOUT = 120_000;

/** Copies a notebook of ui-tests/notebooks/ into Lab's root. */
function addNotebook(lab, name) {
  fs.copyFileSync(path.join(NOTEBOOKS, name), path.join(lab.root, name));
}

/** The HTTP status of a GET (for "is it gone?"). */
async function statusOf(lab, route) {
  const response = await fetch(`${lab.url}/nbgate/api/${route}`, {
    headers: { Authorization: `token ${lab.token}` }
  });
  return response.status;
}

/** A paused schedule of `notebook` (it runs only when asked). */
function schedule(lab, name, notebook, fields = {}) {
  return api(lab, 'POST', 'schedules', {
    name,
    notebook,
    parameters: {},
    cron: '0 3 1 1 *',
    timezone: 'UTC',
    paused: true,
    ...fields
  });
}

async function showTab(sidebar, tab) {
  await sidebar.locator(`.nbgate-Tab-${tab}`).click();
}

/** Waits until a sidebar row's status is one of `statuses`. */
async function rowStatus(row, statuses, timeout = RUN_TIMEOUT) {
  await row
    .page()
    .waitForFunction(
      ([element, wanted]) => wanted.includes(element.getAttribute('data-status')),
      [await row.elementHandle(), statuses],
      { timeout }
    );
  return row.getAttribute('data-status');
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

const ids = items => items.map(item => item.id).sort();

async function expectText(locator, pattern, what) {
  const text = (await locator.innerText()).trim();
  if (!pattern.test(text)) {
    throw new Error(`${what}: ${JSON.stringify(text)} does not match ${pattern}`);
  }
  return text;
}

/** Clicks a button of Lab's dialog by its label, once the dialog shows `expected`. */
async function answerDialog(page, expected, label, check) {
  const dialog = page.locator('.jp-Dialog');
  await dialog.locator('.jp-Dialog-content', { hasText: expected }).waitFor();
  if (check) {
    await dialog.getByRole('checkbox').check();
  }
  await dialog.locator('.jp-Dialog-button', { hasText: label }).click();
  await dialog.waitFor({ state: 'detached' });
}

module.exports = {
  /**
   * View result: read-only, no kernel, nothing to save; follows a running execution (cells appear, the
   * status turns Succeeded); shows status, parameters, zone-labelled times and duration; "Open a copy
   * to edit" writes an ordinary notebook beside the original and leaves the record as it was.
   */
  async resultLive(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    const sidebar = await openSidebar(page, lab);
    const kernels = ids(await labFetch(lab, '/api/kernels'));
    const sessions = ids(await labFetch(lab, '/api/sessions'));
    const execution = await api(lab, 'POST', 'executions', {
      notebook: 'slow.ipynb',
      parameters: { PAUSE: 1.5, LABEL: 'e2e live' }
    });
    const row = sidebar.locator(`.nbgate-Execution[data-id="${execution.id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.locator('.nbgate-Execution-parameters', { hasText: 'PAUSE = 1.5' }).waitFor();
    await row.locator('.nbgate-Execution-parameters', { hasText: 'LABEL = "e2e live"' }).waitFor();
    if ((await rowStatus(row, ['running', ...TERMINAL])) !== 'running') {
      throw new Error(`the execution ended before it could be followed: ${await row.innerText()}`);
    }

    await row.locator('.nbgate-Execution-view').click();
    const view = page.locator('.nbgate-ResultView');
    const header = view.locator('.nbgate-ResultHeader');
    await header.locator('.nbgate-ResultHeader-status', { hasText: 'Running' }).waitFor();
    const steps = view.locator('.nbgate-ResultCell-outputs', { hasText: /e2e live: step \d/ });
    const stepsAtOpen = await steps.count();
    await shot(page, 'result-01-running');
    await view
      .locator('.nbgate-ResultCell-outputs', { hasText: 'e2e live: step 4' })
      .waitFor({ timeout: RUN_TIMEOUT });
    await header
      .locator('.nbgate-ResultHeader-status', { hasText: 'Succeeded' })
      .waitFor({ timeout: RUN_TIMEOUT });
    if (stepsAtOpen >= 4) {
      throw new Error('every step was already there when the view opened: nothing was followed');
    }
    await view.locator('.nbgate-ResultCell-outputs b', { hasText: 'e2e live: done' }).waitFor();
    await shot(page, 'result-02-succeeded');

    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    const zoned = new RegExp(`\\d\\d:\\d\\d:\\d\\d\\s${zone.replace('/', '\\/')}$`);
    await expectText(header.locator('.nbgate-ResultHeader-started'), zoned, 'start time');
    await expectText(header.locator('.nbgate-ResultHeader-duration'), /^\d+\ss$/, 'duration');
    await expectText(
      header.locator('.nbgate-ResultHeader-parameters'),
      /^PAUSE = 1\.5\s+LABEL = "e2e live"$/,
      'parameters'
    );

    const violations = await seriousViolations(page, '.nbgate-ResultHeader');
    if (violations.length > 0) {
      throw new Error(`axe-core on the result's header: ${violations.join('; ')}`);
    }

    // A record: nothing editable, nothing dirty, no kernel or session started by viewing it.
    const editable = await view
      .locator('.cm-editor, textarea, input, [contenteditable="true"]')
      .count();
    if (editable > 0) {
      throw new Error(`the result has ${editable} editable element(s)`);
    }
    if ((await page.locator('.lm-TabBar-tab.jp-mod-dirty').count()) > 0) {
      throw new Error('a tab is marked modified');
    }
    const kernelsAfter = ids(await labFetch(lab, '/api/kernels'));
    const sessionsAfter = ids(await labFetch(lab, '/api/sessions'));
    if (kernelsAfter.join() !== kernels.join() || sessionsAfter.join() !== sessions.join()) {
      throw new Error(
        `viewing started Lab kernels ${kernelsAfter} / sessions ${sessionsAfter} (before: ${kernels} / ${sessions})`
      );
    }
    const ended = await api(lab, 'GET', `executions/${execution.id}`);
    const output = path.join(lab.root, ended.output_path);
    const recorded = sha256(output);

    // Open a copy to edit: an ordinary notebook beside the original, without the record's marker.
    await header.locator('.nbgate-ResultHeader-copy').click();
    const copyName = `${ended.name}_copy.ipynb`;
    await page
      .locator('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current', { hasText: copyName })
      .waitFor({ timeout: 30_000 });
    await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').first().waitFor();
    const copy = JSON.parse(fs.readFileSync(path.join(lab.root, copyName), 'utf8'));
    const original = JSON.parse(fs.readFileSync(output, 'utf8'));
    if (!original.metadata.nbgate || original.metadata.nbgate.execution_id !== execution.id) {
      throw new Error(`the output carries no record marker: ${JSON.stringify(original.metadata)}`);
    }
    if ('nbgate' in copy.metadata || copy.cells.length !== original.cells.length) {
      throw new Error(
        `the copy is not the output without its marker: ${JSON.stringify(copy.metadata)}`
      );
    }
    await shot(page, 'result-03-copy');

    // Closing the result asks nothing (there is nothing to save) and the record is unchanged.
    const resultTab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: ended.name });
    await resultTab.first().click();
    await resultTab.first().locator('.lm-TabBar-tabCloseIcon').click();
    await view.waitFor({ state: 'detached' });
    if ((await page.locator('.jp-Dialog').count()) > 0) {
      throw new Error('closing the result asked something');
    }
    if (sha256(output) !== recorded) {
      throw new Error('the recorded output notebook changed');
    }
  },

  /**
   * Cancelling asks first ("Keep running" keeps it running); a cancelled run's result keeps its partial
   * output and closes without asking to save anything.
   */
  async cancelConfirm(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    const sidebar = await openSidebar(page, lab);
    const execution = await api(lab, 'POST', 'executions', {
      notebook: 'slow.ipynb',
      parameters: { PAUSE: 30, LABEL: 'e2e cancel' }
    });
    const row = sidebar.locator(`.nbgate-Execution[data-id="${execution.id}"]`);
    await rowStatus(row, ['running']);
    await row.locator('.nbgate-Execution-cancel').click();
    await shot(page, 'result-11-cancel-confirm');
    await answerDialog(page, 'Stop the execution', 'Keep running');
    if ((await api(lab, 'GET', `executions/${execution.id}`)).status !== 'running') {
      throw new Error('"Keep running" did not keep it running');
    }
    await row.locator('.nbgate-Execution-cancel').click();
    await answerDialog(page, 'Stop the execution', 'Cancel execution');
    await rowStatus(row, ['cancelled']);
    const cancelled = await api(lab, 'GET', `executions/${execution.id}`);
    const output = path.join(lab.root, cancelled.output_path);
    const recorded = sha256(output);

    await row.locator('.nbgate-Execution-view').click();
    const view = page.locator('.nbgate-ResultView');
    await view.locator('.nbgate-ResultHeader-status', { hasText: 'Cancelled' }).waitFor();
    await view.locator('.nbgate-ResultCell-outputs', { hasText: 'e2e cancel: step 1' }).waitFor();
    await shot(page, 'result-12-cancelled-result');
    // A reload (the layout kept) reopens it, once Lab has saved the layout.
    const deadline = Date.now() + 20_000;
    while (
      !JSON.stringify(await labFetch(lab, '/lab/api/workspaces/default')).includes(cancelled.id)
    ) {
      if (Date.now() > deadline) {
        throw new Error('Lab did not save the result view in its layout');
      }
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    await page.goto(`${lab.url}/lab`);
    await view.locator('.nbgate-ResultHeader-status', { hasText: 'Cancelled' }).waitFor();
    const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: cancelled.name });
    await tab.first().locator('.lm-TabBar-tabCloseIcon').click();
    await view.waitFor({ state: 'detached' });
    if ((await page.locator('.jp-Dialog').count()) > 0 || sha256(output) !== recorded) {
      throw new Error("closing the cancelled run's result asked something or changed its output");
    }
  },

  /** Deleting a schedule: keep its executions (and files), or delete them with their files. */
  async deleteChoices(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    const quick = { PAUSE: 0, LABEL: 'quick' };
    const keep = await schedule(lab, 'e2e_keep', 'slow.ipynb', { parameters: quick });
    const drop = await schedule(lab, 'e2e_drop', 'slow.ipynb', { parameters: quick });
    const kept = await finished(lab, (await api(lab, 'POST', `schedules/${keep.id}/run`, {})).id);
    const dropped = await finished(
      lab,
      (await api(lab, 'POST', `schedules/${drop.id}/run`, {})).id
    );
    const keptFile = path.join(lab.root, kept.output_path);
    const droppedFile = path.join(lab.root, dropped.output_path);
    for (const file of [keptFile, droppedFile]) {
      if (!fs.existsSync(file)) {
        throw new Error(`no output file ${file}`);
      }
    }
    const sidebar = await openSidebar(page, lab);
    await showTab(sidebar, 'schedules');

    const keepItem = sidebar.locator('.nbgate-Schedule[data-name="e2e_keep"]');
    await keepItem.locator('.nbgate-Schedule-delete').click();
    await shot(page, 'result-04-delete-schedule-choice');
    await answerDialog(page, 'Its executions', 'Delete, keep executions');
    await keepItem.waitFor({ state: 'detached' });
    if ((await statusOf(lab, `schedules/${keep.id}`)) !== 404) {
      throw new Error('the schedule was not deleted');
    }
    if ((await statusOf(lab, `executions/${kept.id}`)) !== 200 || !fs.existsSync(keptFile)) {
      throw new Error('"keep executions" did not keep the execution and its file');
    }

    const dropItem = sidebar.locator('.nbgate-Schedule[data-name="e2e_drop"]');
    await dropItem.locator('.nbgate-Schedule-delete').click();
    await answerDialog(page, 'Its executions', 'Delete with executions and files');
    await dropItem.waitFor({ state: 'detached' });
    if ((await statusOf(lab, `executions/${dropped.id}`)) !== 404 || fs.existsSync(droppedFile)) {
      throw new Error('"delete with executions and files" left the execution or its file');
    }

    // Deleting an execution can delete its file too.
    await showTab(sidebar, 'executions');
    const row = sidebar.locator(`.nbgate-Execution[data-id="${kept.id}"]`);
    await row.locator('.nbgate-Execution-delete').click();
    await shot(page, 'result-05-delete-execution');
    await answerDialog(page, 'Delete the execution', 'Delete', true);
    await row.waitFor({ state: 'detached' });
    if ((await statusOf(lab, `executions/${kept.id}`)) !== 404 || fs.existsSync(keptFile)) {
      throw new Error('deleting the execution with its file left one of them');
    }
  },

  /** A run started here ends with a notification saying how (no green "queued" before a failure). */
  async endNotification(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    // A run of a second: the "started" toast is there to be seen before the end replaces it (with
    // no pause the run ended in 147 ms, before the test could see it).
    await schedule(lab, 'e2e_notify_ok', 'slow.ipynb', { parameters: { PAUSE: 1 } });
    await schedule(lab, 'e2e_notify_bad', 'raises.ipynb');
    const sidebar = await openSidebar(page, lab);
    await showTab(sidebar, 'schedules');

    await sidebar
      .locator('.nbgate-Schedule[data-name="e2e_notify_ok"] .nbgate-Schedule-run')
      .click();
    await page.locator('.Toastify__toast', { hasText: /e2e_notify_ok_at_\S+ started/ }).waitFor();
    const success = page.locator('.Toastify__toast--success', {
      hasText: /Execution e2e_notify_ok_at_\S+ succeeded/
    });
    await success.waitFor({ timeout: RUN_TIMEOUT });
    await success.locator('.Toastify__progress-bar--success').waitFor();
    await shot(page, 'result-06-notified-success');
    await success.locator('button', { hasText: 'View result' }).click();
    await page
      .locator('.nbgate-ResultView .nbgate-ResultHeader-status', { hasText: 'Succeeded' })
      .waitFor();

    await showTab(sidebar, 'schedules');
    await sidebar
      .locator('.nbgate-Schedule[data-name="e2e_notify_bad"] .nbgate-Schedule-run')
      .click();
    const failure = page.locator('.Toastify__toast--error', {
      hasText: /Execution e2e_notify_bad_at_\S+ failed/
    });
    await failure.waitFor({ timeout: RUN_TIMEOUT });
    await shot(page, 'result-07-notified-failure');
    await expectText(
      failure,
      /Cell 3: ValueError: the input table is empty/,
      'the failure notification'
    );
    // The "started" toast gives way to how the run ended; nothing ever said "queued".
    await page
      .locator('.Toastify__toast', { hasText: /bad_at_\S+ started/ })
      .waitFor({ state: 'detached', timeout: 5_000 });
    if ((await page.locator('.Toastify__toast', { hasText: /queued/i }).count()) > 0) {
      throw new Error('a toast says "queued"');
    }
    // Its result shows the error as the sidebar does.
    await failure.locator('button', { hasText: 'View result' }).click();
    const error = page.locator(
      '.nbgate-ResultWidget:not(.lm-mod-hidden) .nbgate-ResultHeader-error'
    );
    await expectText(error, /^Cell 3: ValueError: the input table is empty$/, 'the error');
    await shot(page, 'result-13-failed-result');
  },

  /** A schedule's next run in its own zone (Asia/Tokyo), executions in the browser's, each labelled. */
  async zoneLabels(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    const tokyo = await schedule(lab, 'e2e_tokyo', 'slow.ipynb', {
      parameters: { PAUSE: 0 },
      cron: '0 10 * * *',
      timezone: 'Asia/Tokyo',
      paused: false
    });
    await finished(lab, (await api(lab, 'POST', `schedules/${tokyo.id}/run`, {})).id);
    // The browser in a third zone, so that neither label could be the other's by accident.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setTimezoneOverride', { timezoneId: 'America/New_York' });
    const sidebar = await openSidebar(page, lab);
    await showTab(sidebar, 'schedules');
    const item = sidebar.locator('.nbgate-Schedule[data-name="e2e_tokyo"]');
    await expectText(
      item.locator('.nbgate-Schedule-next'),
      /^Next run \S+ \S+, 10:00\sAsia\/Tokyo$|^Next run \S+ \S+ 10:00\sAsia\/Tokyo$/,
      'next run'
    );
    await expectText(
      item.locator('.nbgate-Schedule-latest'),
      /\d\d:\d\d:\d\d\sAmerica\/New_York$/,
      'latest run'
    );
    await shot(page, 'result-08-zones-schedule');
    await showTab(sidebar, 'executions');
    const row = sidebar.locator('.nbgate-Execution[data-name^="e2e_tokyo_at_"]').first();
    await expectText(
      row.locator('.nbgate-Execution-time'),
      /\d\d:\d\d:\d\d\sAmerica\/New_York$/,
      'execution time'
    );
    await shot(page, 'result-09-zones-executions');
  },

  /** axe-core on both tabs of the sidebar, with items in each: no serious or critical violation. */
  async sidebarA11y(page, lab) {
    addNotebook(lab, 'slow.ipynb');
    const a11y = await schedule(lab, 'e2e_a11y', 'raises.ipynb');
    await finished(lab, (await api(lab, 'POST', `schedules/${a11y.id}/run`, {})).id);
    const sidebar = await openSidebar(page, lab);
    const problems = [];
    for (const tab of ['schedules', 'executions']) {
      await showTab(sidebar, tab);
      await sidebar.locator('.nbgate-Item').first().waitFor();
      problems.push(...(await seriousViolations(page, '#nbgate-sidebar')).map(v => `${tab}: ${v}`));
    }
    await shot(page, 'result-10-sidebar-a11y');
    if (problems.length > 0) {
      throw new Error(`axe-core: ${problems.join('; ')}`);
    }
  }
};

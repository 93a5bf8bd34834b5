#!/usr/bin/env node
/**
 * End to end, driven in Debian's Chromium with playwright-core:
 * - the extension: a real JupyterLab (with this extension and the real nbgate gateway it manages) on a
 *   temp copy of examples/;
 * - Lab's own kernels on nbgate (`--gateway-url`, ui-tests/gateway.js): a cell runs 10 times out of 10.
 * Each step saves a screenshot to ui-tests/screenshots/. Prints "N passed, M failed" and exits non-zero
 * on any failure. Everything stops by E2E_DEADLINE seconds (default 1200) or on SIGTERM/SIGINT, with
 * the processes it started.
 *
 *   node ui-tests/run.js                  (environment: see ui-tests/lab.js)
 *   E2E_ONLY=schedule,labOnNbgateKernels node ui-tests/run.js
 */
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const { labOnEnterpriseGateway, labOnNbgateKernels } = require('./gateway');
const { machineTypes } = require('./machineTypes');
const { startExtensionLab, stopAll, stopLab } = require('./lab');
const { openNotebook, shot } = require('./support');
const resultTests = require('./result');
const dialogTests = require('./dialog');
const trendsTests = require('./trends');
const compareTests = require('./compare');
const pipelineTests = require('./pipelines');

const SHOTS = path.join(__dirname, 'screenshots');
const WORK = path.join(__dirname, '.work');
const DEADLINE = Number(process.env.E2E_DEADLINE || 1200) * 1000;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUN_TIMEOUT = 180_000;

/**
 * The Execute dialog, once open. An untouched notebook goes straight to it: a "save first" prompt here
 * is a defect (Lab marks a notebook modified when it fills in metadata the file lacks).
 */
async function executeDialog(page) {
  const dialog = page.locator('.nbgate-ExecuteDialog');
  const prompt = page.locator('.jp-Dialog');
  // Whichever shows first; the other wait's timeout is of no interest.
  await Promise.race([dialog.waitFor(), prompt.waitFor()].map(wait => wait.catch(() => undefined)));
  if (await prompt.isVisible()) {
    throw new Error(
      `an untouched notebook asked first: ${(await prompt.innerText()).split('\n')[0]}`
    );
  }
  await dialog.waitFor();
  return dialog;
}

async function openDialog(page, lab, notebook) {
  const button = await openNotebook(page, lab, notebook);
  await button.click();
  const dialog = await executeDialog(page);
  await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
  return dialog;
}

/** Scrolls an element to the middle of the window and waits until it is painted there (images loaded). */
async function showInViewport(page, locator) {
  const handle = await locator.elementHandle();
  await handle.evaluate(element => element.scrollIntoView({ block: 'center' }));
  await page.waitForFunction(element => {
    const box = element.getBoundingClientRect();
    const loaded = element.tagName !== 'IMG' || (element.complete && element.naturalWidth > 0);
    return loaded && box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
  }, handle);
  await page.evaluate(
    () => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))
  );
}

/** The sidebar's execution row for a name prefix, once it exists. */
function executionRow(page, namePrefix) {
  return page.locator(`#nbgate-sidebar .nbgate-Execution[data-name^="${namePrefix}"]`).first();
}

async function waitForStatus(row, statuses, timeout = RUN_TIMEOUT) {
  const wanted = Array.isArray(statuses) ? statuses : [statuses];
  const deadline = Date.now() + timeout;
  let status = null;
  while (Date.now() < deadline) {
    status = await row.getAttribute('data-status').catch(() => null);
    if (wanted.includes(status)) {
      return status;
    }
    await row.page().waitForTimeout(200);
  }
  throw new Error(`execution stayed ${status}, expected ${wanted.join(' or ')}`);
}

const extensionTests = {
  /** Execute → fill parameters → run once → appears, progresses, succeeds → View result. */
  async runOnce(page, lab) {
    const dialog = await openDialog(page, lab, 'loyal_customer.ipynb');
    const days = dialog.locator('#nbgate-param_DATA_DAY_RANGE');
    await days.waitFor();
    if ((await days.inputValue()) !== '60') {
      throw new Error(`DATA_DAY_RANGE is not prefilled with 60: ${await days.inputValue()}`);
    }
    await days.fill('90');
    await dialog.locator('#nbgate-param_LABEL_BUY_COUNT').fill('2');
    await dialog.locator('#nbgate-param_OUTPUT_DIR').fill('e2e_output');
    await shot(page, '01-execute-dialog-parameters');
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    await dialog.waitFor({ state: 'detached' });

    const row = executionRow(page, 'loyal_customer_at_');
    await row.waitFor({ timeout: 15_000 });
    // It progresses: running with cell n of m (or already done on a fast machine).
    const seen = await waitForStatus(row, ['running', 'succeeded', 'failed']);
    if (seen === 'running') {
      await row
        .locator('.nbgate-Progress')
        .waitFor({ timeout: 30_000 })
        .catch(() => undefined);
      await shot(page, '02-execution-running');
    }
    const status = await waitForStatus(row, ['succeeded', 'failed', 'timed_out', 'cancelled']);
    await shot(page, '03-execution-succeeded');
    if (status !== 'succeeded') {
      throw new Error(`the execution ended ${status}: ${await row.innerText()}`);
    }
    await row.locator('.nbgate-Execution-parameters', { hasText: 'DATA_DAY_RANGE = 90' }).waitFor();
    // Six parameters: three shown, the others one click away.
    await row.locator('.nbgate-Parameters-more summary', { hasText: '3 more parameters' }).click();
    await row.locator('.nbgate-Parameters-more', { hasText: 'SEED = 42' }).waitFor();

    // The result, read-only (ui-tests/result.js tests what that means).
    await row.locator('.nbgate-Execution-view').click();
    const result = page.locator('.nbgate-ResultView');
    await result
      .locator('.nbgate-ResultHeader-status', { hasText: 'Succeeded' })
      .waitFor({ timeout: 30_000 });
    const injected = result.locator('.nbgate-ResultCell.nbgate-mod-injected');
    await injected.filter({ hasText: 'DATA_DAY_RANGE = 90' }).waitFor({ timeout: 30_000 });
    await injected.filter({ hasText: 'LABEL_BUY_COUNT = 2' }).waitFor();
    const images = result.locator('.nbgate-ResultCell-outputs img');
    await images.nth(1).waitFor({ timeout: 30_000 });
    const count = await images.count();
    if (count < 2) {
      throw new Error(`the result shows ${count} plots, expected 2`);
    }
    await showInViewport(page, injected);
    await shot(page, '04-result-injected-parameters');
    await showInViewport(page, images.nth(1));
    await shot(page, '05-result-plots');
  },

  /** A recurring schedule: created, shown, run now, paused. */
  async schedule(page, lab) {
    const dialog = await openDialog(page, lab, 'loyal_customer.ipynb');
    await dialog.locator('.nbgate-ExecuteDialog-recurring').check();
    const name = dialog.locator('.nbgate-ExecuteDialog-name');
    if ((await name.inputValue()) !== 'loyal_customer') {
      throw new Error(`the schedule name is not prefilled: ${await name.inputValue()}`);
    }
    await name.fill('Bad Name');
    await dialog.locator('.nbgate-FieldError', { hasText: 'invalid name "Bad Name"' }).waitFor();
    await name.fill('e2e_weekly');
    await dialog.locator('.nbgate-FrequencyPicker-kind').selectOption('weekly');
    await dialog.locator('.nbgate-FrequencyPicker-days input[value="3"]').check();
    await dialog.locator('.nbgate-FrequencyPicker-time').fill('07:45');
    await dialog.locator('.nbgate-ExecuteDialog-timezone').fill('Europe/Paris');
    await dialog
      .locator('.nbgate-Preview-description', {
        hasText: 'Every Monday and Wednesday at 07:45 (Europe/Paris)'
      })
      .waitFor();
    const runs = await dialog.locator('.nbgate-Preview-runs li').count();
    if (runs !== 3) {
      throw new Error(`the preview shows ${runs} next runs, expected 3`);
    }
    await dialog.locator('#nbgate-param_DATA_DAY_RANGE').fill('75');
    await shot(page, '06-schedule-dialog');
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    await dialog.waitFor({ state: 'detached' });

    const item = page.locator('#nbgate-sidebar .nbgate-Schedule[data-name="e2e_weekly"]');
    await item.waitFor({ timeout: 15_000 });
    await item.locator('.nbgate-Schedule-frequency', { hasText: 'Monday and Wednesday' }).waitFor();
    await item.getByText('Next run').waitFor();
    await shot(page, '07-schedule-created');

    await item.locator('.nbgate-Schedule-run').click();
    const row = executionRow(page, 'e2e_weekly_at_');
    await row.waitFor({ timeout: 15_000 });
    await shot(page, '08-schedule-run-now');
    const status = await waitForStatus(row, ['succeeded', 'failed', 'timed_out', 'cancelled']);
    if (status !== 'succeeded') {
      throw new Error(`the scheduled run ended ${status}: ${await row.innerText()}`);
    }
    const parameters = await row.locator('.nbgate-Execution-parameters').innerText();
    if (!parameters.includes('DATA_DAY_RANGE = 75')) {
      throw new Error("the scheduled run did not use the schedule's parameters");
    }

    await page.locator('#nbgate-sidebar .nbgate-Tab-schedules').click();
    await item.locator('.nbgate-Item-detail', { hasText: 'Latest:' }).waitFor();
    await item.locator('.nbgate-Schedule-pause').click();
    await item.locator('.nbgate-Schedule-paused').waitFor({ timeout: 15_000 });
    await item.locator('.nbgate-Schedule-resume').waitFor();
    await shot(page, '09-schedule-paused');

    // Edit: the same dialog, prefilled; the parameters are editable.
    await item.locator('.nbgate-Schedule-edit').click();
    const edit = await executeDialog(page);
    const days = edit.locator('#nbgate-param_DATA_DAY_RANGE');
    await days.waitFor({ timeout: 30_000 });
    const prefilled = [
      await days.inputValue(),
      await edit.locator('.nbgate-FrequencyPicker-kind').inputValue(),
      await edit.locator('.nbgate-FrequencyPicker-time').inputValue(),
      await edit.locator('.nbgate-ExecuteDialog-timezone').inputValue()
    ];
    if (prefilled.join(' ') !== '75 weekly 07:45 Europe/Paris') {
      throw new Error(`the edit dialog is prefilled with ${prefilled.join(' ')}`);
    }
    await days.fill('80');
    await shot(page, '10-schedule-edit');
    await edit.locator('.nbgate-ExecuteDialog-submit').click();
    await edit.waitFor({ state: 'detached' });
    const schedules = await page.evaluate(async () =>
      (await fetch('/nbgate/api/schedules')).json()
    );
    const saved = schedules.items.find(s => s.name === 'e2e_weekly');
    if (saved.parameters.DATA_DAY_RANGE !== 80 || !saved.paused) {
      throw new Error(`the edit saved ${JSON.stringify(saved)}`);
    }
  },

  /** A notebook that raises (and has no parameters cell) shows failed with its error. */
  async failure(page, lab) {
    // From the file browser's context menu this time.
    await openNotebook(page, lab, 'raises.ipynb');
    await page
      .locator('.jp-DirListing-item', { hasText: 'raises.ipynb' })
      .click({ button: 'right' });
    await page.locator('.lm-Menu-item', { hasText: 'Execute with nbgate' }).click();
    const dialog = await executeDialog(page);
    await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
    await dialog.locator('.nbgate-ExecuteDialog-noParameters').waitFor();
    await shot(page, '11-no-parameters-cell');
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    await dialog.waitFor({ state: 'detached' });
    const row = executionRow(page, 'raises_at_');
    await row.waitFor({ timeout: 15_000 });
    const status = await waitForStatus(row, ['succeeded', 'failed', 'timed_out', 'cancelled']);
    await row
      .locator('.nbgate-Execution-error')
      .waitFor()
      .catch(() => undefined);
    await shot(page, '12-execution-failed');
    if (status !== 'failed') {
      throw new Error(`the raising notebook ended ${status}`);
    }
    const error = await row.locator('.nbgate-Execution-error').innerText();
    if (error !== 'Cell 3: ValueError: the input table is empty') {
      throw new Error(`the error shown is ${JSON.stringify(error)}`);
    }
  },

  // View result, delete choices, end-of-run notification, zone labels, axe-core on the sidebar.
  ...resultTests,

  // The Execute dialog: keyboard only, field errors, a 20-digit integer, axe-core.
  ...dialogTests,

  // A schedule's detail: recorded values charted across runs, the output's freshness and preview.
  ...trendsTests,

  // "Compare with…": a failed run against its schedule's last success, axe-core on the view.
  ...compareTests,

  // Pipelines: B after A in the dialog, the chain in the sidebar; a sweep's table; backfill.
  ...pipelineTests
};

/** Tests that start their own Lab and gateway. */
const ownLabTests = { labOnNbgateKernels, labOnEnterpriseGateway, machineTypes };

/**
 * What git sees in the checkout (changed and untracked files, ignored ones aside): the browser tests
 * must leave it as they found it — what Lab and nbgate write goes to ignored or temporary places.
 */
function treeStatus() {
  const repo = path.resolve(__dirname, '..', '..');
  return execFileSync('git', ['status', '--porcelain=v1', '--untracked-files=all'], {
    cwd: repo,
    encoding: 'utf8'
  });
}

/** Stops what was started and exits non-zero: at the deadline or on a signal. */
function giveUp(why) {
  console.log(`e2e: ${why}; stopping Lab and nbgate`);
  stopAll().finally(() => process.exit(1));
}

async function main() {
  setTimeout(() => giveUp(`not done within ${DEADLINE / 1000} s`), DEADLINE).unref();
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => giveUp(`${signal} received`));
  }
  // Each run's screenshots and work directories are its own.
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.rmSync(WORK, { recursive: true, force: true });
  const all = { ...extensionTests, ...ownLabTests };
  const only = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(',') : Object.keys(all);
  const unknown = only.filter(name => !(name in all));
  if (unknown.length > 0) {
    throw new Error(`unknown test(s) ${unknown.join(', ')}; known: ${Object.keys(all).join(', ')}`);
  }
  let browser;
  let lab;
  let passed = 0;
  let failed = 0;
  const treeBefore = treeStatus();

  async function attempt(name, test) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const started = Date.now();
    try {
      await test(page);
      passed += 1;
      console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      failed += 1;
      await shot(page, `FAILED-${name}`).catch(() => undefined);
      console.log(`FAIL ${name}: ${error.message.split('\n')[0]}`);
      if (lab) {
        console.log(`     lab log: ${lab.log}`);
      }
    }
    await context.close();
  }

  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    });
    const extension = only.filter(name => name in extensionTests);
    if (extension.length > 0) {
      lab = await startExtensionLab(path.join(WORK, 'extension'));
      for (const name of extension) {
        await attempt(name, page => extensionTests[name](page, lab));
      }
      await stopLab(lab);
      lab = undefined;
    }
    for (const name of only.filter(n => n in ownLabTests)) {
      await attempt(name, () => ownLabTests[name](browser, { base: path.join(WORK, name), shot }));
    }
  } finally {
    if (browser) {
      await browser.close();
    }
    await stopAll();
  }
  const treeAfter = treeStatus();
  if (treeAfter === treeBefore) {
    passed += 1;
    console.log('ok   the checkout is as the tests found it (git status)');
  } else {
    failed += 1;
    const before = new Set(treeBefore.split('\n'));
    const added = treeAfter.split('\n').filter(line => line && !before.has(line));
    console.log(`FAIL the tests changed the checkout: ${added.join(', ') || treeAfter}`);
  }
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch(error => {
  console.error(error);
  stopAll().finally(() => process.exit(1));
});

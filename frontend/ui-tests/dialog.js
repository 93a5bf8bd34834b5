/**
 * The Execute dialog end to end (registered in run.js's extensionTests): driven by the keyboard, its
 * fields blocking a wrong or empty value at the field, a 20-digit integer reaching the kernel exactly,
 * and axe-core's check of the open dialog. Each is `async (page, lab) => …`.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const { openNotebook, shot } = require('./support');

const AXE = require.resolve('axe-core/axe.min.js');
const RUN_TIMEOUT = 180_000;
const BIG = '12345678901234567890';

/** The open dialog, once its fields are there. */
async function openedDialog(page) {
  const dialog = page.locator('dialog.nbgate-ExecuteDialog[open]');
  await dialog.locator('.nbgate-ExecuteDialog-body').waitFor({ timeout: 30_000 });
  return dialog;
}

/** What has the focus: its id, or its class, and whether it is inside the dialog. */
function focused(page) {
  return page.evaluate(() => {
    const element = document.activeElement;
    const dialog = document.querySelector('dialog.nbgate-ExecuteDialog');
    return {
      id: element?.id || '',
      text: (element?.getAttribute('aria-label') || element?.textContent || '').trim(),
      className: element?.className || '',
      inDialog: Boolean(dialog && element && dialog.contains(element)),
      isExecuteButton: Boolean(element?.closest('[data-jp-item-name="nbgate-execute"]'))
    };
  });
}

/** Every control in the dialog has a name, and its aria-describedby names ids that exist. */
async function checkNamesAndDescriptions(dialog) {
  const problems = await dialog.evaluate(root => {
    const found = [];
    for (const control of root.querySelectorAll('input, select, textarea, button')) {
      const label =
        control.labels?.length > 0 ||
        control.getAttribute('aria-label') ||
        control.getAttribute('aria-labelledby') ||
        (control.tagName === 'BUTTON' && control.textContent.trim());
      if (!label) {
        found.push(`${control.outerHTML.slice(0, 80)} has no accessible name`);
      }
      for (const id of (control.getAttribute('aria-describedby') || '').split(/\s+/)) {
        if (id && !document.getElementById(id)) {
          found.push(`${control.id || control.className}: aria-describedby names a missing #${id}`);
        }
      }
    }
    const title = document.getElementById(root.getAttribute('aria-labelledby'));
    if (root.getAttribute('aria-modal') !== 'true' || !title) {
      found.push('the dialog is not aria-modal with an existing title');
    }
    return found;
  });
  if (problems.length > 0) {
    throw new Error(problems.join('; '));
  }
}

/** The executions the API lists (as the sidebar gets them). */
async function executions(page) {
  return page.evaluate(async () => (await (await fetch('/nbgate/api/executions')).json()).items);
}

/** Waits until the newest execution of `notebook` has ended; its raw JSON text and status. */
async function endedExecution(page, notebook) {
  const deadline = Date.now() + RUN_TIMEOUT;
  while (Date.now() < deadline) {
    const ended = await page.evaluate(async notebook => {
      const page = await (await fetch('/nbgate/api/executions')).json();
      const execution = page.items.find(e => e.notebook === notebook);
      if (!execution || ['queued', 'running'].includes(execution.status)) {
        return null;
      }
      // The raw text: JSON.parse would round the integer.
      const raw = await (await fetch(`/nbgate/api/executions/${execution.id}`)).text();
      return { raw, status: execution.status, output: execution.output_path };
    }, notebook);
    if (ended) {
      return ended;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no execution of ${notebook} ended within ${RUN_TIMEOUT / 1000} s`);
}

/** Opens the dialog from the notebook's toolbar with the keyboard: focus the button, press Enter. */
async function openByKeyboard(page, button) {
  await button.focus();
  await page.keyboard.press('Enter');
  return openedDialog(page);
}

/** Keyboard only: fields, Tab stays inside, Enter submits; Escape asks when edited; focus returns. */
async function dialogKeyboard(page, lab) {
  const button = await openNotebook(page, lab, 'loyal_customer.ipynb');
  const before = (await executions(page)).length;
  const dialog = await openByKeyboard(page, button);
  await checkNamesAndDescriptions(dialog);
  // Focus is in the first field.
  const first = await focused(page);
  if (first.id !== 'nbgate-param_DATA_DAY_RANGE') {
    throw new Error(`on open, the focus is on ${JSON.stringify(first)}, not the first field`);
  }
  // Tab goes round the dialog's controls and never leaves it, both ways.
  const seen = new Set();
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    if (!now.inDialog) {
      throw new Error(`Tab left the dialog after ${i + 1} presses: ${JSON.stringify(now)}`);
    }
    seen.add(now.id || now.className);
  }
  for (let i = 0; i < 5; i += 1) {
    await page.keyboard.press('Shift+Tab');
    if (!(await focused(page)).inDialog) {
      throw new Error('Shift+Tab left the dialog');
    }
  }
  for (const expected of ['nbgate-param_LABEL_BUY_COUNT', 'nbgate-ExecuteDialog-kernel']) {
    if (!seen.has(expected)) {
      throw new Error(`Tab never reached #${expected}: ${[...seen].join(', ')}`);
    }
  }
  // Back to the first field, type, Enter submits.
  await dialog.locator('#nbgate-param_DATA_DAY_RANGE').focus();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('61');
  await shot(page, 'dialog-01-keyboard-typed');
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'detached' });
  const after = await executions(page);
  if (after.length !== before + 1 || !after.some(e => e.parameters.DATA_DAY_RANGE === 61)) {
    throw new Error(`Enter did not run with DATA_DAY_RANGE = 61: ${JSON.stringify(after)}`);
  }

  // Reopen, edit, Escape: asked first; Escape keeps editing; Discard closes; focus is back.
  const again = await openByKeyboard(page, button);
  await page.keyboard.type('5');
  await page.keyboard.press('Escape');
  const keep = again.locator('.nbgate-ExecuteDialog-keep');
  await keep.waitFor();
  if ((await focused(page)).text !== 'Keep editing') {
    throw new Error('the discard question does not have the focus');
  }
  await shot(page, 'dialog-02-discard-question');
  await page.keyboard.press('Escape');
  await keep.waitFor({ state: 'detached' });
  if (!(await again.isVisible())) {
    throw new Error('Escape on the question closed the dialog');
  }
  await page.keyboard.press('Escape');
  await keep.waitFor();
  await page.keyboard.press('Tab');
  if ((await focused(page)).text !== 'Discard') {
    throw new Error('Tab from Keep editing does not reach Discard');
  }
  await page.keyboard.press('Enter');
  await again.waitFor({ state: 'detached' });
  if (!(await focused(page)).isExecuteButton) {
    throw new Error(`after Discard the focus is on ${JSON.stringify(await focused(page))}`);
  }
  // Untouched: Escape closes at once, and focus is back on the Execute button.
  const third = await openByKeyboard(page, button);
  await page.keyboard.press('Escape');
  await third.waitFor({ state: 'detached' });
  if (!(await focused(page)).isExecuteButton) {
    throw new Error(`after Escape the focus is on ${JSON.stringify(await focused(page))}`);
  }
}

/** `abc` and an empty integer field: the error at the field, the text kept, nothing submitted. */
async function dialogInvalidFields(page, lab) {
  const button = await openNotebook(page, lab, 'loyal_customer.ipynb');
  const before = (await executions(page)).length;
  await button.click();
  const dialog = await openedDialog(page);
  const days = dialog.locator('#nbgate-param_DATA_DAY_RANGE');
  const submit = dialog.locator('.nbgate-ExecuteDialog-submit');
  for (const [text, message] of [
    ['abc', '"abc" is not a whole number: use digits, e.g. 42 or -7'],
    ['', 'enter a whole number']
  ]) {
    await days.fill(text);
    const state = await days.evaluate(input => ({
      value: input.value,
      invalid: input.getAttribute('aria-invalid'),
      describedBy: input.getAttribute('aria-describedby') || ''
    }));
    const error = dialog.locator('#nbgate-param_DATA_DAY_RANGE-error');
    const shown = await error.innerText();
    const times = await dialog.getByText(message, { exact: true }).count();
    if (state.value !== text || state.invalid !== 'true' || shown !== message || times !== 1) {
      throw new Error(`for ${JSON.stringify(text)}: ${JSON.stringify({ state, shown, times })}`);
    }
    if (!state.describedBy.split(' ').includes('nbgate-param_DATA_DAY_RANGE-error')) {
      throw new Error(`the field is not described by its error: ${state.describedBy}`);
    }
    if (!(await submit.isDisabled())) {
      throw new Error(`Run now is enabled with ${JSON.stringify(text)} in an integer field`);
    }
    await shot(page, `dialog-03-invalid-${text || 'empty'}`);
    // Enter in the field does not submit either.
    await days.press('Enter');
    if (!(await dialog.isVisible())) {
      throw new Error(`Enter submitted ${JSON.stringify(text)}`);
    }
  }
  // The server's rules as the user types (POST /api/schedules/preview): retries 0 to 100, any
  // positive number of seconds; its message at the field.
  await dialog.locator('.nbgate-ExecuteDialog-advancedToggle').click();
  const retries = dialog.locator('#nbgate-ExecuteDialog-retries');
  const retriesError = dialog.locator('#nbgate-ExecuteDialog-retries-error');
  await retries.fill('101');
  await retriesError.waitFor();
  const said = await retriesError.innerText();
  if (!said.startsWith('retries must be 0 to 100, got 101') || !(await submit.isDisabled())) {
    throw new Error(
      `retries 101: ${JSON.stringify(said)}, Run disabled: ${await submit.isDisabled()}`
    );
  }
  await shot(page, 'dialog-03-invalid-retries');
  const checked = page.waitForResponse(
    response =>
      response.url().includes('/schedules/preview') &&
      /"timeout":0\.5\b/.test(response.request().postData() || '') &&
      /"retries":100\b/.test(response.request().postData() || '')
  );
  await retries.fill('100');
  await dialog.locator('#nbgate-ExecuteDialog-timeout').fill('0.5');
  const answer = await (await checked).json();
  if (
    !answer.valid ||
    (await dialog.locator('.nbgate-ExecuteDialog-advanced .nbgate-FieldError').count())
  ) {
    throw new Error(`100 retries and a 0.5 s timeout: ${JSON.stringify(answer)}`);
  }
  await days.fill('30');
  if (await submit.isDisabled()) {
    throw new Error('Run now stays disabled once the field is valid');
  }
  if ((await dialog.locator('[aria-invalid="true"]').count()) !== 0) {
    throw new Error('a field is still marked invalid');
  }
  await dialog.locator('.nbgate-ExecuteDialog-cancel').click();
  await dialog.waitFor({ state: 'detached' });
  if ((await executions(page)).length !== before) {
    throw new Error('an execution was created');
  }
  // Opened with the mouse, closed: focus is on the Execute button all the same.
  if (!(await focused(page)).isExecuteButton) {
    throw new Error(`after Cancel the focus is on ${JSON.stringify(await focused(page))}`);
  }
}

/** A 20-digit integer typed in the dialog is what the kernel prints and what the record says. */
async function dialogBigInteger(page, lab) {
  fs.copyFileSync(
    path.join(__dirname, 'notebooks', 'print_parameter.ipynb'),
    path.join(lab.root, 'print_parameter.ipynb')
  );
  await page.goto(`${lab.url}/lab?reset&token=${lab.token}`);
  const item = page.locator('.jp-DirListing-item', { hasText: 'print_parameter.ipynb' });
  await item.waitFor({ timeout: 60_000 });
  await item.click({ button: 'right' });
  await page.locator('.lm-Menu-item', { hasText: 'Execute with nbgate' }).click();
  const dialog = await openedDialog(page);
  const n = dialog.locator('#nbgate-param_N');
  if ((await n.inputValue()) !== '1') {
    throw new Error(`N is not prefilled with 1: ${await n.inputValue()}`);
  }
  await n.fill(BIG);
  await shot(page, 'dialog-04-big-integer');
  await dialog.locator('.nbgate-ExecuteDialog-submit').click();
  await dialog.waitFor({ state: 'detached' });
  const ended = await endedExecution(page, 'print_parameter.ipynb');
  if (ended.status !== 'succeeded') {
    throw new Error(`the run ended ${ended.status}: ${ended.raw.slice(0, 300)}`);
  }
  if (!new RegExp(`"N":\\s*${BIG}\\b`).test(ended.raw)) {
    throw new Error(`the recorded parameters are not N = ${BIG}: ${ended.raw.slice(0, 300)}`);
  }
  const output = JSON.parse(fs.readFileSync(path.join(lab.root, ended.output), 'utf8'));
  const printed = output.cells
    .flatMap(cell => cell.outputs || [])
    .filter(out => out.output_type === 'stream')
    .map(out => (Array.isArray(out.text) ? out.text.join('') : out.text))
    .join('');
  if (printed !== `${BIG}\n`) {
    throw new Error(`the kernel printed ${JSON.stringify(printed)}, expected ${BIG}`);
  }
}

/** The API with Jupyter's XSRF header, from the page (as the extension calls it). */
function api(page, method, route) {
  return page.evaluate(
    async ({ method, route }) => {
      const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
      const response = await fetch(`/nbgate/api/${route}`, {
        method,
        headers: { 'X-XSRFToken': decodeURIComponent(xsrf) }
      });
      return response.status === 204 ? null : response.json();
    },
    { method, route }
  );
}

/**
 * A schedule's feedback: the suggested name is free, next runs are in the schedule's zone and say so,
 * the picker keeps the time across kinds and words its one message at its field, and "already exists"
 * is shown at the name until the name is edited.
 */
async function dialogScheduleFeedback(page, lab) {
  const button = await openNotebook(page, lab, 'loyal_customer.ipynb');
  const taken = new Set((await api(page, 'GET', 'schedules')).items.map(s => s.name));
  let expected = 'loyal_customer';
  for (let n = 2; taken.has(expected); n += 1) {
    expected = `loyal_customer_${n}`;
  }
  await button.click();
  let dialog = await openedDialog(page);
  await dialog.locator('.nbgate-ExecuteDialog-recurring').check();
  const name = dialog.locator('#nbgate-ExecuteDialog-name');
  if ((await name.inputValue()) !== expected) {
    throw new Error(`the suggested name is ${await name.inputValue()}, expected ${expected}`);
  }
  const kind = dialog.locator('.nbgate-FrequencyPicker-kind');
  await kind.selectOption('daily');
  await dialog.locator('.nbgate-FrequencyPicker-time').fill('10:00');
  await dialog.locator('#nbgate-ExecuteDialog-timezone').fill('Asia/Tokyo');
  // The server's preview (debounced): the runs shown once it has answered about this zone.
  await dialog.locator('.nbgate-Preview-runs li', { hasText: '(Asia/Tokyo)' }).first().waitFor();
  const runs = await dialog.locator('.nbgate-Preview-runs li').allInnerTexts();
  if (runs.length !== 3 || !runs.every(run => /\b10:00 \(Asia\/Tokyo\)$/.test(run))) {
    throw new Error(`the next runs are not 10:00 labelled Asia/Tokyo: ${runs.join(' | ')}`);
  }
  await shot(page, 'dialog-06-tokyo-preview');
  // Every N minutes and back: the time is kept; one minute is singular; the steps say why.
  await kind.selectOption('minutes');
  const steps = await dialog.locator('.nbgate-FrequencyPicker-every option').allInnerTexts();
  const why = await dialog.locator('#nbgate-FrequencyPicker-every-help').innerText();
  if (steps[0] !== '1 minute' || steps[1] !== '2 minutes' || !why.includes('divide 60')) {
    throw new Error(`the minute steps read ${steps.join(', ')} / ${why}`);
  }
  await kind.selectOption('weekly');
  if ((await dialog.locator('.nbgate-FrequencyPicker-time').inputValue()) !== '10:00') {
    throw new Error('switching to every N minutes and back lost the time');
  }
  // No day: one message, at the days.
  for (const box of await dialog.locator('.nbgate-FrequencyPicker-days input:checked').all()) {
    await box.uncheck();
  }
  const text = await dialog.innerText();
  const once = text.split('choose at least one day').length - 1;
  if (once !== 1 || /5 fields|cron expression has/.test(text)) {
    throw new Error(`with no day the dialog says: ${text.slice(text.indexOf('Repeat'), 400)}`);
  }
  await kind.selectOption('daily');
  await dialog.locator('.nbgate-ExecuteDialog-submit').click();
  await dialog.waitFor({ state: 'detached' });
  const created = (await api(page, 'GET', 'schedules')).items.find(s => s.name === expected);
  if (!created || created.timezone !== 'Asia/Tokyo' || created.cron !== '0 10 * * *') {
    throw new Error(`the schedule saved is ${JSON.stringify(created)}`);
  }
  try {
    // The name is taken now: the next suggestion differs; the taken one is refused at the field.
    await button.click();
    dialog = await openedDialog(page);
    await dialog.locator('.nbgate-ExecuteDialog-recurring').check();
    if ((await name.inputValue()) === expected) {
      throw new Error(`the suggested name ${expected} is taken`);
    }
    await name.fill(expected);
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    const error = dialog.locator('#nbgate-ExecuteDialog-name-error');
    await error.waitFor();
    const message = `a schedule named "${expected}" already exists`;
    const state = await name.evaluate(input => ({
      invalid: input.getAttribute('aria-invalid'),
      focused: document.activeElement === input
    }));
    if ((await error.innerText()) !== message || state.invalid !== 'true' || !state.focused) {
      throw new Error(
        `the server's error at the name: ${await error.innerText()} ${JSON.stringify(state)}`
      );
    }
    if ((await dialog.getByText(message).count()) !== 1) {
      throw new Error('the server error is shown more than once');
    }
    await shot(page, 'dialog-07-name-taken');
    await name.press('End');
    await page.keyboard.type('_b');
    await error.waitFor({ state: 'detached' });
    await page.keyboard.press('Escape');
    await dialog.locator('.nbgate-ExecuteDialog-discard').click();
    await dialog.waitFor({ state: 'detached' });
  } finally {
    await api(page, 'DELETE', `schedules/${created.id}?executions=delete`);
  }
}

/** axe-core on the open dialog (once run, once on a schedule with every option shown): no serious or
 * critical violation. */
async function dialogAxe(page, lab) {
  const button = await openNotebook(page, lab, 'loyal_customer.ipynb');
  await button.click();
  const dialog = await openedDialog(page);
  await page.addScriptTag({ path: AXE });
  const check = async what => {
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run('.nbgate-ExecuteDialog');
      return result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
    });
    if (violations.length > 0) {
      throw new Error(`${what}: ${violations.join('; ')}`);
    }
  };
  await check('run once');
  await dialog.locator('.nbgate-ExecuteDialog-recurring').check();
  await dialog.locator('.nbgate-FrequencyPicker-kind').selectOption('weekly');
  await dialog.locator('.nbgate-ExecuteDialog-advancedToggle').click();
  await dialog.locator('#nbgate-param_DATA_DAY_RANGE').fill('abc');
  await dialog.locator('.nbgate-FrequencyPicker-days input[value="1"]').uncheck();
  await shot(page, 'dialog-05-schedule-errors');
  await checkNamesAndDescriptions(dialog);
  await check('on a schedule, with errors shown');
  await page.keyboard.press('Escape');
  await dialog.locator('.nbgate-ExecuteDialog-confirm').waitFor();
  await check('asking before discarding');
}

module.exports = {
  dialogKeyboard,
  dialogInvalidFields,
  dialogBigInteger,
  dialogScheduleFeedback,
  dialogAxe
};

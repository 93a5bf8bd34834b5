/**
 * Machine types in the Execute dialog: a Lab whose managed gateway has a machine types file
 * (NBGATE_MACHINE_TYPES, as `make run` gives it) offers a Machine type select with each type's
 * description, the default preselected; choosing "one-cpu" runs the execution on it (the notebook
 * prints the CPUs it may use: 1) and the sidebar's row shows the type.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const { startLab, stopLab, workDirs } = require('./lab');
const { api, finished, openNotebook } = require('./support');

const TYPES = `
[[machine_type]]
name = "standard"
description = "All CPUs of this machine"
default = true

[[machine_type]]
name = "one-cpu"
description = "1 CPU"
cpus = 1
`;

function probeNotebook() {
  const cell = (id, source, tags) => ({
    cell_type: 'code',
    id,
    execution_count: null,
    metadata: tags ? { tags } : {},
    outputs: [],
    source
  });
  return {
    cells: [
      cell('params', 'label = "x"', ['parameters']),
      cell('probe', 'import os\nprint("cpus", len(os.sched_getaffinity(0)))')
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

async function machineTypes(browser, { base, shot }) {
  const dirs = workDirs(base);
  const types = path.join(base, 'machine-types.toml');
  fs.writeFileSync(types, TYPES);
  fs.writeFileSync(path.join(dirs.root, 'probe.ipynb'), JSON.stringify(probeNotebook(), null, 1));
  // The extension's gateway inherits Lab's environment.
  const previous = process.env.NBGATE_MACHINE_TYPES;
  process.env.NBGATE_MACHINE_TYPES = types;
  let lab;
  try {
    lab = await startLab({ base, ...dirs });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const button = await openNotebook(page, lab, 'probe.ipynb');
    await button.click();
    const dialog = page.locator('.nbgate-ExecuteDialog');
    const select = dialog.locator('select.nbgate-ExecuteDialog-machineType');
    await select.waitFor();
    const options = await select.locator('option').allInnerTexts();
    const wanted = ['standard — All CPUs of this machine (default)', 'one-cpu — 1 CPU'];
    if (JSON.stringify(options) !== JSON.stringify(wanted)) {
      throw new Error(`machine type options ${JSON.stringify(options)}`);
    }
    if ((await select.inputValue()) !== 'standard') {
      throw new Error(`the default type is not preselected: ${await select.inputValue()}`);
    }
    await select.selectOption('one-cpu');
    await dialog.locator('.nbgate-Field-help', { hasText: '1 CPU · this machine' }).waitFor();
    await shot(page, 'machine-type-choice');
    await dialog.locator('.nbgate-ExecuteDialog-submit').click();
    await dialog.waitFor({ state: 'detached' });

    const row = page.locator('#nbgate-sidebar .nbgate-Execution[data-name^="probe_at_"]').first();
    await row.waitFor();
    await row.locator('.nbgate-MachineType', { hasText: 'one-cpu' }).waitFor();
    const id = await row.getAttribute('data-id');
    const execution = await finished(lab, id);
    if (execution.status !== 'succeeded' || execution.machine_type !== 'one-cpu') {
      throw new Error(`the execution ended ${execution.status} on ${execution.machine_type}`);
    }
    const output = await api(lab, 'GET', `executions/${id}/notebook`);
    const probe = output.cells[output.cells.length - 1];
    const printed = probe.outputs.map(o => [].concat(o.text || []).join('')).join('');
    if (printed.trim() !== 'cpus 1') {
      throw new Error(`the kernel was not pinned to one CPU: ${JSON.stringify(printed)}`);
    }
    await shot(page, 'machine-type-row');
    await context.close();
  } finally {
    if (previous === undefined) {
      delete process.env.NBGATE_MACHINE_TYPES;
    } else {
      process.env.NBGATE_MACHINE_TYPES = previous;
    }
    if (lab) {
      await stopLab(lab);
    }
  }
}

module.exports = { machineTypes };

/**
 * JupyterLab's own kernels on nbgate (`jupyter lab --gateway-url`): a notebook opened in the browser gets
 * a kernel on `nbgate serve` and runs a cell, RUNS times in a row, each time with a fresh kernel. In
 * gateway mode Lab connects each kernel's WebSocket twice within milliseconds with the same session
 * (its first try asks for a subprotocol the gateway client refuses); every run must survive that. Then
 * Lab stops, shutting its kernels down through nbgate, and nbgate stops cleanly with none left.
 * `labOnEnterpriseGateway` does it all once more with a Jupyter Enterprise Gateway behind nbgate
 * (`nbgate serve --gateway-url`): each kernel is also on EG, and none is left there at the end.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const {
  gatewayGet,
  labFetch,
  startEnterpriseGateway,
  startGateway,
  startLab,
  stopLab,
  stopProcess,
  workDirs
} = require('./lab');

const RUNS = 10;
const CELL_TIMEOUT = 45_000;

function notebook(source) {
  return {
    cells: [
      {
        cell_type: 'code',
        id: 'six-times-seven',
        execution_count: null,
        metadata: {},
        outputs: [],
        source
      }
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

/** Polls `probe` until it returns a truthy value; throws `message` at the deadline. */
async function eventually(probe, timeout, message) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(typeof message === 'function' ? await message() : message);
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

async function kernelIds(gateway) {
  return (await gatewayGet(gateway, '/api/kernels')).map(kernel => kernel.id);
}

/**
 * One run: open the notebook, its kernel is nbgate's, the cell prints 42; then its kernel is shut down.
 * Returns what it saw: seconds to the kernel, to the output, to the shutdown, and the page's kernel
 * WebSockets.
 */
async function runOnce(browser, lab, gateway, name, shot, remote) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const sockets = [];
  page.on('websocket', socket => {
    if (/\/api\/kernels\/[^/]+\/channels/.test(socket.url())) {
      sockets.push(socket.url());
    }
  });
  const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const seen = { sockets };
  let mark = Date.now();
  const lap = () => {
    const now = Date.now();
    const seconds = (now - mark) / 1000;
    mark = now;
    return seconds;
  };
  let session;
  try {
    await page.goto(`${lab.url}/lab/tree/${name}?reset&token=${lab.token}`);
    session = await eventually(
      async () =>
        (await labFetch(lab, '/api/sessions')).find(
          s => s.path === name && s.kernel && s.kernel.id
        ),
      60_000,
      `Lab started no kernel for ${name}`
    );
    if (!(await kernelIds(gateway)).includes(session.kernel.id)) {
      throw new Error(`kernel ${session.kernel.id} is not on nbgate`);
    }
    if (remote && !(await kernelIds(remote)).includes(session.kernel.id)) {
      throw new Error(`kernel ${session.kernel.id} is not on the Enterprise Gateway`);
    }
    seen.kernel = lap();
    await panel.locator('.jp-Cell .jp-InputArea-editor').first().click();
    await page.keyboard.press('Shift+Enter');
    const output = panel.locator('.jp-Cell').first().locator('.jp-OutputArea-output');
    try {
      await output.first().waitFor({ timeout: CELL_TIMEOUT });
    } catch {
      const status = await panel
        .locator('.jp-Notebook-ExecutionIndicator')
        .getAttribute('data-status')
        .catch(() => 'unknown');
      throw new Error(
        `no output within ${CELL_TIMEOUT / 1000} s (kernel status in Lab: ${status}, ` +
          `kernel ${session.kernel.id})`
      );
    }
    const text = (await output.innerText()).trim();
    if (text !== '42') {
      throw new Error(`the cell printed ${JSON.stringify(text)}`);
    }
    seen.output = lap();
    await shot(page, `gateway-${path.basename(name, '.ipynb')}`);
  } catch (error) {
    await shot(page, `FAILED-gateway-${path.basename(name, '.ipynb')}`).catch(() => undefined);
    throw error;
  } finally {
    await context.close();
    // Shut the kernel down as Lab's Running panel does: the session goes, and the kernel with it.
    if (session) {
      await labFetch(lab, `/api/sessions/${session.id}`, { method: 'DELETE' });
      await eventually(
        async () => !(await kernelIds(gateway)).includes(session.kernel.id),
        30_000,
        `kernel ${session.kernel.id} still on nbgate 30 s after its session was deleted`
      );
      seen.shutdown = lap();
    }
  }
  return seen;
}

async function labOnNbgateKernels(browser, options) {
  await labOnKernels(browser, options);
}

async function labOnEnterpriseGateway(browser, options) {
  await labOnKernels(browser, { ...options, onEnterpriseGateway: true });
}

async function labOnKernels(browser, { base, shot, onEnterpriseGateway }) {
  const dirs = workDirs(base);
  const names = [];
  for (let run = 1; run <= RUNS; run += 1) {
    const name = `kernel-${String(run).padStart(2, '0')}.ipynb`;
    fs.writeFileSync(path.join(dirs.root, name), JSON.stringify(notebook('print(6 * 7)'), null, 1));
    names.push(name);
  }
  const remote = onEnterpriseGateway ? await startEnterpriseGateway({ base, ...dirs }) : undefined;
  let gateway;
  let lab;
  let stopped;
  try {
    gateway = await startGateway({ base, ...dirs, remote });
    lab = await startLab({ base, ...dirs, gateway });
    const failures = [];
    for (const name of names) {
      try {
        const seen = await runOnce(browser, lab, gateway, name, shot, remote);
        console.log(
          `     ${name}: 42 (kernel ${seen.kernel} s, output ${seen.output} s, ` +
            `shut down ${seen.shutdown} s; ${seen.sockets.length} WebSocket connection(s))`
        );
      } catch (error) {
        failures.push(`${name}: ${error.message.split('\n')[0]}`);
        console.log(`     ${name}: FAILED ${error.message.split('\n')[0]}`);
      }
    }
    if (failures.length > 0) {
      throw new Error(
        `${RUNS - failures.length}/${RUNS} runs printed 42 (logs: ${lab.log}, ${gateway.log}); ` +
          failures.join('; ')
      );
    }
    // Lab first: it shuts down what it started through the gateway.
    await stopLab(lab);
    lab = undefined;
    const left = await kernelIds(gateway);
    if (left.length > 0) {
      throw new Error(`kernels left on nbgate after Lab stopped: ${left.join(', ')}`);
    }
  } finally {
    if (lab) {
      await stopLab(lab);
    }
    if (gateway) {
      stopped = await stopProcess(gateway.process);
    }
    if (remote) {
      const left = await kernelIds(remote).catch(error => [`(unreadable: ${error.message})`]);
      await stopProcess(remote.process);
      if (left.length > 0) {
        throw new Error(`kernels left on the Enterprise Gateway: ${left.join(', ')}`);
      }
    }
  }
  if (stopped !== 0) {
    throw new Error(
      `nbgate serve did not stop cleanly on SIGTERM (${stopped}); see ${gateway.log}`
    );
  }
}

module.exports = { labOnEnterpriseGateway, labOnNbgateKernels, RUNS };

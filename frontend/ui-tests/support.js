/**
 * What the browser tests share: the executor API through Lab's proxy (with Lab's token, as a script
 * would call it), waiting for an execution to end, axe-core's findings, screenshots.
 */
'use strict';

const path = require('path');

const SHOTS = path.join(__dirname, 'screenshots');
const RUN_TIMEOUT = 120_000;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out', 'skipped'];

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** The executor API through Lab's proxy, with Lab's token; a failure carries the server's message. */
async function api(lab, method, route, body) {
  const response = await fetch(`${lab.url}/nbgate/api/${route}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: {
      Authorization: `token ${lab.token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
    }
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} /nbgate/api/${route}: ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/** Polls the API until the execution is over; returns it. */
async function finished(lab, id) {
  const deadline = Date.now() + RUN_TIMEOUT;
  for (;;) {
    const execution = await api(lab, 'GET', `executions/${id}`);
    if (TERMINAL.includes(execution.status)) {
      return execution;
    }
    if (Date.now() > deadline) {
      throw new Error(`execution ${execution.name} still ${execution.status}`);
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

/** axe-core's serious and critical violations in `selector`; throws when it checked nothing. */
async function seriousViolations(page, selector) {
  if (!(await page.evaluate(() => 'axe' in window))) {
    await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  }
  const { checked, violations } = await page.evaluate(async within => {
    const result = await window.axe.run(within);
    return {
      checked: result.passes.reduce((n, rule) => n + rule.nodes.length, 0),
      violations: result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)
    };
  }, selector);
  if (checked === 0) {
    throw new Error(`axe-core checked nothing in ${selector}`);
  }
  return violations;
}

/** Opens a notebook in a fresh layout; its toolbar's Execute button. */
async function openNotebook(page, lab, notebook) {
  await page.goto(`${lab.url}/lab/tree/${notebook}?reset&token=${lab.token}`);
  const button = page.locator(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar [data-jp-item-name="nbgate-execute"] button'
  );
  await button.waitFor({ timeout: 60_000 });
  return button;
}

/** Lab in a fresh layout with the nbgate sidebar shown; returns the sidebar. */
async function openSidebar(page, lab) {
  await page.goto(`${lab.url}/lab?reset&token=${lab.token}`);
  const tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nbgate-sidebar"]');
  await tab.waitFor({ timeout: 60_000 });
  if (!(await page.locator('#nbgate-sidebar').isVisible())) {
    await tab.click();
  }
  const sidebar = page.locator('#nbgate-sidebar');
  await sidebar.waitFor();
  return sidebar;
}

module.exports = { api, finished, openNotebook, openSidebar, seriousViolations, shot, TERMINAL };

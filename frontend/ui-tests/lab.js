/**
 * Starts a real JupyterLab for the end-to-end tests, on a temp copy of examples/ (plus a notebook that
 * raises), with this extension managing the real nbgate gateway; stops it by its PID.
 *
 * Environment: PATH with the project venv (jupyter), NBGATE_BINARY (default target/debug/nbgate),
 * E2E_WORK (default ui-tests/.work). Jupyter state stays under the work directory.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');

const REPO = path.resolve(__dirname, '..', '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A notebook without a parameters cell whose third cell raises. */
function raisingNotebook() {
  const code = source => ({
    cell_type: 'code',
    execution_count: null,
    metadata: {},
    outputs: [],
    source
  });
  return {
    cells: [
      { cell_type: 'markdown', metadata: {}, source: '# A notebook that fails' },
      code('import pandas as pd\n\ndf = pd.DataFrame()'),
      code('if df.empty:\n    raise ValueError("the input table is empty")'),
      code('print("never reached")')
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

async function startLab() {
  const base = process.env.E2E_WORK || path.join(__dirname, '.work');
  fs.rmSync(base, { recursive: true, force: true });
  const root = path.join(base, 'root');
  const state = path.join(base, 'jupyter');
  fs.mkdirSync(root, { recursive: true });
  for (const file of fs.readdirSync(path.join(REPO, 'examples'))) {
    if (file.endsWith('.ipynb')) {
      fs.copyFileSync(path.join(REPO, 'examples', file), path.join(root, file));
    }
  }
  fs.writeFileSync(path.join(root, 'raises.ipynb'), JSON.stringify(raisingNotebook(), null, 1));
  const settings = path.join(state, 'lab-settings', '@jupyterlab', 'apputils-extension');
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(
    path.join(settings, 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false })
  );
  for (const dir of ['config', 'data', 'runtime', 'ipython', 'cache', 'tmp', 'workspaces']) {
    fs.mkdirSync(path.join(state, dir), { recursive: true });
  }

  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const binary = process.env.NBGATE_BINARY || path.join(REPO, 'target', 'debug', 'nbgate');
  if (!process.env.E2E_GATEWAY_URL && !fs.existsSync(binary)) {
    throw new Error(`${binary} is missing: build nbgate first (make build)`);
  }
  const log = path.join(base, 'lab.log');
  const out = fs.openSync(log, 'w');
  const env = {
    ...process.env,
    JUPYTER_CONFIG_DIR: path.join(state, 'config'),
    JUPYTER_DATA_DIR: path.join(state, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(state, 'runtime'),
    JUPYTERLAB_SETTINGS_DIR: path.join(state, 'lab-settings'),
    JUPYTERLAB_WORKSPACES_DIR: path.join(state, 'workspaces'),
    IPYTHONDIR: path.join(state, 'ipython'),
    XDG_CACHE_HOME: path.join(state, 'cache'),
    TMPDIR: path.join(state, 'tmp'),
    MPLBACKEND: 'module://matplotlib_inline.backend_inline',
    JUPYTER_PLATFORM_DIRS: '1'
  };
  const args = [
    'lab',
    '--allow-root',
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${port}`,
    `--IdentityProvider.token=${token}`,
    `--ServerApp.root_dir=${root}`,
    '--LabApp.news_url=None',
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
    '--LabApp.extension_manager=readonly',
    '--FileContentsManager.delete_to_trash=False',
    // A gateway someone else runs (E2E_GATEWAY_URL), or the real binary started by the extension.
    ...(process.env.E2E_GATEWAY_URL
      ? [`--NbgateApp.url=${process.env.E2E_GATEWAY_URL}`, '--NbgateApp.token=e2e']
      : [`--NbgateApp.binary=${binary}`])
  ];
  const lab = spawn('jupyter', args, { cwd: root, env, stdio: ['ignore', out, out] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (lab.exitCode !== null) {
      throw new Error(`jupyter lab exited with ${lab.exitCode}; see ${log}`);
    }
    try {
      const response = await fetch(`${url}/api/status`, {
        headers: { Authorization: `token ${token}` }
      });
      if (response.ok) {
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      lab.kill('SIGKILL');
      throw new Error(`jupyter lab did not answer within 60 s; see ${log}`);
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  return { url, token, log, process: lab, root };
}

async function stopLab(lab) {
  if (lab.process.exitCode !== null) {
    return;
  }
  const exited = new Promise(resolve => lab.process.once('exit', resolve));
  lab.process.kill('SIGTERM');
  const timer = setTimeout(() => lab.process.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

module.exports = { startLab, stopLab };

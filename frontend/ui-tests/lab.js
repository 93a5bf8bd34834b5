/**
 * The processes of the end-to-end tests: a real JupyterLab on a temp copy of examples/ (plus a notebook
 * that raises), either with this extension managing the real nbgate gateway, or with Lab's own kernels
 * on an `nbgate serve` started here (`--gateway-url`). Each is stopped by its PID; `stopAll` stops
 * whatever is still running (the runner calls it on a signal or at its deadline).
 *
 * Environment: PATH with the project venv (jupyter), NBGATE_BINARY (default target/debug/nbgate).
 * Jupyter state stays under each work directory.
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');

const REPO = path.resolve(__dirname, '..', '..');
const BINARY = process.env.NBGATE_BINARY || path.join(REPO, 'target', 'debug', 'nbgate');

/** Children still running, stopped by `stopAll` if the runner has to give up. */
const running = new Set();

function spawnTracked(command, args, options) {
  const child = spawn(command, args, options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', error => {
    child.spawnError = error;
    running.delete(child);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `grace` ms; resolves with the exit code (or signal name). */
async function stopProcess(child, grace = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return child.exitCode ?? child.signalCode;
  }
  const exited = new Promise(resolve =>
    child.once('exit', (code, signal) => resolve(code ?? signal))
  );
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), grace);
  const status = await exited;
  clearTimeout(timer);
  return status;
}

/** Stops every child still running, Lab before the gateway (Lab shuts its kernels down through it). */
async function stopAll() {
  const children = [...running].reverse();
  for (const child of children) {
    await stopProcess(child, 10_000);
  }
}

function token() {
  return crypto.randomBytes(16).toString('hex');
}

/** A fresh work directory: the notebooks' root and Jupyter's state. */
function workDirs(base) {
  fs.rmSync(base, { recursive: true, force: true });
  const root = path.join(base, 'root');
  const state = path.join(base, 'jupyter');
  for (const dir of ['config', 'data', 'runtime', 'ipython', 'cache', 'tmp', 'workspaces']) {
    fs.mkdirSync(path.join(state, dir), { recursive: true });
  }
  fs.mkdirSync(root, { recursive: true });
  return { root, state };
}

/** The environment of Lab and nbgate: Jupyter's and IPython's state under `state`. */
function stateEnv(state) {
  return {
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
}

function requireBinary() {
  if (!fs.existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: build nbgate first (make build)`);
  }
}

/**
 * Enterprise Gateway's kernel ports, below Linux's ephemeral range (32768 and up): EG picks a kernel's
 * ports by binding and releasing them, and the kernel binds them a second later; in the ephemeral range
 * any outgoing connection can take one meanwhile, and the kernel dies with "Address already in use".
 */
const KERNEL_PORTS = [20000, 21000];

/**
 * A port free a moment ago for a server started here (Lab, EG), also below the ephemeral range and
 * outside KERNEL_PORTS: there only a process naming the port can take it before the server binds it.
 */
async function freePort() {
  const [lower, upper] = [KERNEL_PORTS[1] + 1, 32767];
  for (;;) {
    const port = lower + crypto.randomInt(upper - lower + 1);
    const free = await new Promise(resolve => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      return port;
    }
  }
}

/**
 * A notebook without a parameters cell whose third cell raises. Its metadata is the example's, complete
 * as Lab writes it, so that opening it changes nothing.
 */
function raisingNotebook() {
  const code = (id, source) => ({
    cell_type: 'code',
    execution_count: null,
    id,
    metadata: {},
    outputs: [],
    source
  });
  const example = path.join(REPO, 'examples', 'loyal_customer.ipynb');
  return {
    cells: [
      { cell_type: 'markdown', id: 'title', metadata: {}, source: '# A notebook that fails' },
      code('load', 'import pandas as pd\n\ndf = pd.DataFrame()'),
      code('check', 'if df.empty:\n    raise ValueError("the input table is empty")'),
      code('after', 'print("never reached")')
    ],
    metadata: JSON.parse(fs.readFileSync(example, 'utf8')).metadata,
    nbformat: 4,
    nbformat_minor: 5
  };
}

/**
 * `nbgate serve` on a free port with a fresh token, its notebooks' root `root`. Its kernels get the
 * test's Jupyter and IPython state directories, never the user's.
 */
async function startGateway({ base, root, state, remote }) {
  requireBinary();
  const secret = token();
  const log = path.join(base, 'nbgate.log');
  // Append mode: stdout is copied in by this process, stderr written by the child, both at the end.
  const out = fs.openSync(log, 'a');
  // Secrets go by environment, never on a command line (readable by every local process); every other
  // value as one `--name=value` word, so that none can be read as an option.
  const args = [
    'serve',
    '--port=0',
    `--root-dir=${root}`,
    `--data-dir=${path.join(base, 'nbgate-data')}`,
    '--env-process-whitelist=JUPYTER_RUNTIME_DIR,IPYTHONDIR,MPLCONFIGDIR,TMPDIR,JUPYTER_PLATFORM_DIRS'
  ];
  // With `remote` (an Enterprise Gateway), every kernel nbgate starts is started there.
  const remoteEnv = remote ? { NBGATE_GATEWAY_TOKEN: remote.token } : {};
  if (remote) {
    args.push(`--gateway-url=${remote.url}`, '--gateway-kernel-username=nbgate-test');
  }
  const child = spawnTracked(BINARY, args, {
    cwd: root,
    env: { ...stateEnv(state), NBGATE_TOKEN: secret, ...remoteEnv },
    stdio: ['ignore', 'pipe', out]
  });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nbgate serve did not listen within 30 s; see ${log}`));
    }, 30_000);
    child.stdout.on('data', chunk => {
      fs.appendFileSync(log, chunk);
      seen += chunk;
      const match = /listening on (http:\/\/[^/?\s]+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`nbgate serve exited with ${code} at start-up; see ${log}`));
    });
    child.once('error', error => {
      clearTimeout(timer);
      reject(new Error(`nbgate serve could not be started: ${error.message}`));
    });
  });
  return { url, token: secret, log, process: child };
}

/**
 * A Jupyter Enterprise Gateway (the `.venv-eg` venv, made by `make venv-eg`) on a free port with a fresh
 * token, its stock python3 kernelspec (kernels are its children), its log in `base`.
 */
async function startEnterpriseGateway({ base, state }) {
  const venv = path.join(REPO, '.venv-eg');
  const program = path.join(venv, 'bin', 'jupyter-enterprisegateway');
  if (!fs.existsSync(program)) {
    throw new Error(`${program} is missing: make venv-eg first`);
  }
  const secret = token();
  const port = await freePort();
  const log = path.join(base, 'eg.log');
  const child = spawnTracked(program, [], {
    cwd: base,
    env: {
      ...stateEnv(state),
      JUPYTER_PATH: path.join(venv, 'share', 'jupyter'),
      PATH: `${path.join(venv, 'bin')}:${process.env.PATH}`,
      EG_IP: '127.0.0.1',
      EG_PORT: String(port),
      EG_AUTH_TOKEN: secret,
      EG_LIST_KERNELS: 'True',
      EG_PORT_RANGE: KERNEL_PORTS.join('..')
    },
    stdio: ['ignore', 'ignore', fs.openSync(log, 'a')]
  });
  const eg = { url: `http://127.0.0.1:${port}`, token: secret, log, process: child };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.spawnError) {
      throw new Error(`Enterprise Gateway exited at start-up; see ${log}`);
    }
    try {
      await gatewayGet(eg, '/api/kernelspecs');
      return eg;
    } catch {
      // Not listening yet: polling its port is the only way to see it start.
    }
    if (Date.now() > deadline) {
      throw new Error(`Enterprise Gateway did not answer within 60 s; see ${log}`);
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

/** GET on the gateway's own API (not through Lab). */
async function gatewayGet(gateway, route) {
  const response = await fetch(`${gateway.url}${route}`, {
    headers: { Authorization: `token ${gateway.token}` }
  });
  if (!response.ok) {
    throw new Error(`GET ${route} on nbgate: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

/**
 * JupyterLab in `base` with this extension. Without `gateway` the extension starts the real binary
 * itself; with it, both Lab's kernels (`--gateway-url`) and the extension use that running gateway.
 */
async function startLab({ base, root, state, gateway }) {
  const settings = path.join(state, 'lab-settings', '@jupyterlab', 'apputils-extension');
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(
    path.join(settings, 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false })
  );
  if (!gateway) {
    requireBinary();
  }
  const port = await freePort();
  const secret = token();
  const log = path.join(base, 'lab.log');
  const out = fs.openSync(log, 'w');
  const args = [
    'lab',
    '--allow-root',
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${port}`,
    // That port or none: the test talks to it.
    '--ServerApp.port_retries=0',
    `--ServerApp.root_dir=${root}`,
    '--LabApp.news_url=None',
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
    '--LabApp.extension_manager=readonly',
    '--FileContentsManager.delete_to_trash=False',
    ...(gateway
      ? [`--gateway-url=${gateway.url}`, `--NbgateApp.url=${gateway.url}`]
      : [`--NbgateApp.binary=${BINARY}`])
  ];
  // Lab's token, and the gateway's for Lab and for the extension, by environment (see startGateway).
  const secrets = { JUPYTER_TOKEN: secret };
  if (gateway) {
    Object.assign(secrets, {
      JUPYTER_GATEWAY_AUTH_TOKEN: gateway.token,
      NBGATE_TOKEN: gateway.token
    });
  }
  const lab = spawnTracked('jupyter', args, {
    cwd: root,
    env: { ...stateEnv(state), ...secrets },
    stdio: ['ignore', out, out]
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (lab.spawnError) {
      throw new Error(
        `jupyter could not be started (${lab.spawnError.message}): is the venv on PATH?`
      );
    }
    if (lab.exitCode !== null) {
      throw new Error(`jupyter lab exited with ${lab.exitCode}; see ${log}`);
    }
    try {
      const response = await fetch(`${url}/api/status`, {
        headers: { Authorization: `token ${secret}` }
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
  return { url, token: secret, log, process: lab, root };
}

/** Lab's REST API with its token. */
async function labFetch(lab, route, init = {}) {
  const response = await fetch(`${lab.url}${route}`, {
    ...init,
    headers: { Authorization: `token ${lab.token}`, ...(init.headers || {}) }
  });
  if (!response.ok) {
    throw new Error(`${init.method || 'GET'} ${route} on Lab: ${response.status}`);
  }
  return response.status === 204 ? null : response.json();
}

/** The extension's Lab: examples/ and a raising notebook, the gateway managed by the extension. */
async function startExtensionLab(base) {
  const dirs = workDirs(base);
  for (const file of fs.readdirSync(path.join(REPO, 'examples'))) {
    if (file.endsWith('.ipynb')) {
      fs.copyFileSync(path.join(REPO, 'examples', file), path.join(dirs.root, file));
    }
  }
  fs.writeFileSync(
    path.join(dirs.root, 'raises.ipynb'),
    JSON.stringify(raisingNotebook(), null, 1)
  );
  return startLab({ base, ...dirs });
}

async function stopLab(lab) {
  return stopProcess(lab.process);
}

module.exports = {
  gatewayGet,
  labFetch,
  startExtensionLab,
  startEnterpriseGateway,
  startGateway,
  startLab,
  stopAll,
  stopLab,
  stopProcess,
  workDirs
};

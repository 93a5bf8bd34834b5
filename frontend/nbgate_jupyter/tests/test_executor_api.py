"""The executor API through the proxy, on the real gateway and a real kernel: an execution is created,
its events stream arrives as it happens (progress, then the terminal status), its output notebook is
where JupyterLab's file browser sees it."""

import json
import os

import nbformat
import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .conftest import gateway_of

# Before pytest-jupyter's fixtures point Jupyter's paths at temp dirs: the gateway needs the project's
# kernelspecs (python3 from the venv).
KERNEL_PATHS = os.environ.get("JUPYTER_PATH", "")
# Copied at each use: jp_fetch adds its auth header to the dict it is given.
# Copied at each use: jp_fetch adds its auth header to the dict it is given.
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def nbgate_config(nbgate_binary, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(p for p in [KERNEL_PATHS, os.environ.get("JUPYTER_PATH", "")] if p))
    return {"binary": nbgate_binary, "data_dir": str(tmp_path / "nbgate-data")}


def write_notebook(path, cells, parameters=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    nbformat.write(nb, path)


async def test_run_once_with_its_events_streamed_through_the_proxy(
    jp_fetch, jp_serverapp, jp_root_dir, jp_http_port, jp_base_url, jp_auth_header
):
    # Given
    write_notebook(jp_root_dir / "square.ipynb", ["import time; time.sleep(0.3)", "print(N * N)"], "N = 2  # the side")
    form = json.loads((await jp_fetch("nbgate", "api", "notebooks", "parameters", method="POST",
                                      body=json.dumps({"path": "square.ipynb"}), headers=dict(JSON))).body)
    assert form["parameters"] == [
        {"name": "N", "type": "int", "default": "2", "default_value": 2, "help": "the side"}
    ]
    # When
    created = json.loads((await jp_fetch("nbgate", "api", "executions", method="POST",
                                         body=json.dumps({"notebook": "square.ipynb", "parameters": {"N": 7}}), headers=dict(JSON))).body)
    events = []
    request = HTTPRequest(
        f"http://127.0.0.1:{jp_http_port}{jp_base_url}nbgate/api/executions/{created['id']}/events",
        headers=jp_auth_header,
        streaming_callback=lambda chunk: events.append(chunk.decode()),
        request_timeout=120,
    )
    client = AsyncHTTPClient(force_instance=True)
    try:
        await client.fetch(request)  # the stream ends after the terminal status
    finally:
        client.close()
    # Then
    text = "".join(events)
    assert "event: progress" in text
    assert text.rstrip().splitlines()[-1].startswith("data:")
    final = json.loads((await jp_fetch("nbgate", "api", "executions", created["id"])).body)
    assert final["status"] == "succeeded", final
    output = nbformat.read(jp_root_dir / final["output_path"], 4)
    assert any("49" in "".join(o.get("text", "")) for c in output.cells for o in c.get("outputs", []))
    assert gateway_of(jp_serverapp).managed_process.returncode is None


async def test_a_user_mistake_comes_back_in_the_servers_words(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "a.ipynb", ["1"], "N = 2")
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("nbgate", "api", "schedules", method="POST", body=json.dumps(
            {"name": "Bad Name", "notebook": "a.ipynb", "cron": "0 9 * * *", "timezone": "UTC"}), headers=dict(JSON))
    assert 400 <= caught.value.code < 500
    assert json.loads(caught.value.response.body)["message"] == (
        'invalid name "Bad Name": use 1 to 128 characters among a-z, 0-9 and _'
    )

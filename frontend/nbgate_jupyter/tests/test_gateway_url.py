"""The documented option: JupyterLab's own kernels on nbgate too. The user runs `nbgate serve` and points
both Jupyter (`--gateway-url`) and the extension (`NbgateApp.url`) at it."""

import json
import os
import re
import subprocess

import pytest
from tornado.httpclient import AsyncHTTPClient

# The environment before pytest-jupyter's fixtures point Jupyter's paths at temp dirs: nbgate finds the
# project's kernelspecs with it.
ENVIRONMENT = dict(os.environ)
TOKEN = "gateway-url-token"


@pytest.fixture
def running_nbgate(nbgate_binary, tmp_path):
    process = subprocess.Popen(
        [nbgate_binary, "serve", "--port=0", f"--root-dir={tmp_path}", f"--data-dir={tmp_path / 'data'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**ENVIRONMENT, "NBGATE_TOKEN": TOKEN},
        text=True,
    )
    url = None
    for line in process.stdout:
        match = re.search(r"listening on (http://[^/?\s]+)", line)
        if match:
            url = match.group(1)
            break
    assert url, "nbgate serve did not start"
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def nbgate_config(running_nbgate):
    return {"url": running_nbgate, "token": TOKEN}


@pytest.fixture
def jp_server_config(nbgate_config, running_nbgate):
    return {
        "ServerApp": {"jpserver_extensions": {"nbgate_jupyter": True}},
        "GatewayClient": {"url": running_nbgate, "auth_token": TOKEN},
        "NbgateApp": nbgate_config,
    }


async def test_lab_kernels_run_on_nbgate_and_the_api_is_proxied(jp_fetch, running_nbgate):
    # When: Jupyter starts a kernel
    response = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel = json.loads(response.body)
    try:
        # Then: it is nbgate's
        client = AsyncHTTPClient(force_instance=True)
        try:
            listed = await client.fetch(
                f"{running_nbgate}/api/kernels", headers={"Authorization": f"token {TOKEN}"}
            )
        finally:
            client.close()
        assert kernel["id"] in [k["id"] for k in json.loads(listed.body)]
        # and the extension's proxy reaches the same gateway
        specs = await jp_fetch("nbgate", "api", "kernelspecs")
        assert "python3" in json.loads(specs.body)["kernelspecs"]
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")

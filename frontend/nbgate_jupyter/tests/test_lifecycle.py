"""The gateway's life, with the real nbgate binary: started with the server on a loopback port with a
fresh token and the server's root directory, reached through the proxy, stopped with the server; and one
clear 503 when it cannot start."""

import json
import os
import stat

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .conftest import gateway_of


def command_line(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().decode("utf-8", "replace").split("\0")


@pytest.fixture
def nbgate_config(nbgate_binary, tmp_path):
    return {"binary": nbgate_binary, "data_dir": str(tmp_path / "nbgate-data")}


async def test_the_gateway_starts_with_the_server_and_is_reached_through_the_proxy(
    jp_fetch, jp_serverapp, jp_root_dir
):
    # When: a request goes through the proxy (the Kernel Gateway API of the real binary).
    response = await jp_fetch("nbgate", "api", "kernelspecs")
    # Then
    assert response.code == 200
    assert "kernelspecs" in json.loads(response.body)
    gateway = gateway_of(jp_serverapp)
    process = gateway.managed_process
    assert process is not None and process.returncode is None
    assert gateway.url.startswith("http://127.0.0.1:")
    # It was started on the server's root directory with its own token, which is not on its command line…
    args = command_line(process.pid)
    assert f"--root-dir={jp_root_dir}" in args
    assert len(gateway.token) >= 24
    assert not any(gateway.token in arg for arg in args)
    # …which it demands: the gateway itself refuses a request without it.
    client = AsyncHTTPClient(force_instance=True)
    try:
        with pytest.raises(HTTPClientError) as caught:
            await client.fetch(f"{gateway.url}/api/kernelspecs")
        assert caught.value.code in (401, 403)
    finally:
        client.close()


async def test_the_gateway_stops_with_the_server(jp_fetch, jp_serverapp):
    await jp_fetch("nbgate", "api", "kernelspecs")
    process = gateway_of(jp_serverapp).managed_process
    # When: the server shuts its extensions down.
    await jp_serverapp.cleanup_extensions()
    # Then
    assert process.returncode is not None


class TestMissingBinary:
    @pytest.fixture
    def nbgate_config(self, tmp_path):
        return {"binary": str(tmp_path / "no" / "nbgate")}

    async def test_the_api_answers_503_saying_what_to_do(self, jp_fetch):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("nbgate", "api", "executions")
        assert caught.value.code == 503
        message = json.loads(caught.value.response.body)["message"]
        assert "nbgate is not installed" in message
        assert "NBGATE_BINARY" in message


class TestGatewayThatCannotStart:
    @pytest.fixture
    def nbgate_config(self, nbgate_binary, tmp_path):
        # The real binary, with a data directory it cannot create (a file is in the way).
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        return {"binary": nbgate_binary, "data_dir": str(blocker / "data")}

    async def test_the_api_answers_503_with_the_gateways_own_words(self, jp_fetch):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("nbgate", "api", "executions")
        assert caught.value.code == 503
        message = json.loads(caught.value.response.body)["message"]
        assert "nbgate" in message and ("exited" in message or "could not" in message)

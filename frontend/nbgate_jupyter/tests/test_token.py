"""The managed gateway's token: any value `secrets.token_urlsafe` can draw starts the gateway (a token that
begins with "-" once was read as an option: one start in 64 failed), and no secret is on any process's
command line, where every local user and kernel can read it."""

import json
import os

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .conftest import gateway_of

# Tokens that look like options, chosen rather than drawn: "-x…" a short option, "--x…" a long one.
OPTION_LIKE_TOKENS = ["-Lq3vN0c8aZ2bT7yR5wK1mE9uH4s", "--token-Lq3vN0c8aZ2bT7yR5wK1m"]


@pytest.fixture
def nbgate_config(nbgate_binary, tmp_path):
    return {"binary": nbgate_binary, "data_dir": str(tmp_path / "nbgate-data")}


@pytest.fixture(params=OPTION_LIKE_TOKENS)
def drawn_token(request, monkeypatch):
    """The token the extension draws for its gateway, fixed to an option-like value."""
    from nbgate_jupyter import app

    monkeypatch.setattr(app.secrets, "token_urlsafe", lambda _bytes: request.param)
    return request.param


async def fetch_with_token(url, token):
    client = AsyncHTTPClient(force_instance=True)
    try:
        return await client.fetch(url, headers={"Authorization": f"token {token}"})
    finally:
        client.close()


async def test_a_token_that_looks_like_an_option_starts_the_gateway(drawn_token, jp_fetch, jp_serverapp):
    # When: the extension starts its gateway with that token and a request goes through the proxy
    response = await jp_fetch("nbgate", "api", "kernelspecs")
    # Then: the gateway runs and demands exactly that token
    assert response.code == 200
    gateway = gateway_of(jp_serverapp)
    assert gateway.token == drawn_token
    direct = await fetch_with_token(f"{gateway.url}/api/kernelspecs", drawn_token)
    assert "kernelspecs" in json.loads(direct.body)
    with pytest.raises(HTTPClientError) as caught:
        await fetch_with_token(f"{gateway.url}/api/kernelspecs", drawn_token.lstrip("-"))
    assert caught.value.code in (401, 403)


def command_lines():
    """Every process's command line that can be read, by pid."""
    lines = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                lines[int(entry)] = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # the process ended meanwhile
    return lines


async def test_no_secret_is_on_any_command_line(jp_fetch, jp_serverapp):
    # Given: the gateway and a kernel it runs, both alive
    await jp_fetch("nbgate", "api", "kernelspecs")
    gateway = gateway_of(jp_serverapp)
    created = await jp_fetch(
        "nbgate", "api", "kernels", method="POST", body=json.dumps({"name": "python3"})
    )
    kernel = json.loads(created.body)["id"]
    try:
        kernels = await fetch_with_token(f"{gateway.url}/api/kernels", gateway.token)
        assert kernel in [k["id"] for k in json.loads(kernels.body)]
        secrets = {
            "the gateway's token": gateway.token,
            "the Jupyter server's token": jp_serverapp.identity_provider.token,
        }
        # When: every process's command line is read
        lines = command_lines()
        # Then: the gateway is among them, and no secret is in any of them
        assert gateway.managed_process.pid in lines
        for what, secret in secrets.items():
            assert secret, f"{what} is empty"
            leaks = [f"{pid}: {line[:120]}" for pid, line in lines.items() if secret in line]
            assert leaks == [], f"{what} is on a command line: {leaks}"
    finally:
        await jp_fetch("nbgate", "api", "kernels", kernel, method="DELETE")

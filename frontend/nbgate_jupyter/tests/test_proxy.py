"""The proxy's mechanics, against a tiny fake gateway: what is forwarded, what comes back, streaming,
errors."""

import asyncio
import gc
import json
import logging

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .conftest import FAKE_TOKEN


async def test_a_request_reaches_the_gateway_with_its_token_and_comes_back(
    jp_fetch, jp_base_url, fake_gateway
):
    # When
    response = await jp_fetch(
        "nbgate", "api", "echo", "executions",
        method="POST",
        params={"status": "failed", "limit": "5"},
        body=json.dumps({"notebook": "a.ipynb"}),
        headers={"Content-Type": "application/json"},
    )
    # Then
    assert response.code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert "X-Internal" not in response.headers
    assert response.headers["Location"] == f"{jp_base_url}nbgate/api/echo/new-id"
    seen = json.loads(response.body)
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/echo/executions"
    assert sorted(seen["query"].split("&")) == ["limit=5", "status=failed"]
    assert json.loads(seen["body"]) == {"notebook": "a.ipynb"}
    assert seen["authorization"] == f"token {FAKE_TOKEN}"
    assert seen["content_type"] == "application/json"
    # The browser's cookies (Jupyter's login) stay with Jupyter.
    assert seen["cookie"] is None


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_every_verb_is_forwarded(jp_fetch, fake_gateway, method):
    body = "{}" if method == "PATCH" else None
    response = await jp_fetch("nbgate", "api", "echo", "schedules", "s1", method=method, body=body)
    assert response.code == (204 if method == "DELETE" else 200)
    assert fake_gateway.requests[-1].method == method
    assert fake_gateway.requests[-1].path == "/api/echo/schedules/s1"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_errors_keep_their_status_and_the_servers_words(jp_fetch, status):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("nbgate", "api", "error", str(status), method="POST", body="{}")
    assert caught.value.code == status
    body = json.loads(caught.value.response.body)
    assert body == {"message": f'invalid name "Bad Name": use 1 to 128 characters ({status})'}


async def test_the_proxy_needs_jupyters_auth(http_server_client, jp_base_url, fake_gateway):
    with pytest.raises(HTTPClientError) as caught:
        await http_server_client.fetch(f"{jp_base_url}nbgate/api/echo/x")
    assert caught.value.code == 403
    assert fake_gateway.requests == []


async def test_events_are_streamed_not_buffered(
    http_server_client, jp_http_port, jp_base_url, jp_auth_header, fake_gateway
):
    """The first event reaches the browser while the gateway still holds the stream open."""
    chunks = []

    def on_chunk(chunk):
        chunks.append(chunk.decode())
        if len(chunks) == 1:
            # Only now may the gateway finish: a buffering proxy would never get here.
            fake_gateway.release_event.set()

    request = HTTPRequest(
        f"http://127.0.0.1:{jp_http_port}{jp_base_url}nbgate/api/executions/x/events",
        headers=jp_auth_header,
        streaming_callback=on_chunk,
        request_timeout=10,
    )
    client = AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(request)
    finally:
        client.close()
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    text = "".join(chunks)
    assert '"event": "progress"' in chunks[0]
    assert '"status": "succeeded"' in text


class TestUnreachableGateway:
    @pytest.fixture
    def nbgate_config(self):
        """A gateway URL nothing listens on: its port stays bound, never listening, for the test (a
        port released at once is free in Linux's ephemeral range, for any server to take)."""
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            yield {"url": f"http://127.0.0.1:{port}", "token": "t"}


    async def test_an_unreachable_gateway_is_503_with_what_to_do(self, jp_fetch):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("nbgate", "api", "executions")
        assert caught.value.code == 503
        message = json.loads(caught.value.response.body)["message"]
        assert "not reachable" in message and "restart JupyterLab" in message


async def test_jupyters_own_credentials_are_not_forwarded(jp_fetch, fake_gateway, jp_serverapp):
    """A script authenticating to Jupyter with `?token=` (as Jupyter's docs show) reaches the gateway
    without it; the gateway's own token travels in the Authorization header the proxy sets."""
    jupyter_token = jp_serverapp.identity_provider.token
    response = await jp_fetch(
        "nbgate", "api", "echo", "executions",
        params={"token": jupyter_token, "status": "failed", "_xsrf": "x", "q": "a b&c"},
        headers={"Authorization": "", "Cookie": "_xsrf=x; username-127-0-0-1=secret"},
    )
    assert response.code == 200
    seen = json.loads(response.body)
    assert sorted(seen["query"].split("&")) == ["q=a+b%26c", "status=failed"]
    assert seen["authorization"] == f"token {FAKE_TOKEN}"
    assert seen["cookie"] is None
    assert jupyter_token not in json.dumps(seen)


async def test_a_client_that_leaves_mid_stream_is_not_an_error(
    http_server_client, jp_http_port, jp_base_url, jp_auth_header, fake_gateway, monkeypatch, caplog
):
    """Reloading the page closes the browser's events stream while the run goes on: the proxy stops
    quietly, with no error and no traceback in Jupyter's log."""
    from nbgate_jupyter.handlers import ProxyHandler

    proxied = asyncio.Event()
    original = ProxyHandler._proxy

    async def proxy_and_tell(self, path):
        try:
            await original(self, path)
        finally:
            proxied.set()

    monkeypatch.setattr(ProxyHandler, "_proxy", proxy_and_tell)
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        (
            f"GET {jp_base_url}nbgate/api/executions/x/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{jp_http_port}\r\n"
            f"Authorization: {jp_auth_header['Authorization']}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    received = b""
    while b'"event": "progress"' not in received:
        chunk = await asyncio.wait_for(reader.read(4096), 10)
        assert chunk, received
        received += chunk
    # The browser goes away; then the gateway sends the next event.
    writer.close()
    await writer.wait_closed()
    fake_gateway.release_event.set()
    await asyncio.wait_for(proxied.wait(), 10)
    gc.collect()
    problems = [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING or record.exc_info or "Traceback" in record.getMessage()
    ]
    assert problems == [], [record.getMessage() for record in problems]
    messages = [record.getMessage() for record in caplog.records]
    assert not any(" 502 " in m or "Malformed" in m or "_ClientGone" in m for m in messages), messages

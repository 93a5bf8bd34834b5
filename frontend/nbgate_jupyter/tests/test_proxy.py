"""The proxy's mechanics, against a tiny fake gateway: what is forwarded, what comes back, streaming,
errors."""

import json

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
        """A gateway URL nothing listens on."""
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return {"url": f"http://127.0.0.1:{port}", "token": "t"}


    async def test_an_unreachable_gateway_is_503_with_what_to_do(self, jp_fetch):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("nbgate", "api", "executions")
        assert caught.value.code == 503
        message = json.loads(caught.value.response.body)["message"]
        assert "not reachable" in message and "restart JupyterLab" in message

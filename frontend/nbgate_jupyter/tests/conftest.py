"""Fixtures: jupyter_server's (pytest-jupyter), a tiny fake gateway for the proxy's mechanics, and the
real nbgate binary for the lifecycle."""

import asyncio
import json
import os
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parents[3]
FAKE_TOKEN = "fake-gateway-token"


@pytest.fixture(autouse=True)
def fresh_singletons():
    """Each test's server gets its own extension app and gateway client: both are process-wide singletons
    that would otherwise carry the previous server's settings (its token among them)."""
    from jupyter_server.gateway.gateway_client import GatewayClient

    from nbgate_jupyter.app import NbgateApp

    NbgateApp.clear_instance()
    GatewayClient.clear_instance()
    yield
    NbgateApp.clear_instance()
    GatewayClient.clear_instance()


@pytest.fixture
def nbgate_binary():
    """The real binary (built by `cargo build --workspace --bins`)."""
    path = Path(os.environ.get("NBGATE_TEST_BINARY", REPO / "target" / "debug" / "nbgate"))
    assert path.is_file(), f"{path} is missing: run `cargo build --workspace --bins` first"
    return str(path)


class FakeGateway:
    """Records what reached it; its handlers answer as the executor API would."""

    def __init__(self):
        self.requests = []
        self.release_event = asyncio.Event()


class EchoHandler(tornado.web.RequestHandler):
    def initialize(self, fake):
        self.fake = fake

    def _echo(self, status=200):
        self.fake.requests.append(self.request)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Internal", "not forwarded")
        self.finish(
            json.dumps(
                {
                    "method": self.request.method,
                    "path": self.request.path,
                    "query": self.request.query,
                    "body": self.request.body.decode(),
                    "authorization": self.request.headers.get("Authorization"),
                    "content_type": self.request.headers.get("Content-Type"),
                    "cookie": self.request.headers.get("Cookie"),
                }
            )
        )

    def get(self, _):
        self._echo()

    def post(self, _):
        self.set_header("Location", "/api/echo/new-id")
        self._echo(201)

    def patch(self, _):
        self._echo()

    def delete(self, _):
        self.fake.requests.append(self.request)
        self.set_status(204)
        self.finish()


class ErrorHandler(tornado.web.RequestHandler):
    def post(self, status):
        self.set_status(int(status))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": f"invalid name \"Bad Name\": use 1 to 128 characters ({status})"}))


class EventsHandler(tornado.web.RequestHandler):
    """Sends one event, waits until the test releases it, sends the last one."""

    def initialize(self, fake):
        self.fake = fake

    async def get(self):
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.write('event: progress\ndata: {"event": "progress", "cell": 0, "total": 3}\n\n')
        await self.flush()
        await self.fake.release_event.wait()
        self.write('event: status\ndata: {"event": "status", "status": "succeeded"}\n\n')
        self.finish()


@pytest.fixture
def fake_gateway(jp_asyncio_loop):
    fake = FakeGateway()
    app = tornado.web.Application(
        [
            (r"/api/echo(/.*)?", EchoHandler, {"fake": fake}),
            (r"/api/error/(\d+)", ErrorHandler),
            (r"/api/executions/x/events", EventsHandler, {"fake": fake}),
        ]
    )
    sock, port = tornado.testing.bind_unused_port()

    async def start():
        server = tornado.httpserver.HTTPServer(app)
        server.add_socket(sock)
        return server

    server = jp_asyncio_loop.run_until_complete(start())
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    server.stop()


@pytest.fixture
def jp_server_config(request):
    """Loads the extension; tests add their NbgateApp settings with the `nbgate_config` fixture."""
    nbgate = request.getfixturevalue("nbgate_config")
    return {"ServerApp": {"jpserver_extensions": {"nbgate_jupyter": True}}, "NbgateApp": nbgate}


@pytest.fixture
def nbgate_config(fake_gateway):
    """Default: proxy to the fake gateway."""
    return {"url": fake_gateway.url, "token": FAKE_TOKEN}


def gateway_of(jp_serverapp):
    return jp_serverapp.web_app.settings["nbgate_gateway"]

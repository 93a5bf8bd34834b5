"""``/nbgate/api/<path>`` → the gateway's ``/api/<path>``, under the Jupyter server's auth.

Bodies are streamed both ways as they come (the events stream is server-sent events), statuses and
``{"message": …}`` error bodies pass through unchanged, and when the gateway cannot be reached the answer is
503 with one sentence saying what to do.
"""

import json
import logging
from urllib.parse import unquote_plus

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPInputError
from tornado.iostream import StreamClosedError

from .gateway import GatewayUnavailable

# Headers passed from the browser to the gateway, and back. Jupyter's credentials (its Authorization
# header, cookies, X-XSRFToken) are not among them: the proxy sets the gateway's own Authorization.
REQUEST_HEADERS = ("Content-Type", "Accept", "Last-Event-ID", "Cache-Control")
RESPONSE_HEADERS = ("Content-Type", "Cache-Control", "Location", "Link", "Retry-After")
# Query parameters that are Jupyter's credentials: a `?token=` for Jupyter would be read by the
# gateway as a wrong token of its own (401).
JUPYTER_QUERY_CREDENTIALS = ("token", "_xsrf")


def gateway_query(query):
    """The query string without Jupyter's credentials; every other parameter kept byte for byte."""
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.split("=", 1)[0]) not in JUPYTER_QUERY_CREDENTIALS
    ]
    return "&".join(kept)

_client = None


def http_client():
    """One client for the proxy with room for many open event streams (tornado's default is 10)."""
    global _client
    if _client is None:
        _client = AsyncHTTPClient(force_instance=True, max_clients=256)
    return _client


class _ClientGone(HTTPInputError):
    """The browser went away (a reload, a closed tab): stop reading from the gateway.

    Raised from the streaming callback, the only way to end a tornado fetch early. Tornado logs any
    other exception raised there as an uncaught error with its traceback; an `HTTPInputError` it lets
    through to close the connection, with an info line that `_QuietClientGone` drops."""


class _QuietClientGone(logging.Filter):
    """Drops tornado's "Malformed HTTP message" line for a `_ClientGone`: a browser that leaves is normal."""

    def filter(self, record):
        return not any(isinstance(arg, _ClientGone) for arg in record.args or ())


logging.getLogger("tornado.general").addFilter(_QuietClientGone())


class ProxyHandler(APIHandler):
    @property
    def gateway(self):
        return self.settings["nbgate_gateway"]

    def check_xsrf_cookie(self):
        # GET streams (EventSource) carry no XSRF header; writes are checked as usual.
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        return super().check_xsrf_cookie()

    @tornado.web.authenticated
    async def get(self, path):
        await self._proxy(path)

    post = patch = put = delete = get

    def _fail(self, status, message):
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def on_connection_close(self):
        self._client_gone = True

    _client_gone = False
    # The gateway's status and headers have been relayed: errors can no longer become a 5xx.
    _responding = False

    async def _proxy(self, path):
        try:
            base = await self.gateway.ensure_started()
        except GatewayUnavailable as error:
            self._fail(503, str(error))
            return
        url = f"{base}/api/{path}"
        query = gateway_query(self.request.query)
        if query:
            url += "?" + query
        headers = {name: self.request.headers[name] for name in REQUEST_HEADERS if name in self.request.headers}
        if self.gateway.token:
            headers["Authorization"] = f"token {self.gateway.token}"
        method = self.request.method
        body = self.request.body if method in ("POST", "PATCH", "PUT") else None
        if body and "Content-Type" not in headers:
            # The executor API speaks JSON only; spare curl users the header.
            headers["Content-Type"] = "application/json"
        streaming = {"status": None, "headers": []}

        def on_header(line):
            line = line.rstrip("\r\n")
            if streaming["status"] is None and line.startswith("HTTP/"):
                streaming["status"] = int(line.split(" ", 2)[1])
            elif line and ":" in line:
                name, value = line.split(":", 1)
                streaming["headers"].append((name.strip(), value.strip()))
            elif not line and streaming["status"] is not None and streaming["status"] != 100:
                self._start_response(streaming["status"], streaming["headers"])

        def on_chunk(chunk):
            if self._client_gone:
                raise _ClientGone()
            self.write(chunk)
            self.flush()

        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=10,
            request_timeout=0 if path.endswith("/events") else 300,
            header_callback=on_header,
            streaming_callback=on_chunk,
        )
        try:
            await http_client().fetch(request, raise_error=False)
        except Exception as error:
            if self._client_gone or isinstance(error, (_ClientGone, StreamClosedError)):
                self.log.debug("nbgate proxy: the client of %s went away; stopped relaying", path)
                return
            self._gateway_failed(error, base)
            return
        if self._client_gone:
            return
        if streaming["status"] is None:
            self._fail(502, "the nbgate gateway sent no answer")
            return
        if not self._finished:
            self.finish()

    def _gateway_failed(self, error, base):
        """Answers a fetch that failed while the client is still there (once the gateway's status is
        relayed, the connection just ends)."""
        if self._responding:
            return
        if isinstance(error, HTTPClientError):
            self._fail(502, f"the nbgate gateway failed: {error}")
        elif isinstance(error, OSError):
            self._fail(
                503,
                f"the nbgate gateway at {base} is not reachable ({error.strerror or error}); "
                "restart JupyterLab (see its log for why the gateway stopped).",
            )
        else:  # the gateway dropped the connection mid-way, a timeout…
            self._fail(504 if "Timeout" in type(error).__name__ else 502, f"the nbgate gateway failed: {error}")

    def _start_response(self, status, headers):
        self.clear()
        self.set_status(status)
        for name, value in headers:
            if name.title() in RESPONSE_HEADERS or name in RESPONSE_HEADERS:
                if name.lower() == "location" and value.startswith("/api/"):
                    # The gateway's path, as the browser reaches it through this proxy.
                    value = url_path_join(self.base_url, "nbgate", value)
                self.set_header(name, value)
        if any(name.lower() == "content-type" and "text/event-stream" in value for name, value in headers):
            self.set_header("X-Accel-Buffering", "no")
        self._responding = True

"""The server extension: configuration (``NbgateApp.*``), the gateway's life, the proxy's route."""

import os
import secrets

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode

from . import records
from .gateway import Gateway
from .handlers import ProxyHandler


class NbgateApp(ExtensionApp):
    """Runs ``nbgate serve`` beside the Jupyter server (or uses ``url``) and proxies ``/nbgate/api/*``."""

    name = "nbgate_jupyter"
    load_other_extensions = True

    binary = Unicode(
        "",
        config=True,
        help="The nbgate binary to run. Default: $NBGATE_BINARY, else `nbgate` on PATH.",
    )
    url = Unicode(
        "",
        config=True,
        help="Use this running gateway (e.g. http://127.0.0.1:8888) instead of starting one.",
    )
    token = Unicode(
        "",
        config=True,
        help="The token of the gateway at `url` (default: $NBGATE_TOKEN). A started gateway gets a fresh one.",
    )
    data_dir = Unicode(
        "",
        config=True,
        help="Where a started gateway keeps its store. Default: <Jupyter data dir>/nbgate.",
    )
    start_timeout = Float(
        30.0, config=True, help="Seconds to wait for a started gateway to listen."
    )

    def initialize_settings(self):
        root_dir = os.path.abspath(os.path.expanduser(self.serverapp.root_dir))
        if self.url:
            self.gateway = Gateway.remote(
                self.url, self.token or os.environ.get("NBGATE_TOKEN", ""), log=self.log
            )
        else:
            self.gateway = Gateway.managed(
                binary=self.binary or os.environ.get("NBGATE_BINARY", "") or "nbgate",
                root_dir=root_dir,
                data_dir=self.data_dir or os.path.join(jupyter_data_dir(), "nbgate"),
                token=secrets.token_urlsafe(24),
                start_timeout=self.start_timeout,
                log=self.log,
            )
        self.settings["nbgate_gateway"] = self.gateway
        records.register(self.serverapp.contents_manager, self.log)

    def initialize_handlers(self):
        self.handlers.append((r"/nbgate/api/(.*)", ProxyHandler))

    async def _start_jupyter_server_extension(self, serverapp):
        # Start with the server rather than on the first request, so a missing binary is logged at once.
        await self.gateway.ensure_started()

    async def stop_extension(self):
        await self.gateway.stop()

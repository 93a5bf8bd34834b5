"""nbgate in JupyterLab: the prebuilt labextension, and a jupyter_server extension that runs the nbgate
gateway beside the Jupyter server and proxies its executor API under the server's own auth.

Map:
- ``app.NbgateApp``: the server extension (configuration, start and stop).
- ``gateway.Gateway``: the ``nbgate serve`` child process, or a configured URL.
- ``handlers.ProxyHandler``: ``/nbgate/api/*`` → the gateway's ``/api/*`` (REST, and server-sent events
  streamed as they come).
"""

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "nbgate-jupyter"}]


def _jupyter_server_extension_points():
    from .app import NbgateApp

    return [{"module": "nbgate_jupyter", "app": NbgateApp}]

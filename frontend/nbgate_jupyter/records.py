"""Recorded outputs stay as they were recorded: a save guard on Jupyter's contents manager.

Every execution's output notebook carries ``metadata.nbgate.execution_id`` (written by nbgate's
scheduler). Through Jupyter, nothing is saved over a file that carries it: a save, an upload or a "File
Changed → Overwrite" onto a recorded output is refused with 409 and a message naming the execution. A
notebook saved anywhere else is not a record, so the marker is dropped from what is written: a copy made
by "Open a copy to edit", "Save As" or "Duplicate" is an ordinary notebook, editable and saveable.
"""

import json
import os

from tornado.web import HTTPError

MARKER = "nbgate"


def register(contents_manager, log):
    """Installs the guard on the Jupyter server's contents manager (a file-based one: it reads the file
    a save would replace)."""
    if not hasattr(contents_manager, "_get_os_path"):
        log.warning(
            "nbgate: %s keeps no files on disk; saves over recorded outputs are not guarded",
            type(contents_manager).__name__,
        )
        return
    contents_manager.register_pre_save_hook(refuse_saving_over_records)


def record_marker(notebook):
    """The ``metadata.nbgate`` of a notebook (nbformat JSON as a dict) that is a recorded output, else None."""
    metadata = notebook.get("metadata") if isinstance(notebook, dict) else None
    marker = metadata.get(MARKER) if isinstance(metadata, dict) else None
    if isinstance(marker, dict) and isinstance(marker.get("execution_id"), str):
        return marker
    return None


def recorded_on_disk(os_path):
    """The marker of the file at ``os_path`` if it is a recorded output, else None."""
    try:
        with open(os_path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    # Most notebooks are not records: only those that mention the marker are parsed.
    if f'"{MARKER}"'.encode() not in data:
        return None
    try:
        return record_marker(json.loads(data))
    except ValueError:
        return None


def refuse_saving_over_records(model, path, contents_manager, **kwargs):
    """Pre-save hook: refuses a save over a recorded output; drops the marker from any other save."""
    os_path = contents_manager._get_os_path(path)
    marker = recorded_on_disk(os_path) if os.path.isfile(os_path) else None
    if marker is not None:
        name = marker.get("execution_name") or marker["execution_id"]
        message = (
            f"This notebook is the recorded result of execution {name} (id {marker['execution_id']}) "
            "and is kept as it was recorded; use Open a copy to edit (in the result view) to change it."
        )
        # Jupyter answers `log_message` as it is; tornado formats it with `%` when logging.
        raise HTTPError(409, message.replace("%", "%%") if "%" in message else message)
    if model.get("type") == "notebook" and record_marker(model.get("content")) is not None:
        del model["content"]["metadata"][MARKER]

"""Nothing a user does in Lab overwrites a recorded output: saves through Jupyter's contents API onto a
notebook that carries nbgate's record marker are refused with the reason; copies are ordinary notebooks."""

import json

import pytest
from tornado.httpclient import HTTPClientError

RECORD = "executions/daily/daily_at_2026_03_01_01_00_00.ipynb"
MARKER = {"execution_id": "3f1c0e2a-1111-4c8e-9f00-000000000001", "execution_name": "daily_at_2026_03_01_01_00_00"}


def notebook(text, marker=None):
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if marker is not None:
        metadata["nbgate"] = marker
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata,
        "cells": [
            {"cell_type": "code", "id": "c1", "metadata": {}, "source": text, "outputs": [], "execution_count": None}
        ],
    }


@pytest.fixture
def record(jp_root_dir):
    """A recorded output as nbgate writes it (the marker in its metadata)."""
    path = jp_root_dir / RECORD
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(notebook("print('recorded')", MARKER)))
    return path


def save(jp_fetch, path, content):
    body = json.dumps({"type": "notebook", "format": "json", "content": content})
    return jp_fetch("api", "contents", *path.split("/"), method="PUT", body=body)


async def test_saving_over_a_recorded_output_is_refused_with_the_reason(jp_fetch, record):
    before = record.read_bytes()
    for content in (notebook("print('edited')", MARKER), notebook("print('another notebook')")):
        with pytest.raises(HTTPClientError) as caught:
            await save(jp_fetch, RECORD, content)
        assert caught.value.code == 409
        message = json.loads(caught.value.response.body)["message"]
        assert "recorded result of execution daily_at_2026_03_01_01_00_00" in message
        assert "Open a copy to edit" in message
    assert record.read_bytes() == before


async def test_a_copy_is_an_ordinary_notebook_that_saves(jp_fetch, jp_root_dir, record):
    # "Open a copy to edit" writes next to the user's notebooks, with or without the marker.
    copy = "daily_at_2026_03_01_01_00_00_copy.ipynb"
    response = await save(jp_fetch, copy, notebook("print('recorded')", MARKER))
    assert response.code in (200, 201)
    assert "nbgate" not in json.loads((jp_root_dir / copy).read_text())["metadata"]
    response = await save(jp_fetch, copy, notebook("print('edited')"))
    assert response.code == 200
    assert "edited" in (jp_root_dir / copy).read_text()
    # Lab's Duplicate (copy_from) makes an editable notebook too.
    response = await jp_fetch(
        "api", "contents", "executions", "daily", method="POST", body=json.dumps({"copy_from": RECORD})
    )
    duplicate = json.loads(response.body)["path"]
    assert duplicate != RECORD
    assert "nbgate" not in json.loads((jp_root_dir / duplicate).read_text())["metadata"]
    await save(jp_fetch, duplicate, notebook("print('edited')"))


async def test_ordinary_notebooks_save_as_before(jp_fetch, jp_root_dir):
    response = await save(jp_fetch, "mine.ipynb", notebook("x = 1"))
    assert response.code == 201
    response = await save(jp_fetch, "mine.ipynb", notebook("x = 2"))
    assert response.code == 200
    assert "x = 2" in (jp_root_dir / "mine.ipynb").read_text()

"""Fixtures of the import/export tests: files written per test, imports against the suite's
database (emptied before each test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from etl.pipeline import ImportOptions, import_file
from etl.read import ReadOptions
from etl.report import Report


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a case file: `write("a.csv", text, encoding="utf-8")` or bytes."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return _write


@pytest.fixture
def run(conninfo: str, clean_db: None, tmp_path: Path) -> Callable[..., Report]:
    """Import a file into the (emptied) database: `run(path, mode="upsert", encoding="cp1251")`."""

    def _run(path: Path, **kwargs: Any) -> Report:
        read_keys = {"format", "delimiter", "quote_char", "has_header", "encoding", "batch_size", "mapping"}
        read = ReadOptions(**{k: v for k, v in kwargs.items() if k in read_keys})
        rest = {k: v for k, v in kwargs.items() if k not in read_keys and k not in ("progress", "after_copy")}
        rest.setdefault("rejects", tmp_path / "rejects.csv")
        return import_file(
            conninfo,
            path,
            ImportOptions(read=read, **rest),
            progress=kwargs.get("progress"),
            after_copy=kwargs.get("after_copy"),
        )

    return _run


@pytest.fixture
def pg(conninfo: str, clean_db: None) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn

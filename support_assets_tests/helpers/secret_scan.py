"""Looks for an API key everywhere a run can leave it: texts, and every file under a
folder, opening the formats that hide plain bytes (gzip, parquet, DuckDB)."""

import gzip
import zlib
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pyarrow.parquet as pq


def forms(key: str) -> set[str]:
    return {key, quote(key, safe=""), quote_plus(key)}


def leaks_in_text(key: str, text: str) -> bool:
    return any(form in text for form in forms(key))


def leaks_in_files(key: str, *roots: Path) -> list[str]:
    """The files under `roots` that hold the key, in any of the forms a run writes."""
    found = []
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and _file_holds(path, key):
                found.append(str(path))
    return found


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in sorted(Path(root).rglob("*")) if p.is_file()]


def _file_holds(path: Path, key: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:  # a socket or a file removed meanwhile
        return False
    needles = [form.encode() for form in forms(key)]
    if any(n in data for n in needles):
        return True
    for text in _decoded(path, data):
        if any(n in text for n in needles):
            return True
    return False


def _decoded(path: Path, data: bytes) -> list[bytes]:
    """Contents that are not plain bytes on disk: gzip/zlib streams, parquet and DuckDB
    files (both compress strings)."""
    out = []
    if data[:2] == b"\x1f\x8b":
        try:
            out.append(gzip.decompress(data))
        except (OSError, EOFError):
            pass
    elif data[:1] == b"\x78":
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            pass
    if data[:4] == b"PAR1":
        out.append(repr(pq.read_table(path).to_pylist()).encode())
    if data[8:12] == b"DUCK":
        out.append(_duckdb_text(path))
    return out


def _duckdb_text(path: Path) -> bytes:
    with duckdb.connect(str(path), read_only=True) as db:
        tables = db.sql(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        rows = [db.sql(f'select * from "{schema}"."{table}"').fetchall() for schema, table in tables]
    return repr(rows).encode()

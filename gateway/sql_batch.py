"""Many rows in a few SQLite statements.

``executemany`` steps once per row, and Python's ``sqlite3`` releases and retakes the GIL
around every step: with a busy event loop in the other thread each retake can wait a whole
switch interval, and a commit of 2,000 rows then holds SQLite's write lock for tens of
milliseconds (an alarm on the urgent lane waits behind it). One multi-row ``VALUES``
statement binds a chunk of rows and steps once. Statements are built before the write
lock is taken and only executed under it.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

#: parameters per statement: well under SQLite's limit (32,766 by default since 3.32)
MAX_PARAMS = 4000

Statement = tuple[str, list[object]]


@functools.lru_cache(maxsize=256)
def _values(width: int, count: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return ",".join([one] * count)


def _chunks(rows: Sequence[Sequence[object]], width: int) -> list[Sequence[Sequence[object]]]:
    """Chunks whose lengths are powers of two (the largest that fits, then smaller ones).

    Each distinct statement text is prepared and kept in the connection's statement cache,
    and one with thousands of parameters is large: with any length allowed, a day of
    commits of varying sizes filled the cache with big statements (RSS +5 % in a 30-minute
    soak). Powers of two keep it to about a dozen texts per table.
    """
    most = 1 << (max(1, MAX_PARAMS // width).bit_length() - 1)
    out: list[Sequence[Sequence[object]]] = []
    i = 0
    while i < len(rows):
        size = min(most, 1 << ((len(rows) - i).bit_length() - 1))
        out.append(rows[i : i + size])
        i += size
    return out


def insert_values(head: str, rows: Sequence[Sequence[object]], width: int) -> list[Statement]:
    """``{head} VALUES (...), (...)`` over ``rows`` (each ``width`` long), chunked."""
    return [
        (f"{head} VALUES {_values(width, len(chunk))}", [v for row in chunk for v in row])
        for chunk in _chunks(rows, width)
    ]


def update_from_values(
    table: str, assignments: str, key: str, rows: Sequence[Sequence[object]], width: int
) -> list[Statement]:
    """``UPDATE {table} SET {assignments} FROM (VALUES ...) AS v WHERE {table}.{key} =
    v.column{width}``: each row's last value is the key, the others are ``v.column1..``.

    Keys must be unique within ``rows`` (which of two rows would win is not defined).
    """
    return [
        (
            f"UPDATE {table} SET {assignments} FROM (VALUES {_values(width, len(chunk))}) AS v "  # noqa: S608
            f"WHERE {table}.{key} = v.column{width}",
            [v for row in chunk for v in row],
        )
        for chunk in _chunks(rows, width)
    ]


def run(db: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    for sql, params in statements:
        db.execute(sql, params)

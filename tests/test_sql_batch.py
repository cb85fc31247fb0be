"""Multi-row statements store exactly what executemany would, across chunk boundaries."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import sql_batch

values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
)
rows = st.lists(st.tuples(values, values), max_size=60)


def _tables() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    for name in ("a", "b"):
        db.execute(f"CREATE TABLE {name} (k INTEGER PRIMARY KEY, x, y)")
    return db


@settings(max_examples=200, deadline=None)
@given(data=rows, max_params=st.integers(min_value=1, max_value=20))
def test_insert_and_update_match_executemany(
    data: list[tuple[object, object]], max_params: int
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sql_batch, "MAX_PARAMS", max_params)  # many small chunks
        _compare(data)


def _compare(data: list[tuple[object, object]]) -> None:
    db = _tables()
    keyed = [(i, x, y) for i, (x, y) in enumerate(data)]
    sql_batch.run(db, sql_batch.insert_values("INSERT INTO a (k, x, y)", keyed, 3))
    db.executemany("INSERT INTO b (k, x, y) VALUES (?, ?, ?)", keyed)
    # every other row updated: the key is the row's last value
    updates = [(y, x, k) for k, x, y in keyed[::2]]
    sql_batch.run(
        db, sql_batch.update_from_values("a", "x = v.column1, y = v.column2", "k", updates, 3)
    )
    db.executemany("UPDATE b SET x = ?, y = ? WHERE k = ?", updates)
    a = db.execute("SELECT k, x, y FROM a ORDER BY k").fetchall()
    b = db.execute("SELECT k, x, y FROM b ORDER BY k").fetchall()
    assert a == b
    assert len(a) == len(data)


def test_a_statement_never_binds_more_than_max_params() -> None:
    statements = sql_batch.insert_values(
        "INSERT INTO a (k, x, y)", [(i, i, i) for i in range(5000)], 3
    )
    assert all(len(params) <= sql_batch.MAX_PARAMS for _, params in statements)
    assert sum(len(params) for _, params in statements) == 15000


def test_any_number_of_rows_uses_a_dozen_statement_texts_at_most() -> None:
    # each distinct text is a prepared statement kept in the connection's cache
    texts = {
        sql
        for n in range(1, 3001)
        for sql, _ in sql_batch.insert_values("INSERT INTO a (k, x, y)", [(1, 2, 3)] * n, 3)
    }
    assert len(texts) <= 12

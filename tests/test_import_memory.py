"""What an import keeps while it runs is bounded: the content keys of the file (to find a row
repeated in it, and to link this import's testimonies afterwards) and nothing that grows with
the number of chunks."""

from __future__ import annotations

import random

from geomap.intake.run import ImportKeys
from geomap.store import intake as sql


def test_import_keys_find_the_first_row_of_a_repeated_key_across_chunks():
    rng = random.Random(1)
    keys, first, order = ImportKeys(), {}, []
    for _ in range(30):
        chunk: dict[str, int] = {}
        for _ in range(rng.randint(0, 300)):
            key = f"{rng.getrandbits(128):032x}"
            if order and rng.random() < 0.1:
                key = rng.choice(order)  # a repeat of an earlier chunk's row
            assert keys.first_rows([key]) == [first.get(key, -1)]
            if key not in first and key not in chunk:
                chunk[key] = len(first) + len(chunk) + 2
        keys.add(chunk)
        first.update(chunk)
        order += list(chunk)
    assert list(keys) == order and len(keys) == len(order)
    assert keys[3] == order[3] and keys[-1] == order[-1] and keys[5:9] == order[5:9]
    assert keys.first_rows(order[:50]) == [first[k] for k in order[:50]]


def test_insert_statements_come_in_a_few_sizes_whatever_a_chunk_holds():
    """The driver keeps every distinct statement it prepared (~1 MB each for 500 rows): one
    shape per remainder made an import's memory grow with its number of chunks."""
    shapes = set()
    for n in range(0, 3 * sql.ROWS_PER_STATEMENT):
        params = sql._statement_params([(i,) for i in range(n)])
        assert [p for part in params for p in part] == list(range(n))
        shapes.update(len(p) for p in params)
    assert len(shapes) <= 1 + sql.ROWS_PER_STATEMENT.bit_length()

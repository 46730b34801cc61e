"""One JSONL reader: blank lines skipped, line numbers as an editor counts them, a bad line named with its fix."""

import pytest

from recipes.core.jsonl import jsonl_rows


class MyError(RuntimeError):
    pass


def test_rows_keep_their_line_numbers_across_blank_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1}\n\n   \n{"id": 2}\n', encoding="utf-8")
    assert list(jsonl_rows(path)) == [(1, {"id": 1}), (4, {"id": 2})]


def test_a_bad_line_raises_the_callers_error_naming_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1}\n{"id": \n', encoding="utf-8")
    with pytest.raises(MyError, match=rf"{path}:2: not valid JSON .*write one JSON object per line"):
        list(jsonl_rows(path, MyError))

"""A model reference is a hub id (`org/name`) or a path: the runners, the tokenizer loader and preflight ask here."""

import pytest

from recipes.core.hub_ids import is_local_path


@pytest.mark.parametrize("ref", ["google/gemma-3-270m", "aisingapore/Gemma-SEA-LION-v4-27B-IT", "a/b.c_d-1"])
def test_hub_ids_are_not_paths(ref):
    assert not is_local_path(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "/models/gemma",  # absolute
        "./org/name",  # relative, though shaped like a hub id after the dot
        "~/org/name",
        "gemma-3-270m",  # no organisation: a folder name
        "org/name/extra",  # a hub id has one slash
        "-org/name",  # a hub organisation starts with a letter or digit
        "org/na me",
    ],
)
def test_paths_are_paths(ref):
    assert is_local_path(ref)

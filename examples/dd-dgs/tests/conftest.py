"""Keep the classifiers these tests train out of the user's cache."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dd-cache"))
        yield

"""Fixtures the integration tests share."""

from __future__ import annotations

import pytest

from tests.adb_fixtures import adb_binaries, private_adb_server


@pytest.fixture(scope="module", params=sorted(adb_binaries().items()), ids=lambda item: item[0])
def adb_server(request, tmp_path_factory):
    """A private adb server of each adb the machine has (the wheel's 36, Debian's 29), with data
    and cache folders of the module's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        patch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        with private_adb_server(request.param[1]) as server:
            yield server

"""The typed usage file runs as it is type-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

import typed_usage
from conftest import NO_POSTGRES, NO_REDIS, POSTGRES_URL, REDIS_URL, NetworkStores, unique_prefix, unique_table


def test_typed_usage_runs(tmp_path: Path) -> None:
    typed_usage.run(tmp_path)


def test_typed_network_usage_runs(network_stores: NetworkStores) -> None:
    if REDIS_URL is None:
        pytest.skip(NO_REDIS)
    if POSTGRES_URL is None:
        pytest.skip(NO_POSTGRES)
    prefix, table = unique_prefix(), unique_table()
    # Opened here too, so that both are emptied after the test.
    network_stores.redis(prefix)
    network_stores.postgres(table)
    stores = typed_usage.network_usage(REDIS_URL, prefix, POSTGRES_URL, table)
    assert [s["visits"] for s in stores] == [1, 1]

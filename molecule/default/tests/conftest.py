"""Fixtures for the container lab's verify step (inventories/lab), and the
order its test files run in (tools/labkit/order.py: read-only files first,
then those that change the cluster in a set order, the storage node's
restart last; a file in no list stops the run at collection)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))  # labkit

from labkit import order, probes  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def pytest_collection_modifyitems(config, items):
    order.reorder_directory(items, HERE, order.CONTAINER_LAB, "CONTAINER_LAB in tools/labkit/order.py")
    # molecule/bookworm runs this directory with HAVIRT_LAB_VERIFY=core:
    # the files of order.CONTAINER_LAB_CORE only, reported as deselected.
    verify = os.environ.get("HAVIRT_LAB_VERIFY", "all")
    if verify not in ("all", "core"):
        raise pytest.UsageError(f"HAVIRT_LAB_VERIFY must be all or core, not {verify!r}")
    if verify == "core":
        kept, dropped = order.subset(items, lambda item: item.path.name, order.CONTAINER_LAB_CORE)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def libiscsi_tools(inv):
    """libiscsi's tools are the lab's probe, not part of the cluster: the
    test installs them on the nodes itself."""
    probes.ensure(inv.group("cluster"), probes.ISCSI)

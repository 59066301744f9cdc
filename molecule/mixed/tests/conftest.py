"""Fixtures for the mixed-release lab's verify step (molecule/mixed:
inventories/lab with servvirt2 on Debian 12), and the order its test files
run in (tools/labkit/order.py MIXED_LAB)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))  # labkit

from labkit import order  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def pytest_collection_modifyitems(items):
    order.reorder_directory(items, HERE, order.MIXED_LAB, "MIXED_LAB in tools/labkit/order.py")

"""Fixtures for the day-two lab's verify step (molecule/day2: the container
lab on Debian 13), and the order its test files run in
(tools/labkit/order.py DAY2_LAB)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))  # labkit

from labkit import order  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def pytest_collection_modifyitems(items):
    order.reorder_directory(items, HERE, order.DAY2_LAB, "DAY2_LAB in tools/labkit/order.py")

"""Fixtures for the VM lab's verify step (inventories/vmlab), and the order
its test files run in (tools/labkit/order.py; a file in no list stops the run
at collection)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools"))  # labkit
os.environ.setdefault("HAVIRT_TEST_INVENTORY", str(ROOT / "inventories" / "vmlab"))

from labkit import order  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def pytest_collection_modifyitems(items):
    order.reorder_directory(items, HERE, order.VM_LAB, "VM_LAB in tools/labkit/order.py")

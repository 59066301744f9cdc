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

import pytest  # noqa: E402

from labkit import order  # noqa: E402

pytest_plugins = ["labkit.fixtures"]


def pytest_collection_modifyitems(config, items):
    order.reorder_directory(items, HERE, order.VM_LAB, "VM_LAB in tools/labkit/order.py")
    # molecule/xenlab runs this directory with HAVIRT_LAB_VERIFY=xen: the
    # files of order.XEN_LAB only; the KVM lab leaves out order.XEN_ONLY.
    # Either way what is left out is reported as deselected.
    verify = os.environ.get("HAVIRT_LAB_VERIFY", "kvm")
    if verify not in ("kvm", "xen"):
        raise pytest.UsageError(f"HAVIRT_LAB_VERIFY must be kvm or xen here, not {verify!r}")
    if verify == "xen":
        kept, dropped = order.subset(items, lambda item: item.path.name, order.XEN_LAB)
    else:
        dropped, kept = order.subset(items, lambda item: item.path.name, order.XEN_ONLY)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept

"""The order of the labs' test files (tools/labkit/order.py): every test file
of each scenario is placed, none twice, nothing listed is missing, the
storage node's restart runs last, and the sort the conftest hooks apply
keeps each file's tests together and in their order, and stops at a file
in no list."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lab_order", ROOT / "tools" / "labkit" / "order.py")
order = importlib.util.module_from_spec(spec)
spec.loader.exec_module(order)


@pytest.mark.parametrize("scenario,files", [("default", order.CONTAINER_LAB), ("vmlab", order.VM_LAB),
                                            ("mixed", order.MIXED_LAB), ("day2", order.DAY2_LAB)])
def test_every_test_file_of_the_scenario_is_placed_once(scenario, files):
    present = sorted(path.name for path in (ROOT / "molecule" / scenario / "tests").glob("test_*.py"))
    assert len(set(files)) == len(files), files
    assert sorted(files) == present, {"not placed": sorted(set(present) - set(files)),
                                      "listed, no such file": sorted(set(files) - set(present))}


def test_the_xen_lab_runs_files_of_the_vm_lab_and_the_kvm_lab_leaves_out_the_xen_only_ones():
    assert set(order.XEN_LAB) <= set(order.VM_LAB), sorted(set(order.XEN_LAB) - set(order.VM_LAB))
    assert set(order.XEN_ONLY) <= set(order.XEN_LAB)
    scenario = (ROOT / "molecule" / "xenlab" / "molecule.yml").read_text()
    assert "directory: ../vmlab/tests" in scenario and "HAVIRT_LAB_VERIFY: xen" in scenario


def test_the_storage_node_restarts_last_and_after_every_other_state_change():
    files = order.CONTAINER_LAB
    assert files[-1] == "test_restart.py"
    # The alphabet put it before these (the order Molecule passes files in).
    assert sorted(files).index("test_restart.py") < sorted(files).index("test_ssh_transport.py")
    # Read-only checks run before anything kills or moves.
    for read_only in ("test_ntp.py", "test_vms.py", "test_xen_migration.py", "test_iscsi_target.py"):
        for changing in ("test_bad_input.py", "test_failover.py", "test_migration.py", "test_restart.py"):
            assert files.index(read_only) < files.index(changing), (read_only, changing)


def _items(*names):
    """Fake collected tests: (file, test) pairs."""
    return [(name.split("::")[0], name) for name in names]


def test_sort_keeps_each_files_tests_together_and_in_their_order():
    items = _items("test_b.py::one", "test_a.py::one", "test_b.py::two", "test_c.py::one", "test_a.py::two")
    ordered = order.sort_by_file(items, lambda item: item[0], ("test_c.py", "test_a.py", "test_b.py"), "X")
    assert [name for _, name in ordered] == ["test_c.py::one", "test_a.py::one", "test_a.py::two",
                                             "test_b.py::one", "test_b.py::two"]


def test_a_file_in_no_list_stops_the_sort_and_is_named():
    items = _items("test_a.py::one", "test_new.py::one", "test_other_new.py::x")
    with pytest.raises(order.UnorderedTestFile) as failed:
        order.sort_by_file(items, lambda item: item[0], ("test_a.py",), "CONTAINER_LAB in tools/labkit/order.py")
    assert "test_new.py, test_other_new.py" in str(failed.value)
    assert "CONTAINER_LAB in tools/labkit/order.py" in str(failed.value)


def test_a_listed_file_that_was_not_collected_is_fine():
    """Running one file (pytest test_vms.py) must not need the others."""
    items = _items("test_b.py::one")
    assert order.sort_by_file(items, lambda item: item[0], ("test_a.py", "test_b.py"), "X") == items


def test_reorder_sorts_only_the_scenarios_items_in_place():
    items = _items("other/test_z.py::one", "test_b.py::one", "test_a.py::one", "other/test_y.py::one")
    order.reorder(items, lambda item: "/" not in item[0], lambda item: item[0], ("test_a.py", "test_b.py"), "X")
    assert [name for _, name in items] == ["other/test_z.py::one", "test_a.py::one", "test_b.py::one",
                                           "other/test_y.py::one"]


def test_the_bookworm_core_is_the_read_only_files_then_a_migration_and_status():
    core = order.CONTAINER_LAB_CORE
    assert set(core) <= set(order.CONTAINER_LAB)
    assert len(core) == len(set(core))
    # In CONTAINER_LAB's order, so the core runs as the full run would.
    assert list(core) == [name for name in order.CONTAINER_LAB if name in core]
    # What the core leaves out changes the cluster in ways a second release adds nothing to.
    for heavy in ("test_failover.py", "test_restart.py", "test_bad_input.py"):
        assert heavy not in core
    assert {"test_migration.py", "test_status.py", "test_secrets.py", "test_vms.py"} <= set(core)


def test_subset_keeps_the_listed_files_in_their_order_and_returns_the_rest():
    items = [("test_b.py", 1), ("test_a.py", 1), ("test_c.py", 1), ("test_a.py", 2)]
    kept, dropped = order.subset(items, lambda item: item[0], ("test_a.py", "test_c.py"))
    assert kept == [("test_a.py", 1), ("test_c.py", 1), ("test_a.py", 2)]
    assert dropped == [("test_b.py", 1)]


def test_ci_leaves_out_only_the_extended_files_and_the_extended_scenario_runs_them():
    extended = order.CONTAINER_LAB_EXTENDED
    assert extended and len(extended) == len(set(extended))
    assert set(extended) <= set(order.CONTAINER_LAB), sorted(set(extended) - set(order.CONTAINER_LAB))
    # The bookworm core is in CI: nothing of it may be left to the extended run.
    assert not set(extended) & set(order.CONTAINER_LAB_CORE)
    # Nothing that must run in CI: the reads, the crashes, the storage node's restart.
    for kept in ("test_failover.py", "test_restart.py", "test_migration.py", "test_placement.py", "test_secrets.py"):
        assert kept not in extended
    default = (ROOT / "molecule" / "default" / "molecule.yml").read_text()
    assert "HAVIRT_LAB_VERIFY: ci" in default
    scenario = (ROOT / "molecule" / "extended" / "molecule.yml").read_text()
    assert "directory: ../default/tests" in scenario and "HAVIRT_LAB_VERIFY: extended" in scenario
    makefile = (ROOT / "Makefile").read_text()
    assert "$(MAKE) --no-print-directory molecule-extended" in makefile.split("test-extended: venv", 1)[1]

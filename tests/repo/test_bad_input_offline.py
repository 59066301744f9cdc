"""Bad inventories refused by the validation plays, without the lab.

Each OFFLINE case of tools/labkit/bad_inputs.py is a copy of inventories/lab
with one fault; playbooks/validate.yml (the plays site.yml runs first) must
refuse it with the case's message and change nothing. The NEEDS_NODE cases
run against the live lab (molecule/default/tests/test_bad_input.py).

No node is reached: every host of each copy has the connection
havirt_offline_guard (tests/repo/connection_plugins), which fails any task
that would run something on a node as UNREACHABLE with its own name in
the message, and the runs are limited to the hosts outside group storage
(LIMIT): the only tasks of validate.yml that read a node are the storage
node's (each LUN's backing device, the LIO modules). Without the limit,
the guard stops the first of them; with it, the lab inventory as it is
passes, so any other task that reads a node fails the test. The lab's
guest kernel and initrd (vms_files, made by `make lab-up`) are empty
stand-ins: validate.yml only checks that they exist.

The runs go three at a time (each is mostly Ansible starting up); their
total time is printed."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.vars.manager import VariableManager

ROOT = Path(__file__).resolve().parents[2]  # the checkout (inventories are not in the collection)
LAB = ROOT / "inventories" / "lab"
_SPEC = importlib.util.spec_from_file_location("bad_inputs", ROOT / "tools" / "labkit" / "bad_inputs.py")
bad_inputs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bad_inputs)
# The lab's values use collections' filters (ansible.utils.nthhost...).
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([str(ROOT / "collections")])

GUARD = "havirt_offline_guard"
GUARD_PLUGINS = Path(__file__).resolve().parent / "connection_plugins"
# The storage node is left out of the runs: its backing-device and LIO
# checks need the node (test_without_the_limit_only_the_storage_node_is_reached).
LIMIT = "!storage"
STORAGE_NODE_READS = ["havirt.cluster.iscsi_target : Look at each LUN's backing device or file"]
OFFLINE = bad_inputs.names(bad_inputs.OFFLINE)
NEEDS_NODE = bad_inputs.names(bad_inputs.NEEDS_NODE)
CONTROL = "unbroken"  # the lab inventory as it is: validate.yml passes it


@functools.lru_cache(maxsize=None)
def _lab_hostvars(name: str) -> dict:
    """One lab host's templated variables, as tools/labkit/inventory.py reads them."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(LAB)])
    variables = VariableManager(loader=loader, inventory=inventory)
    raw = variables.get_vars(host=inventory.get_host(name))
    return Templar(loader=loader, variables=raw).template(raw, fail_on_undefined=False)


def _copy(workdir: Path, case) -> Path:
    """The lab inventory with the case's fault, every host behind the guard."""
    standins = workdir / "lab-files"
    standins.mkdir()
    vms_files = []
    for item in bad_inputs.plain(_lab_hostvars("servvirt1")["vms_files"]):
        (standins / Path(item["src"]).name).touch()
        vms_files.append({**item, "src": str(standins / Path(item["src"]).name)})

    def pinned(name):
        values = {"ansible_connection": GUARD, "vms_files": vms_files}
        # Relative to the inventory (tools/lab/files/fence_podman): the lab's own file.
        if "pacemaker_fence_agent_files" in _lab_hostvars(name):
            values["pacemaker_fence_agent_files"] = bad_inputs.plain(_lab_hostvars(name)["pacemaker_fence_agent_files"])
        return values

    return bad_inputs.broken_inventory(LAB, workdir / "inventory", case, _lab_hostvars, pinned)


def _validate(inventory: Path, *options: str, **env: str) -> subprocess.CompletedProcess:
    """validate.yml as a user runs it from the checkout, without the
    ANSIBLE_*/MOLECULE_* settings of the calling test runner
    (tools/labkit/inventory.py clean_env), plus the guard."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    clean.update(ANSIBLE_CONNECTION_PLUGINS=str(GUARD_PLUGINS), **env)
    return subprocess.run(["ansible-playbook", "-i", str(inventory), "playbooks/validate.yml", *options],
                          cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300)


def _unchanged(data, hosts, lab):
    """No fault: the control case."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    """validate.yml once on each case's copy (OFFLINE: refused; NEEDS_NODE:
    passed, nothing there reads a node), on the lab inventory as it is, and
    on the lab inventory without the limit, with the json callback."""
    jobs = {name: (bad_inputs.CASES[name], ["--limit", LIMIT], {}) for name in OFFLINE + NEEDS_NODE}
    jobs[CONTROL] = (bad_inputs.Case(_unchanged, ""), ["--limit", LIMIT], {})
    # Only the json callback (it is the stdout one, so listing it adds nothing): ansible-core 2.19+
    # refuses an empty ANSIBLE_CALLBACKS_ENABLED ("A non-empty plugin name is required").
    jobs["no-limit"] = (bad_inputs.Case(_unchanged, ""), [],
                        {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.json"})
    start, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    # The copies here (Ansible's inventory API is not thread-safe), the runs in parallel.
    copies = {name: _copy(tmp_path_factory.mktemp(name), job[0]) for name, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_validate, copies[name], *job[1], **job[2]) for name, job in jobs.items()}
        done = {name: future.result() for name, future in futures.items()}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nvalidate.yml on {len(jobs)} inventories ({len(OFFLINE)} bad, {len(NEEDS_NODE)} needing a node, "
              f"2 controls), 3 at a time: {time.monotonic() - start:.1f} s, "
              f"CPU {used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime:.1f} s")
    return done


def _output(run) -> str:
    return " ".join((run.stdout + run.stderr).split())


def test_the_lab_inventory_passes(runs):
    output = _output(runs[CONTROL])
    assert runs[CONTROL].returncode == 0, output
    assert re.search(r"servvirt1 : ok=\d+ changed=0 unreachable=0 failed=0", output), output
    assert GUARD not in output


@pytest.mark.parametrize("case", OFFLINE)
def test_a_bad_inventory_is_refused_offline(runs, case):
    output = _output(runs[case])
    assert runs[case].returncode != 0, output
    assert re.search(bad_inputs.CASES[case].message, output), output
    assert not re.search(r"changed=[1-9]", output), output
    # Refused by a check, not stopped by the guard (or anything else) on the way.
    assert GUARD not in output and "UNREACHABLE" not in output, output


@pytest.mark.parametrize("case", NEEDS_NODE)
def test_a_fault_only_a_node_finds_passes_the_offline_checks(runs, case):
    """Else it belongs offline: the lab would run it for nothing."""
    output = _output(runs[case])
    assert runs[case].returncode == 0, output
    assert bad_inputs.CASES[case].needs


def test_without_the_limit_only_the_storage_node_is_reached(runs):
    """The guard stops a task that would run on a node, loudly and by its
    own name: without LIMIT, the storage node's first read (its backing
    devices) is stopped, and nothing failed or changed before it. Any other
    task that reads a node fails test_the_lab_inventory_passes."""
    run = runs["no-limit"]
    assert run.returncode != 0
    results = [(task["task"]["name"], host, result)
               for play in json.loads(run.stdout)["plays"] for task in play["tasks"]
               for host, result in task["hosts"].items()]
    stopped = [(name, host) for name, host, result in results if result.get("unreachable")]
    assert stopped == [(name, "servdb") for name in STORAGE_NODE_READS], stopped
    # A loop: each item stopped by the guard, by its name (ansible-core 2.19+ puts "Task failed: " before it).
    items = [item for _, _, result in results if result.get("unreachable") for item in result["results"]]
    assert items and all(item["unreachable"] and re.match(f"(Task failed: )?{GUARD}: a task tried to", item["msg"])
                         for item in items), items
    assert not any(result.get("failed") or result.get("changed") for _, _, result in results), results


def test_every_case_runs_once_offline_or_in_the_lab():
    """Each case of the table is collected by exactly one of the two
    runners: here, or molecule/default/tests/test_bad_input.py."""
    assert {case.where for case in bad_inputs.CASES.values()} <= {bad_inputs.OFFLINE, bad_inputs.NEEDS_NODE}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_", "PYTEST_"))}
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "molecule/default/tests/test_bad_input.py", "tests/repo/test_bad_input_offline.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ran = re.findall(r"^(molecule/default/tests/test_bad_input\.py::test_bad_inventory_is_refused_and_changes_nothing"
                     r"|tests/repo/test_bad_input_offline\.py::test_a_bad_inventory_is_refused_offline)\[(.+)\]$",
                     collected.stdout, re.MULTILINE)
    by_case = {}
    for where, case in ran:
        by_case.setdefault(case, []).append(where.split("::")[0])
    assert sorted(by_case) == sorted(bad_inputs.CASES), collected.stdout
    assert {case: files for case, files in by_case.items() if len(files) != 1} == {}

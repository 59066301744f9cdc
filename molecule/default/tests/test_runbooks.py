"""The runbooks of docs/runbooks, followed as written: the test makes the
situation a runbook is for, then runs the page's own command blocks (those
marked ``sh node``, on a cluster node; ``sh hypervisor``, on each
hypervisor the failures name; ``sh controller``, on the controller with
the lab's inventory in place of inventories/mysite) in order, and checks that the cluster is healthy afterwards.

vm-failed.md: speedauth's definition edited by hand on both hypervisors
(its kernel file renamed, as a wrong edit would), its QEMU killed; the
cluster restarts it where it ran, then on the other hypervisor, and leaves
it stopped once both starts failed. status.yml says so with each
hypervisor's reason, and one mail per failed start reaches the alert
recipients. The runbook's steps bring it back on its preferred hypervisor,
answering, with no failed action left: site.yml --tags vms,cluster (its
definition written back, its failed starts cleared), then the by-hand
clean-up, which finds nothing more to do."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from test_status import _status

from labkit import failover as fo
from labkit import inventory
from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "speedauth"
BOOK = inventory.PROJECT / "docs" / "runbooks" / "vm-failed.md"
BROKEN_KERNEL = "/var/lib/havirt/boot/missing-vmlinux"


def _blocks(path) -> list[tuple[str, str]]:
    """(where, commands) of each ``sh node``, ``sh hypervisor`` and ``sh
    controller`` block."""
    return re.findall(r"^```sh (node|hypervisor|controller)\n(.*?)^```$", path.read_text(), re.M | re.S)


def _follow(where: str, commands: str, host: str = "") -> str:
    """A block run as the runbook says: on a cluster node (the storage
    node), on the hypervisor ``host``, or on the controller."""
    if where in ("node", "hypervisor"):
        run = inventory.node(host or fo.witness()).run("bash -euo pipefail -c %s" % shlex.quote(commands))
        out, err, rc = run.stdout, run.stderr, run.rc
    else:
        commands = commands.replace("inventories/mysite", str(inventory.inventory_path()))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=inventory.PROJECT,
                              env=inventory.clean_env(), capture_output=True, text=True, timeout=900)
        out, err, rc = done.stdout, done.stderr, done.returncode
    assert rc == 0, f"{where}: {commands}\n{out[-3000:]}\n{err[-2000:]}"
    return out


def _failed_starts(rid: str) -> list[str]:
    """The nodes where the resource's start failed, as crm_mon says."""
    root = ET.fromstring(inventory.node(fo.witness()).check_output("crm_mon --one-shot --output-as=xml"))
    return sorted(f.get("node") for f in root.iterfind("failures/failure") if f.get("op_key") == f"{rid}_start_0")


@pytest.fixture()
def healed(inv):
    """Whatever the test left: the inventory's definitions, the failures
    cleared, the cluster settled."""
    fo.wait_settled()
    yield
    rid = lab_vms.resource(VM)
    if lab_vms.running_on(VM) != [lab_vms.vm_spec(VM)["preferred"]] or _failed_starts(rid):
        run, said = lab_vms.site()
        assert run.returncode == 0, said[-3000:]
        inv.node(fo.witness()).run(f"crm_resource --cleanup --resource {rid}")
        fo.wait_settled()


def test_a_vm_that_fails_to_start_everywhere_is_brought_back_by_its_runbook(inv, healed, mail_sink):
    blocks = _blocks(BOOK)
    assert [where for where, _ in blocks] == ["node", "hypervisor", "controller", "node", "controller"], blocks
    rid = lab_vms.resource(VM)
    hypervisors = inv.group("hypervisors")
    [was] = lab_vms.running_on(VM)
    for name in hypervisors:
        inv.node(name).check_output(
            f"sed -i 's#<kernel>[^<]*</kernel>#<kernel>{BROKEN_KERNEL}</kernel>#' /etc/havirt/vms/{VM}.xml")
        assert BROKEN_KERNEL in inv.node(name).check_output(f"cat /etc/havirt/vms/{VM}.xml")
    inv.node(was).check_output(f"virsh destroy {VM}")
    deadline = time.monotonic() + 180
    while _failed_starts(rid) != sorted(hypervisors):
        assert time.monotonic() < deadline, (_failed_starts(rid), inv.node(fo.witness()).check_output("crm_mon -1"))
        time.sleep(3)
    inv.node(fo.witness()).check_output("crm_resource --wait --timeout 60s")
    assert lab_vms.running_on(VM) == []

    # What the runbook says the operator sees.
    line = next(line for line in _status() if line.startswith(f"vm {VM}: "))
    assert line.startswith(f"vm {VM}: NOT RUNNING (FAILED TO START on "), line
    for name in hypervisors:
        assert f"{name}: " in line, line
    assert f"crm_resource --cleanup --resource {rid}: docs/runbooks/vm-failed.md)" in line, line
    deadline = time.monotonic() + 60
    subjects: list[str] = []
    while time.monotonic() < deadline:
        subjects = [str(mail["Subject"]) for mail in mail_sink()]
        if all(any(f"vm {VM}: start FAILED on {name}" in s for s in subjects) for name in hypervisors):
            break
        time.sleep(2)
    for name in hypervisors:
        assert sum(f"vm {VM}: start FAILED on {name}" in s for s in subjects) == 1, subjects

    # The runbook, step by step.
    said = []
    for where, commands in blocks:
        hosts = hypervisors if where == "hypervisor" else [""]
        said.append("\n".join(_follow(where, commands, host) for host in hosts))
        if len(said) == 3:
            # site.yml put the definition back and had the cluster try again.
            assert _failed_starts(rid) == [] and lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    assert f"{rid}_start_0" in said[0] and "Failed Resource Actions" in said[0], said[0]
    # libvirt's own words, on each hypervisor.
    assert said[1].count(f"unable to stat: {BROKEN_KERNEL}: No such file or directory") >= len(hypervisors), said[1]
    assert lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    assert f"is running on: {lab_vms.vm_spec(VM)['preferred']}" in said[3], said[3]
    assert f"vm {VM}: {lab_vms.vm_spec(VM)['preferred']}" in said[4], said[4][-3000:]
    assert _failed_starts(rid) == []
    assert lab_vms.wait_for_http(VM, timeout=120)
    for name in hypervisors:
        assert BROKEN_KERNEL not in inv.node(name).check_output(f"cat /etc/havirt/vms/{VM}.xml")

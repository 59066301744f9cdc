"""replace.yml in the VM lab: a hypervisor reinstalled from nothing rejoins.

The hypervisor that passata prefers is emptied (maintenance.yml), powered
off, and its disks are thrown away: a new root disk from the lab's image
(Debian as installed, nothing of the cluster's, new SSH host keys) and new
blank spare disks (no DRBD metadata). While it is away the VM writes a
token on the survivor's copy. replace.yml then rebuilds it: it must join
the cluster with its iSCSI session and /cluster, get DRBD metadata and a
full resync from the survivor, and take passata back by live migration;
DRBD's own online verify then finds both copies identical, and the guest
reads its token from the rebuilt node's copy. A request for a node that
runs in the cluster is refused first, with nothing changed.

Last in the VM lab's order: it rebuilds a node, and leaves the cluster
whole (passata on its preferred hypervisor, every VM started again)."""

from __future__ import annotations

import time
import uuid

import pytest

from labkit import drbd, inventory
from labkit.guests import lab_qemu_pid, power_on, process_alive
from labkit.vms import (all_running, alone, cluster_whole, http_get, playbook, postmortem, replace_node, running_on,
                         vm_spec, wait_for_http)

pytestmark = pytest.mark.usefixtures("probe_tools")
VM = "passata"
GUEST_WAIT = 420
STATE = inventory.PROJECT / ".vmlab"


@pytest.fixture(scope="module", autouse=True)
def _the_vm_alone(inv):
    alone(inv, VM, timeout=GUEST_WAIT)
    yield
    all_running(inv, timeout=GUEST_WAIT)


def _cluster(inv, command, *args):
    return inv.node(inv.group("storage")[0]).check_output(command, *args)


def _standby(inv, node):
    out = inv.node(inv.group("storage")[0]).run(
        "crm_attribute --node %s --name standby --query --quiet --lifetime forever", node)
    return out.stdout.strip() if out.rc == 0 else ""


def _write_token(vm, token):
    assert http_get(vm, f"/cgi-bin/disk?{token}", timeout=20).strip() == f"wrote {token}"


def _read_token(vm):
    out = http_get(vm, "/cgi-bin/disk", timeout=20).split()
    return out[-1] if len(out) == 2 and out[0] == "read" else ""


def test_a_running_node_is_refused_and_nothing_changes(inv):
    victim = vm_spec(VM)["preferred"]
    before = _cluster(inv, "cibadmin --query --scope nodes")
    run = playbook("replace.yml", "-e", f"node={victim}", timeout=300)
    assert run.returncode != 0, run.stdout[-2000:]
    assert f"{victim} is online in the cluster and not in standby" in run.stdout, run.stdout[-2000:]
    assert "Nothing was changed." in run.stdout
    assert _standby(inv, victim) in ("", "off")
    assert _cluster(inv, "cibadmin --query --scope nodes") == before


def test_a_wiped_hypervisor_is_rebuilt_with_the_survivor_s_data(inv):
    victim = vm_spec(VM)["preferred"]
    survivor = next(h for h in inv.group("hypervisors") if h != victim)
    res = drbd.resource(VM)
    if running_on(VM) != [victim]:
        moved = playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={victim}", timeout=900)
        assert moved.returncode == 0, moved.stdout[-3000:]
    wait_for_http(VM, timeout=GUEST_WAIT)
    drbd.wait_in_sync(VM)

    # The planned way out: the VM leaves live, the node goes to standby.
    out = playbook("maintenance.yml", "-e", f"node={victim}", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:]
    assert running_on(VM) == [survivor]

    # Powered off, its disks thrown away, a new machine from the image.
    pid = lab_qemu_pid(victim)
    inv.node(victim).run("systemd-run --on-active=2 systemctl poweroff")
    deadline = time.monotonic() + 300
    while process_alive(pid):
        assert time.monotonic() < deadline, f"{victim} did not power off"
        time.sleep(2)
    for disk in [f"{victim}.qcow2"] + [f"{victim}-{d['name']}.raw"
                                        for d in inventory.hostvars(victim)["havirt_vmlab_data_disks"]]:
        (STATE / disk).unlink()
    power_on()
    fresh = inv.node(victim)
    assert fresh.run("test -e /etc/corosync/authkey").rc != 0, "the new root disk holds the old cluster key"
    # DRBD keeps its internal metadata at the end of the backing device.
    backing = res.get("disks", {}).get(victim, res.get("disk"))
    assert fresh.check_output("tail -c 1048576 %s | tr -d '\\000' | wc -c", backing) == "0", \
        f"the new {backing} is not blank"

    # Meanwhile the VM writes on the survivor's copy: the resync must carry it.
    token = f"replace-{uuid.uuid4().hex[:8]}"
    _write_token(VM, token)
    peer_lost = inv.node(survivor).check_output("cat /proc/drbd")
    print(f"{survivor}'s /proc/drbd while {victim} is away:\n{peer_lost}")
    print(_cluster(inv, "crm_mon --one-shot --output-as=xml"))

    replace_node(victim, timeout=3600)

    # Back whole: in the cluster, out of standby, nothing failed, its storage.
    whole, mon = cluster_whole(inv)
    assert whole, mon
    assert _standby(inv, victim) in ("", "off")
    assert "drbd-fence-by-handler" not in _cluster(inv, "cibadmin --query --scope constraints")
    assert fresh.file("/etc/corosync/authkey").exists
    assert fresh.run("iscsiadm -m session").rc == 0
    mount = inventory.role_var(victim, "ocfs2", "ocfs2_mount_point")
    assert fresh.mount_point(mount).exists and fresh.mount_point(mount).filesystem == "ocfs2"

    # The VM back on it, live, reading its token from the rebuilt copy.
    assert running_on(VM) == [victim], postmortem(VM)
    assert drbd.primaries(VM) == [victim]
    wait_for_http(VM, timeout=120)
    assert _read_token(VM) == token, postmortem(VM)
    assert drbd.wait_in_sync(VM) < 5
    found = drbd.verify(victim, VM)
    print(f"drbdadm verify {VM} (minor {res['minor']}) after the rebuild: out of sync {found} KiB")
    assert found == {h: 0 for h in inv.group("hypervisors")}

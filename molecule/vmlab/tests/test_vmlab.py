"""The VM lab: real kernels, the cluster's names and time, and a kernel
iSCSI login of each hypervisor to servdb's target with CHAP.

Until the iscsi_initiator role exists (storage issue), open-iscsi is
installed and driven here as a probe; the login itself is real."""

from __future__ import annotations

import time

import pytest

DEVICE_WAIT = 60


def test_real_kernel_loads_the_cluster_modules(inv, node_name):
    host = inv.node(node_name)
    for module in ("iscsi_tcp", "ocfs2", "drbd"):
        assert host.run("modprobe %s", module).rc == 0, module
        assert host.run("grep -qw ^%s /proc/modules", module).rc == 0, module


def test_names_resolve_to_cluster_addresses(inv, node_name):
    host = inv.node(node_name)
    for other in inv.group("cluster"):
        out = host.check_output(f"getent ahostsv4 {other}")
        assert out.split()[0] == inv.hostvars(other)["havirt_cluster_address"], out


def test_hypervisor_selects_storage_node_for_time(inv, hypervisor):
    server = inv.hostvars(inv.group("storage")[0])["havirt_cluster_address"]
    host = inv.node(hypervisor)
    deadline = time.monotonic() + 120
    while True:
        out = host.check_output("chronyc -n sources")
        if any(line.startswith("^*") and line.split()[1] == server for line in out.splitlines()):
            break
        assert time.monotonic() < deadline, out
        time.sleep(3)
    # A real clock: chronyd runs without -x here.
    assert " -x" not in host.check_output("ps -o args= -C chronyd")


@pytest.fixture(scope="module")
def open_iscsi(inv):
    for name in inv.group("hypervisors"):
        inv.node(name).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq open-iscsi")
    return True


def _iscsiadm_node(host, portal, target, user, secret, initiator):
    host.check_output("sed -i 's/^InitiatorName=.*/InitiatorName=%s/' /etc/iscsi/initiatorname.iscsi", initiator)
    host.check_output("systemctl restart iscsid")
    host.check_output("iscsiadm -m discovery -t sendtargets -p %s", portal)
    for key, value in (("node.session.auth.authmethod", "CHAP"), ("node.session.auth.username", user),
                       ("node.session.auth.password", secret)):
        host.check_output("iscsiadm -m node -T %s -p %s -o update -n %s -v %s", target, portal, key, value)


def test_kernel_iscsi_login_with_chap(inv, hypervisor, portal, open_iscsi):
    host = inv.node(hypervisor)
    address = portal["address"]
    _iscsiadm_node(host, address, portal["iqn"], portal["user"], portal["secret"],
                   inv.hostvars(hypervisor)["iscsi_initiator_name"])
    try:
        host.check_output("iscsiadm -m node -T %s -p %s --login", portal["iqn"], address)
        assert portal["iqn"] in host.check_output("iscsiadm -m session")
        link = f"/dev/disk/by-path/ip-{address}:3260-iscsi-{portal['iqn']}-lun-1"
        deadline = time.monotonic() + DEVICE_WAIT
        while not host.file(link).exists:
            assert time.monotonic() < deadline, f"{link} did not appear"
            time.sleep(1)
        size = int(host.check_output("blockdev --getsize64 %s", link))
        assert size == 1 << 30
    finally:
        host.run("iscsiadm -m node -T %s -p %s --logout", portal["iqn"], address)


def test_kernel_iscsi_login_refused_outside_the_acl(inv, portal, open_iscsi):
    """A hypervisor's kernel initiator with a name outside the ACL and a wrong
    secret is refused (tgt admits a listed address or a listed name; the
    CHAP secret is what keeps a foreign initiator out from a listed address)."""
    hypervisor = inv.group("hypervisors")[0]
    host = inv.node(hypervisor)
    address = portal["address"]
    _iscsiadm_node(host, address, portal["iqn"], portal["user"], "wrong-secret-for-test",
                   "iqn.2026-11.org.example:intruder")
    try:
        login = host.run("iscsiadm -m node -T %s -p %s --login", portal["iqn"], address)
        assert login.rc != 0, login.stdout
        assert "authorization failure" in (login.stdout + login.stderr).lower(), login.stdout + login.stderr
    finally:
        host.run("iscsiadm -m node -T %s -p %s --logout", portal["iqn"], address)
        host.run("iscsiadm -m node -o delete -T %s", portal["iqn"])
        host.check_output("sed -i 's/^InitiatorName=.*/InitiatorName=%s/' /etc/iscsi/initiatorname.iscsi",
                          inv.hostvars(hypervisor)["iscsi_initiator_name"])

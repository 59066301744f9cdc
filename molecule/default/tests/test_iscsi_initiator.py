"""iscsi_initiator role on the hypervisors (container lab). The kernel
here cannot load iscsi_tcp, so the role makes the node record without
discovery and no session; what it configured is checked, and proven usable
by logging in with exactly those settings through libiscsi (userspace).
Kernel sessions are proven in the VM lab."""

from __future__ import annotations

import pytest

import labkit  # noqa: F401  (makes the collection importable)
from ansible_collections.havirt.cluster.plugins.module_utils.iscsiadm import parse_node_record

pytestmark = pytest.mark.usefixtures("libiscsi_tools")


def _record(inv, hypervisor, portal):
    out = inv.node(hypervisor).check_output("iscsiadm -m node -T %s -p %s:3260 -S", portal["iqn"], portal["address"])
    return parse_node_record(out)


def _initiator_name(inv, hypervisor):
    text = inv.node(hypervisor).file("/etc/iscsi/initiatorname.iscsi").content_string
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("InitiatorName=")]


def test_initiator_name_is_the_inventory_one_and_private(inv, hypervisor):
    assert _initiator_name(inv, hypervisor) == [inv.hostvars(hypervisor)["iscsi_initiator_name"]]
    name_file = inv.node(hypervisor).file("/etc/iscsi/initiatorname.iscsi")
    assert name_file.mode == 0o600 and name_file.user == "root"


def test_node_record_logs_in_at_boot_with_chap(inv, hypervisor, portal):
    record = _record(inv, hypervisor, portal)
    assert record["node.startup"] == "automatic"
    assert record["node.session.auth.authmethod"] == "CHAP"
    assert record["node.session.auth.username"] == portal["user"]
    assert record["node.session.auth.password"] == portal["secret"]
    # A day by default: failed I/O under OCFS2 restarts every hypervisor (roles/iscsi_initiator/README.md).
    assert record["node.session.timeo.replacement_timeout"] == str(
        inv.role_var(hypervisor, "iscsi_initiator", "iscsi_initiator_replacement_timeout"))
    host = inv.node(hypervisor)
    # iscsid and the boot login are enabled where the kernel has iscsi_tcp;
    # not in the container lab, where they could only hang for 90 s at boot
    # and hold back libvirtd (and the cluster manager after it).
    has_transport = host.file("/sys/module/iscsi_tcp").exists
    assert host.service("iscsid").is_enabled == has_transport
    assert host.service("open-iscsi").is_enabled == has_transport


def test_the_configured_settings_log_in(inv, hypervisor, portal):
    """Name from the node's own file, user and secret from its own record:
    with them the target admits the initiator and shows the LUN."""
    record = _record(inv, hypervisor, portal)
    url = (f"iscsi://{record['node.session.auth.username']}%{record['node.session.auth.password']}"
           f"@{record['node.conn[0].address']}:{record['node.conn[0].port']}/{record['node.name']}/1")
    size = inv.node(hypervisor).run("iscsi-readcapacity16 -s -i %s %s", _initiator_name(inv, hypervisor)[0], url)
    assert size.rc == 0, size.stderr
    assert int(size.stdout) > 0


def test_no_session_is_pretended(inv, hypervisor):
    out = inv.node(hypervisor).run("iscsiadm -m session")
    assert out.rc == 21 and "No active sessions" in out.stderr

"""ocfs2 role in the container lab: the kernel here has no ocfs2, so the
role configures O2CB (cluster.conf, /etc/default/o2cb) and says it cannot
go further; the mount itself is proven in the VM lab."""

from __future__ import annotations

from labkit.ocfs2 import check_cluster_conf


def test_cluster_conf_identical_and_from_the_inventory(inv, hypervisor):
    check_cluster_conf(inv, hypervisor)


def test_nothing_pretends_to_be_mounted(inv, hypervisor):
    mount = inv.role_var(hypervisor, "ocfs2", "ocfs2_mount_point")
    host = inv.node(hypervisor)
    assert host.run("findmnt -n %s", mount).rc != 0
    assert mount not in host.file("/etc/fstab").content_string


def test_storage_node_is_not_an_ocfs2_node(inv, storage_node):
    assert not inv.node(storage_node).file("/etc/ocfs2/cluster.conf").exists

"""What both labs check of the OCFS2 cluster configuration."""

from __future__ import annotations

from ansible_collections.havirt.cluster.plugins.module_utils.o2cb import parse_config


def expected_nodes(inv, hypervisor):
    """The nodes the inventory describes, as parse_config returns them."""
    port = inv.role_var(hypervisor, "ocfs2", "ocfs2_port")
    return [dict(name=name, ip=inv.hostvars(name)["havirt_cluster_address"], port=port, number=number)
            for number, name in enumerate(inv.group("hypervisors"))]


def check_cluster_conf(inv, hypervisor):
    """cluster.conf on this hypervisor holds exactly the inventory's cluster,
    and is the same file as on the first hypervisor."""
    text = inv.node(hypervisor).file("/etc/ocfs2/cluster.conf").content_string
    clusters = parse_config(text)
    name = inv.role_var(hypervisor, "ocfs2", "ocfs2_cluster_name")
    assert [c["name"] for c in clusters] == [name], text
    assert clusters[0]["nodes"] == expected_nodes(inv, hypervisor), text
    first = inv.group("hypervisors")[0]
    assert text == inv.node(first).file("/etc/ocfs2/cluster.conf").content_string
    boot = inv.node(hypervisor).file("/etc/default/o2cb").content_string
    assert f"O2CB_BOOTCLUSTER={name}\n" in boot and "O2CB_ENABLED=true\n" in boot

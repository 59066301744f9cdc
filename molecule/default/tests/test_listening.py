"""Nothing listens on an address the inventory does not name: every TCP
and UDP socket of every node (`ss -H -ltnup`) is on loopback, on the
node's cluster address or its guest-network address, or is one of the few
wildcards accepted below, each with its reason. Then what each role binds:
chrony's NTP server on servdb's cluster address only and on no hypervisor,
QEMU's incoming migrations on each hypervisor's cluster address, and
libvirtd's plain TCP socket off. Read-only (the parser and its checks:
tools/labkit/listening.py, unit-tested in tests/repo/test_lab_listening.py)."""

from __future__ import annotations

import pytest

from labkit import listening

# Wildcard listeners accepted on the nodes. Keep it short: anything else
# binds to an address the inventory names.
ACCEPTED = (
    # Debian's stock sshd (ListenAddress 0.0.0.0 and ::). It is the
    # administrators' way in, and Ansible's (the labs reach it on the
    # cluster address or through a NAT port); where it listens is the site's
    # choice: no role of the collection configures it, and binding it from
    # here could lock the administrator out.
    listening.Wildcard("tcp", 22, ("sshd",), "the administrators' and Ansible's way in (sshd's own configuration)"),
)
ADDRESS_VARIABLES = ("havirt_cluster_address", "havirt_lab_guest_address")


@pytest.fixture(scope="module")
def sockets(inv):
    """Each node's listening sockets, read once, and the raw ss output."""
    read = {}
    for name in inv.group("cluster"):
        output = inv.node(name).check_output(listening.COMMAND)
        read[name] = (listening.parse(output), output)
    return read


def test_nothing_listens_on_an_address_the_inventory_does_not_name(inv, node_name, sockets):
    hv = inv.hostvars(node_name)
    named = [hv[variable] for variable in ADDRESS_VARIABLES if hv.get(variable)]
    found, output = sockets[node_name]
    wrong = listening.unexpected(found, named, ACCEPTED)
    assert not wrong, (f"{node_name} listens where the inventory names no address of it (it names {named}):\n"
                       + "\n".join(sock.line for sock in wrong) + f"\n\nss -H -ltnup:\n{output}")


def test_every_accepted_wildcard_is_still_needed(sockets):
    everything = [sock for found, _ in sockets.values() for sock in found]
    assert not listening.unused(everything, ACCEPTED)


def test_ntp_is_served_on_the_time_servers_cluster_address_only(inv, sockets):
    for name in inv.group("cluster"):
        found = sockets[name][0]
        ntp = sorted(sock.address for sock in found if sock.protocol == "udp" and sock.port == 123)
        servers = inv.group("storage")
        assert ntp == ([inv.hostvars(name)["havirt_cluster_address"]] if name in servers else []), (name, ntp)
        command = {sock.address for sock in found if sock.protocol == "udp" and sock.port == 323}
        assert "127.0.0.1" in command and command <= {"127.0.0.1", "::1"}, (name, command)


def test_incoming_migrations_listen_on_the_cluster_address(inv, hypervisor):
    """libvirt's qemu.conf as libvirtd reads it (the last setting wins): a
    migration's QEMU listens only while it receives, so the sockets above
    never show it."""
    conf = inv.node(hypervisor).file("/etc/libvirt/qemu.conf").content_string
    settings = [line.split("=", 1)[1].strip() for line in conf.splitlines()
                if line.split("=", 1)[0].strip() == "migration_address"]
    assert settings[-1:] == [f'"{inv.hostvars(hypervisor)["havirt_cluster_address"]}"'], settings


def test_libvirtds_plain_tcp_socket_is_off(inv, hypervisor):
    unit = inv.node(hypervisor).service("libvirtd-tcp.socket")
    assert not unit.is_enabled
    assert not unit.is_running

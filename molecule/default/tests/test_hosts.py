"""hosts role: every node resolves every cluster name to its inventory address."""

from __future__ import annotations

import re

from labkit import vms as lab_vms

BEGIN = "# BEGIN havirt.cluster"
END = "# END havirt.cluster"


def _address(inv, name):
    return inv.hostvars(name)["havirt_cluster_address"]


def test_block_matches_inventory(inv, node_name):
    content = inv.node(node_name).file("/etc/hosts").content_string
    assert content.count(BEGIN) == 1 and content.count(END) == 1, content
    block = content.split(BEGIN, 1)[1].split(END, 1)[0].splitlines()[1:]
    entries = {line.split()[-1]: line.split()[0] for line in block if line.strip()}
    expected = {name: _address(inv, name) for name in inv.group("cluster")}
    assert entries == expected


def test_lines_outside_the_block_are_kept(inv, node_name):
    content = inv.node(node_name).file("/etc/hosts").content_string
    assert re.search(r"^127\.0\.0\.1\s+localhost$", content, re.M)


def test_names_resolve_to_inventory_addresses(inv, node_name):
    host = inv.node(node_name)
    for other in inv.group("cluster"):
        out = host.check_output(f"getent ahostsv4 {other}")
        assert out.split()[0] == _address(inv, other), out


def test_nodes_reach_each_other_by_name(inv, node_name):
    """Resolution plus reachability: a TCP connection to sshd by name."""
    host = inv.node(node_name)
    for other in inv.group("cluster"):
        if other == node_name:
            continue
        cmd = host.run(
            "python3 -c \"import socket,sys; s=socket.create_connection((sys.argv[1], 22), 5); "
            "print(s.getpeername()[0])\" %s", other)
        assert cmd.rc == 0, cmd.stderr
        assert cmd.stdout.strip() == _address(inv, other)


def test_no_cluster_name_on_loopback(inv, node_name):
    content = inv.node(node_name).file("/etc/hosts").content_string
    for line in content.splitlines():
        if line.startswith("127."):
            assert not set(line.split()[1:]) & set(inv.group("cluster")), line


def test_debian_loopback_name_line_is_removed(inv):
    """A Debian install maps the node's own name to 127.0.1.1; corosync and
    o2cb would then use loopback. site.yml removes such lines for cluster
    names (and only for them), reporting a change (its names-and-time part:
    --tags base)."""
    name = inv.group("hypervisors")[0]
    host = inv.node(name)
    host.check_output(f"printf '127.0.1.1\\t{name}.example.org {name}\\n127.0.1.1\\tnot-a-node\\n' >> /etc/hosts")
    try:
        run = lab_vms.playbook("site.yml", "--tags", "base", "--limit", name, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(rf"^{name}\s+: ok=\d+\s+changed=1\s", run.stdout, re.M), run.stdout
        lines = host.file("/etc/hosts").content_string.splitlines()
        assert not [line for line in lines if line.startswith("127.0.1.1") and name in line.split()], lines
        assert "127.0.1.1\tnot-a-node" in lines
    finally:
        host.run("sed -i '/^127\\.0\\.1\\.1/d' /etc/hosts")

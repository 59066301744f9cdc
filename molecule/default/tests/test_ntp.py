"""ntp role: chrony everywhere, servdb serves the cluster, hypervisors select it."""

from __future__ import annotations

import time

# chronyd samples its sources every few seconds after start (iburst); give
# it time, but a node that never selects servdb fails the test.
SYNC_TIMEOUT = 120


def _sources_until_selected(host, address):
    deadline = time.monotonic() + SYNC_TIMEOUT
    while True:
        out = host.check_output("chronyc -n sources")
        selected = [line for line in out.splitlines() if line.startswith("^*")]
        if selected and selected[0].split()[1] == address:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"{address} not selected after {SYNC_TIMEOUT}s:\n{out}")
        time.sleep(2)


def _tracking(host):
    out = host.check_output("chronyc -n tracking")
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def test_chrony_running_and_enabled(inv, node_name):
    service = inv.node(node_name).service("chrony")
    assert service.is_running
    assert service.is_enabled


def test_hypervisor_selects_storage_node(inv, hypervisor):
    host = inv.node(hypervisor)
    servers = [inv.hostvars(s)["havirt_cluster_address"] for s in inv.group("storage")]
    _sources_until_selected(host, servers[0])
    tracking = _tracking(host)
    assert tracking["Reference ID"].endswith(f"({servers[0]})"), tracking
    assert tracking["Leap status"] == "Normal", tracking
    # servdb serves at its fallback stratum, so its clients are one below.
    assert int(tracking["Stratum"]) == inv.role_var(hypervisor, "ntp", "ntp_local_stratum") + 1


def test_storage_node_serves_local_clock_without_upstream(inv, storage_node):
    """The lab lists no upstream server: servdb runs on its local-stratum fallback."""
    hv = inv.hostvars(storage_node)
    assert hv["ntp_upstream_servers"] == []
    tracking = _tracking(inv.node(storage_node))
    assert tracking["Stratum"] == str(inv.role_var(storage_node, "ntp", "ntp_local_stratum")), tracking
    assert tracking["Leap status"] == "Normal", tracking


def test_storage_node_has_served_every_hypervisor(inv, storage_node):
    """servdb's own log of NTP clients lists both hypervisors (clients poll
    at least every 64 s at first: wait up to two polls)."""
    wanted = {inv.hostvars(h)["havirt_cluster_address"] for h in inv.group("hypervisors")}
    deadline = time.monotonic() + 140
    while True:
        out = inv.node(storage_node).check_output("chronyc -n clients")
        served = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
        if wanted <= served:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"servdb has not served {sorted(wanted - served)}:\n{out}")
        time.sleep(5)


def test_chronyd_never_sets_the_shared_clock(inv, node_name):
    """The lab's nodes share the host's kernel clock: chronyd must run with -x."""
    assert inv.role_var(node_name, "ntp", "ntp_clock_control") is False
    args = inv.node(node_name).check_output("ps -o args= -C chronyd")
    assert all(" -x" in line for line in args.splitlines()), args


def test_no_default_debian_pool(inv, node_name):
    conf = inv.node(node_name).file("/etc/chrony/chrony.conf").content_string
    assert "debian.pool.ntp.org" not in conf

"""Xen in the Xen lab (molecule/xenlab: inventories/vmlab with
inventories/xenlab over it): each hypervisor boots Xen with Debian as dom0,
site.yml set them up with havirt_hypervisor_type xen, and the cluster runs
its VMs as paravirtualised (PV) Xen domains through libvirt's libxl driver.
Read-only: the VMs' moves and crashes are test_ocfs2_vms.py's, on Xen as on
KVM. Deselected in the KVM lab (tools/labkit/order.py, XEN_ONLY)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from labkit.vms import file_vms, resource, running_on, vm_spec, vms, wait_for_http, xen_virt_caps

GUEST_WAIT = 420


def _hypervisors(inv):
    return inv.group("hypervisors")


def test_each_hypervisor_runs_xen_with_debian_as_dom0_of_the_inventorys_size(inv):
    seen = {}
    for node in _hypervisors(inv):
        host = inv.node(node)
        assert "control_d" in host.file("/proc/xen/capabilities").content_string, node
        info = dict(line.split(":", 1) for line in host.check_output("xl info").splitlines() if ":" in line)
        info = {key.strip(): value.strip() for key, value in info.items()}
        dom0 = host.check_output("xl list 0").splitlines()[-1].split()
        seen[node] = (f"{info['xen_major']}.{info['xen_minor']}", int(dom0[2]), int(info["nr_cpus"]))
        assert int(dom0[2]) == int(inv.hostvars(node)["hypervisor_xen_dom0_memory_mb"]), (node, dom0)
    print(f"Xen version, dom0 MiB, CPUs: {seen}")
    assert len({version for version, _, _ in seen.values()}) == 1, seen


def test_libvirt_on_each_hypervisor_reaches_xen_without_being_told(inv):
    """virsh alone (libvirt.conf's uri_default, written by the hypervisor
    role) talks to Xen's libxl driver, not to the QEMU driver installed
    beside it: what an administrator types finds the cluster's domains."""
    for node in _hypervisors(inv):
        host = inv.node(node)
        assert host.check_output("virsh uri").strip() == "xen:///system", node
        assert re.search(r"Running hypervisor: Xen \d", host.check_output("virsh version")), node


def test_libvirtd_starts_after_xens_daemons_and_with_its_tls_socket(inv):
    """libvirtd's own unit waits for xencommons.service, which Debian calls
    xen.service: without the role's drop-in, a rebooted hypervisor's
    libvirtd came up before xenstored and had no libxl driver for as long
    as it ran. And every start of libvirtd brings its TLS socket up (it
    cannot start once libvirtd runs): the migrations' way in."""
    for host in _hypervisors(inv):
        node = inv.node(host)
        after = node.check_output("systemctl show libvirtd.service -p After --value").split()
        wants = node.check_output("systemctl show libvirtd.service -p Wants --value").split()
        assert "xen.service" in after and "libvirtd-tls.socket" in after, (host, after)
        assert "libvirtd-tls.socket" in wants, (host, wants)
        assert node.check_output("systemctl is-active libvirtd-tls.socket").strip() == "active", host


def test_xendomains_cannot_save_or_restore_guests_behind_the_cluster(inv):
    for node in _hypervisors(inv):
        state = inv.node(node).run("systemctl is-enabled xendomains.service").stdout.strip()
        assert state == "masked", (node, state)


@pytest.mark.parametrize("vm", [v["name"] for v in vms()])
def test_each_vm_runs_once_as_a_pv_domain_from_its_xml(inv, vm):
    wait_for_http(vm, timeout=GUEST_WAIT)
    where = running_on(vm)
    assert len(where) == 1, where
    host = inv.node(where[0])
    # Xen's own view, not only libvirt's.
    assert host.run("xl domid %s", vm).rc == 0
    other = next(n for n in _hypervisors(inv) if n != where[0])
    assert inv.node(other).run("xl domid %s", vm).rc != 0, f"{vm} runs on both {where[0]} and {other}"
    xml = ET.fromstring(host.check_output("virsh dumpxml %s", vm))
    assert xml.get("type") == "xen"
    # PV, no hardware virtualisation needed: the role writes "xen", libxl
    # gives it back as "linux" (its other name for a PV guest).
    assert xml.find("os/type").text in ("xen", "linux"), xml.find("os/type").text
    if vm in file_vms():
        disk = xml.find("devices/disk")
        assert disk.find("source").get("file") == vm_spec(vm)["disk"]["path"]
        assert disk.find("driver").get("name") == "qemu"  # the qdisk back end: raw or qcow2


def test_the_cluster_moves_them_through_libxl_tunnelled_in_tls(inv):
    """Each VM's resource drives Xen (xen:///system) and migrates it
    peer-to-peer through the destination's libvirtd over TLS, the stream
    tunnelled in that connection: libxl's own stream has no encryption."""
    storage = inv.node(inv.group("storage")[0])
    for vm in (v["name"] for v in vms()):
        params = {}
        for name in ("hypervisor", "remoteuri", "migrate_options"):
            out = storage.check_output("crm_resource --resource %s --get-parameter %s", resource(vm), name)
            params[name] = out.strip().splitlines()[-1]
        assert params == {"hypervisor": "xen:///system", "remoteuri": "xen+tls://%n/system",
                          "migrate_options": "--p2p --tunnelled"}, (vm, params)


def test_pv_guests_move_cold_where_xen_has_no_shadow_paging(inv):
    """The hypervisor role's local fact reads Xen's capabilities (xl info:
    virt_caps), and a PV guest's resource allows live migration only where
    every hypervisor's Xen has shadow paging: Debian 13's has none, and a
    PV guest's live migration fails there at once (the xen_migration
    README, Xen)."""
    storage = inv.node(inv.group("storage")[0])
    caps = {host: xen_virt_caps(host) for host in _hypervisors(inv)}
    for host in _hypervisors(inv):
        fact = json.loads(inv.node(host).check_output("/etc/ansible/facts.d/havirt_xen.fact"))
        assert "pv" in caps[host] and set(fact.get("virt_caps", [])) == caps[host], (host, fact)
    live = all("shadow" in c for c in caps.values())
    print(f"Xen's virt_caps: {caps}")
    for vm in (v["name"] for v in vms()):
        out = storage.check_output("crm_resource --resource %s --meta --get-parameter allow-migrate", resource(vm))
        assert out.strip().splitlines()[-1] == str(live).lower(), (vm, out)


@pytest.mark.parametrize("vm", [v["name"] for v in vms()])
def test_each_vms_console_is_kept_in_a_file_where_it_runs(inv, vm):
    """xenconsoled logs each guest's console (hypervisor_xen_console_log_dir),
    as QEMU's serial log on KVM: the lab guest prints its kernel's boot on
    Xen's console (hvc0), so the log holds it. Runs before
    test_ocfs2_vms.py moves them (order.py): each VM booted where it runs."""
    wait_for_http(vm, timeout=GUEST_WAIT)
    host = inv.node(running_on(vm)[0])
    log_dir = inv.hostvars(running_on(vm)[0]).get("hypervisor_xen_console_log_dir", "/var/log/xen/console")
    assert "--log=guest" in host.check_output("pgrep -a -x xenconsoled")
    log = host.file(f"{log_dir}/guest-{vm}.log")
    assert log.exists, f"{vm}: no console log in {log_dir}"
    # What the guest printed on its console (hvc0): the line its init
    # prints once up. (On the Debian 12 lab's Xen 4.17 the log held only
    # that line, none of its kernel's boot: why was not looked into. This
    # test had not run on Xen 4.20 before.)
    text = log.content_string
    assert f"guest {vm} up: " in text, f"{vm}: its console is not in {log_dir}/guest-{vm}.log: {text[-500:]}"

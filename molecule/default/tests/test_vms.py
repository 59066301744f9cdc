"""vms role in the container lab: each of the inventory's VMs is a real
QEMU guest (TCG) with its disk on servdb's iSCSI LUN through QEMU's own
client, on the guests' bridge, answering servdb on its own address."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from labkit.sizes import truncate_bytes
from labkit.vms import defined_on, disk_lun, http_get, running_on, vm_spec, vms

pytestmark = pytest.mark.usefixtures("probe_tools")
NAMES = [v["name"] for v in vms()]


@pytest.mark.parametrize("vm", NAMES)
def test_runs_on_exactly_one_hypervisor_and_is_defined_only_there(vm):
    where = running_on(vm)
    assert len(where) == 1, where
    assert defined_on(vm) == where


@pytest.mark.parametrize("vm", NAMES)
def test_answers_ping_and_http_from_the_storage_node(inv, vm):
    storage = inv.node(inv.group("storage")[0])
    ping = storage.run("ping -c 3 -i 0.2 -W 2 %s", vm_spec(vm)["address"])
    assert ping.rc == 0, ping.stdout + ping.stderr
    assert http_get(vm).strip() == f"<h1>{vm}</h1>"


@pytest.mark.parametrize("vm", NAMES)
def test_disk_is_its_iscsi_lun_opened_by_qemu(inv, vm):
    host = inv.node(running_on(vm)[0])
    hv = inv.hostvars(inv.group("storage")[0])
    blk = host.check_output("virsh domblklist %s", vm)
    assert f"{hv['havirt_iscsi_target_iqn']}/{vm_spec(vm)['disk']['lun']}" in blk
    xml = host.check_output("virsh dumpxml %s", vm)
    assert f"<iqn name='{hv['havirt_vms_iscsi_initiator_name']}'/>" in xml
    assert "usage='havirt-iscsi-chap'" in xml
    # QEMU's iSCSI session to the target is real: the LUN's size is the inventory's.
    size = host.check_output("virsh domblkinfo %s vda", vm)
    capacity = re.search(r"^Capacity:\s+(\d+)$", size, re.M)
    assert capacity and int(capacity.group(1)) == truncate_bytes(disk_lun(vm)["size"]), (disk_lun(vm), size)


@pytest.mark.parametrize("vm", NAMES)
def test_never_autostarted(inv, vm):
    host = inv.node(running_on(vm)[0])
    assert "Autostart:      disable" in host.check_output("virsh dominfo %s", vm)


@pytest.mark.parametrize("vm", NAMES)
def test_has_a_guest_agent_channel_that_its_busybox_never_opens(inv, vm):
    host = inv.node(running_on(vm)[0])
    assert "name='org.qemu.guest_agent.0'" in host.check_output("virsh dumpxml %s", vm)
    # libvirt knows the channel (else "not configured") and that no agent opened it in the guest.
    ping = host.run("virsh qemu-agent-command %s '{\"execute\":\"guest-ping\"}' --timeout 2", vm)
    assert ping.rc != 0 and "QEMU guest agent is not connected" in ping.stderr, ping.stdout + ping.stderr


def test_domain_xml_is_identical_on_every_hypervisor(inv):
    sums = {h: inv.node(h).check_output("cd /etc/havirt/vms && sha256sum *.xml") for h in inv.group("hypervisors")}
    assert len(set(sums.values())) == 1, sums
    assert sorted(line.split()[1] for line in next(iter(sums.values())).splitlines()) == sorted(f"{n}.xml" for n in NAMES)


SEEDED = [v["name"] for v in vms() if v.get("cloud_init")]
SEED_DIR = "/var/lib/havirt/seeds"


def test_every_hypervisor_has_the_same_seed_of_each_vm_with_cloud_init(inv):
    assert SEEDED, "the lab's inventory gives no VM cloud_init: nothing here would be tested"
    sums = {h: inv.node(h).check_output(f"cd {SEED_DIR} && sha256sum *.iso") for h in inv.group("hypervisors")}
    assert len(set(sums.values())) == 1, sums
    assert sorted(line.split()[1] for line in next(iter(sums.values())).splitlines()) == \
        sorted(f"{n}.iso" for n in SEEDED)
    for host in inv.group("hypervisors"):
        seed = inv.node(host).file(f"{SEED_DIR}/{SEEDED[0]}.iso")
        assert seed.user == "root" and seed.mode == 0o644, host


@pytest.mark.parametrize("vm", NAMES)
def test_a_guest_reads_the_seed_it_was_given(inv, vm):
    """Through the guest's own kernel: its second disk is an ISO 9660
    labelled cidata whose files are what cloud-init would read."""
    said = http_get(vm, "/cgi-bin/seed", timeout=10)
    if vm not in SEEDED:
        assert said.strip() == "no seed", said
        return
    host = inv.node(running_on(vm)[0])
    xml = host.check_output("virsh dumpxml %s", vm)
    seeds = [d for d in ElementTree.fromstring(xml).iterfind("devices/disk")
             if d.find("source") is not None and d.find("source").get("file") == f"{SEED_DIR}/{vm}.iso"]
    assert len(seeds) == 1, xml
    assert seeds[0].find("target").attrib == {"dev": "vdb", "bus": "virtio"} and seeds[0].find("readonly") is not None
    # Not relabelled: the file stays root's while QEMU reads it (checked above on every hypervisor).
    assert seeds[0].find("source/seclabel").attrib == {"model": "dac", "relabel": "no"}, xml
    uuid = re.search(r"<uuid>([0-9a-f-]+)</uuid>", xml).group(1)
    assert f"instance-id: {uuid}\nlocal-hostname: {vm}\n" in said, said
    mac = re.search(r"<mac address='([0-9a-f:]+)'/>", xml).group(1)
    hv = inv.hostvars(inv.group("hypervisors")[0])
    prefix = hv.get("vms_cloud_init_prefix", 24)
    assert f"macaddress: {mac}" in said and f"- {vm_spec(vm)['address']}/{prefix}" in said, said
    assert f"via: {hv['vms_cloud_init_gateway']}" in said and f"- {hv['vms_cloud_init_search'][0]}" in said, said


@pytest.mark.parametrize("vm", NAMES)
def test_a_vnc_console_only_where_asked_and_only_on_loopback(inv, vm):
    """The README's console: VNC on loopback of the hypervisor that runs
    the VM (reached through SSH), or none."""
    host = inv.node(running_on(vm)[0])
    display = host.run("virsh domdisplay %s", vm)
    if vm_spec(vm).get("graphics", "none") != "vnc":
        assert display.rc != 0 and "No graphical display found" in display.stderr, display.stdout + display.stderr
        return
    found = re.fullmatch(r"vnc://127\.0\.0\.1:(\d+)", display.stdout.strip())
    assert display.rc == 0 and found, display.stdout + display.stderr
    port = 5900 + int(found.group(1))
    # QEMU's VNC server greets with its protocol version.
    hello = host.check_output(f"timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; head -c 12 <&3'")
    assert hello.startswith("RFB 003.008"), hello


def test_chap_secret_is_private(inv, hypervisor):
    host = inv.node(hypervisor)
    uuid = host.check_output("virsh secret-list | awk '/havirt-iscsi-chap/ {print $1}'")
    assert uuid
    out = host.run("virsh secret-get-value %s", uuid)
    assert out.rc != 0 and "secret is private" in out.stderr
    value_file = host.file("/etc/havirt/secrets/iscsi-chap")
    assert value_file.mode == 0o600 and value_file.user == "root"


def test_guest_bridge_has_the_inventory_nic_and_no_address(inv, hypervisor):
    host = inv.node(hypervisor)
    bridge = inv.role_var(hypervisor, "vms", "vms_bridge")
    port = host.check_output("ip -o link show master %s", bridge)
    nic = inv.role_var(hypervisor, "vms", "vms_bridge_interface")
    assert nic and nic in port, (nic, port)
    assert host.check_output("ip -4 -o addr show dev %s", bridge) == ""
    # ... and the NICs of the guests running here are on it.
    guests_here = [vm for vm in NAMES if hypervisor in running_on(vm)]
    assert port.count("vnet") == len(guests_here), (port, guests_here)


@pytest.mark.parametrize("vm", NAMES)
def test_a_second_start_on_the_other_hypervisor_is_refused_by_the_lock_manager(inv, vm):
    """The cluster manager starts each VM from its XML file, whose lease the
    running QEMU holds (lockd, in the lease directory both hypervisors
    share): starting the same file on the other hypervisor must fail
    before a second guest opens the disk."""
    where = running_on(vm)
    other = next(h for h in inv.group("hypervisors") if h not in where)
    lock_dir = inv.hostvars(other)["havirt_vms_lock_dir"]
    assert inv.node(other).file(f"{lock_dir}/{vm}").exists
    run = inv.node(other).run("virsh create /etc/havirt/vms/%s.xml", vm)
    if run.rc == 0:  # never leave a second copy running, even when the test fails
        inv.node(other).run("virsh destroy %s", vm)
    assert run.rc != 0
    assert f"Lockspace resource '{vm}' is locked" in run.stderr, run.stderr
    assert running_on(vm) == where


def test_libvirt_uses_lockd_with_the_shared_lease_directory(inv, hypervisor):
    node = inv.node(hypervisor)
    assert node.file("/etc/libvirt/qemu.conf").contains('^lock_manager = "lockd"$')
    lock_dir = inv.hostvars(hypervisor)["havirt_vms_lock_dir"]
    assert node.file("/etc/libvirt/qemu-lockd.conf").contains(f'^file_lockspace_dir = "{lock_dir}"$')

"""The vms role's domain XML, rendered offline for each hypervisor type and
disk kind, and validated against libvirt's own schema (virt-xml-validate):
the Xen path cannot boot in the labs, so this is how far it is checked."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from offline_templating import render as render_template

ROLE = Path(__file__).resolve().parents[2] / "roles" / "vms"


def render(vm: dict, **settings) -> str:
    variables = {}
    for part in ("defaults", "vars"):
        variables.update(yaml.safe_load((ROLE / part / "main.yml").read_text()))
    variables.update(
        ansible_managed="Ansible managed", havirt_vms=[vm], havirt_iscsi_target_iqn="iqn.2026-11.org.example:servdb.cluster",
        havirt_vms_iscsi_initiator_name="iqn.2026-11.org.example:vms", havirt_iscsi_chap_user="havirt",
        havirt_iscsi_chap_password="a-secret-of-16ch", groups={"storage": ["servdb"]},
        hostvars={"servdb": {"havirt_cluster_address": "192.168.10.10"}}, vm=vm, **settings)
    return render_template(ROLE / "templates" / "domain.xml.j2", variables)


ISCSI_VM = {"name": "passata", "memory_mb": 512, "vcpus": 2, "preferred": "servvirt1", "disk": {"lun": 2}}
FILE_VM = {"name": "speedauth", "memory_mb": 1024, "preferred": "servvirt1", "disk": {"path": "/cluster/vms/speedauth.img"}}
BLOCK_VM = {"name": "masterauth", "memory_mb": 1024, "preferred": "servvirt2",
            "disk": {"path": "/dev/disk/by-path/ip-192.168.10.10:3260-iscsi-iqn.2026-11.org.example:servdb.cluster-lun-3"}}
CASES = {
    "kvm-iscsi": (ISCSI_VM, {}),
    "kvm-file": (FILE_VM, {}),
    "kvm-block": (BLOCK_VM, {}),
    "qemu-direct-boot": (dict(ISCSI_VM, kernel="/var/lib/havirt/boot/vmlinuz", initrd="/var/lib/havirt/boot/initrd.img",
                              cmdline="console=ttyS0"), {"vms_domain_type": "qemu", "vms_cpu_mode": "none"}),
    "qemu-e1000": (dict(FILE_VM, nic_model="e1000"), {"vms_domain_type": "qemu", "vms_cpu_mode": "none"}),
    "kvm-uefi": (dict(FILE_VM, firmware="uefi"), {}),
    "qemu-uefi-default": (ISCSI_VM, {"vms_domain_type": "qemu", "vms_cpu_mode": "none", "vms_firmware": "uefi"}),
    "xen-file": (FILE_VM, {"vms_domain_type": "xen"}),
    "xen-block": (BLOCK_VM, {"vms_domain_type": "xen"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_for_libvirt(case, tmp_path):
    if not shutil.which("virt-xml-validate"):
        pytest.fail("virt-xml-validate is missing: tools/install-deps installs libvirt-clients")
    path = tmp_path / "domain.xml"
    path.write_text(render(*CASES[case][:1], **CASES[case][1]))
    run = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr + path.read_text()


def test_kvm_iscsi_disk_logs_in_with_the_vms_initiator_and_a_secret():
    root = ET.fromstring(render(ISCSI_VM))
    assert root.get("type") == "kvm"
    assert root.find("./cpu").get("mode") == "host-model"
    source = root.find("./devices/disk/source")
    assert source.get("protocol") == "iscsi"
    assert source.get("name") == "iqn.2026-11.org.example:servdb.cluster/2"
    assert source.find("host").attrib == {"name": "192.168.10.10", "port": "3260"}
    assert source.find("initiator/iqn").get("name") == "iqn.2026-11.org.example:vms"
    assert source.find("auth").get("username") == "havirt"
    assert source.find("auth/secret").attrib == {"type": "iscsi", "usage": "havirt-iscsi-chap"}
    # The secret itself is never in the domain XML.
    assert "a-secret-of-16ch" not in render(ISCSI_VM)


def test_xen_domain_uses_xen_devices():
    root = ET.fromstring(render(BLOCK_VM, vms_domain_type="xen"))
    assert root.get("type") == "xen"
    assert root.find("./os/type").text == "hvm" and root.find("./os/type").get("machine") is None
    disk = root.find("./devices/disk")
    assert disk.get("type") == "block"
    assert disk.find("driver").get("name") == "phy"
    assert disk.find("target").attrib == {"dev": "xvda", "bus": "xen"}
    assert root.find("./devices/interface/model").get("type") == "netfront"
    assert root.find("./cpu") is None


def test_nic_model():
    assert ET.fromstring(render(FILE_VM)).find("./devices/interface/model").get("type") == "virtio"
    assert ET.fromstring(render(dict(FILE_VM, nic_model="e1000"))).find("./devices/interface/model").get("type") == "e1000"


def test_identity_is_stable_and_distinct():
    a, b = ET.fromstring(render(ISCSI_VM)), ET.fromstring(render(FILE_VM))
    assert a.findtext("uuid") == ET.fromstring(render(ISCSI_VM)).findtext("uuid")
    assert a.findtext("uuid") != b.findtext("uuid")
    mac_a = a.find("./devices/interface/mac").get("address")
    assert mac_a.startswith("52:54:00:") and len(mac_a) == 17
    assert mac_a != b.find("./devices/interface/mac").get("address")


def test_never_autostarted_and_console_logged():
    text = render(FILE_VM)
    assert "autostart" not in text
    assert ET.fromstring(text).find("./devices/serial/log").get("file") == "/var/log/libvirt/qemu/speedauth-console.log"


@pytest.mark.parametrize("case", ["kvm-iscsi", "qemu-direct-boot", "xen-file"])
def test_a_guest_agent_channel_on_qemu_only(case):
    vm, settings = CASES[case]
    root = ET.fromstring(render(vm, **settings))
    channels = [c.find("target").attrib for c in root.iter("channel")]
    if settings.get("vms_domain_type") == "xen":
        assert channels == []
    else:
        assert channels == [{"type": "virtio", "name": "org.qemu.guest_agent.0"}]


def test_uefi_lets_libvirt_pick_ovmf_without_secure_boot_and_bios_stays_the_default():
    for vm, settings in ((dict(FILE_VM, firmware="uefi"), {}), (FILE_VM, {"vms_firmware": "uefi"})):
        os_ = ET.fromstring(render(vm, **settings)).find("./os")
        assert os_.get("firmware") == "efi"
        assert {feature.get("name"): feature.get("enabled") for feature in os_.findall("./firmware/feature")} == {
            "secure-boot": "no", "enrolled-keys": "no"}
        assert os_.find("./boot").get("dev") == "hd"
        # The same machine type as BIOS VMs: a VM moves between hypervisors of either firmware's VMs.
        assert os_.find("./type").get("machine") == "pc"
    for vm, settings in ((FILE_VM, {}), (dict(FILE_VM, firmware="bios"), {"vms_firmware": "uefi"})):
        os_ = ET.fromstring(render(vm, **settings)).find("./os")
        assert os_.get("firmware") is None and os_.find("./firmware") is None

"""The vms role's checks of havirt_vms (plugins/filter/vms_problems.py):
one sentence per problem, naming the VM; the lab's VMs pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.vms_problems import (
    vms_iscsi_problems, vms_network_problems, vms_problems, vms_purge_plan)

ROOT = Path(__file__).resolve().parents[4]
HYPERVISORS = ["servvirt1", "servvirt2"]
IQN = "iqn.2026-11.org.havirt.lab:cluster"
QEMU = "iqn.2026-11.org.havirt.lab:qemu"


def _vms(*changes):
    """The container lab's three VMs, each updated with the dict of ``changes`` at its index."""
    roles = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "cluster" / "roles.yml").read_text())
    vms = [dict(vm) for vm in roles["havirt_vms"]]
    for index, change in enumerate(changes):
        vms[index].update(change)
    return vms


def _problems(vms, **kwargs):
    kwargs.setdefault("lun_count", 4)
    kwargs.setdefault("ocfs2_lun", 1)
    return vms_problems(vms, HYPERVISORS, **kwargs)


def test_the_lab_vms_pass():
    assert _problems(_vms()) == []


@pytest.mark.parametrize("change,expected", [
    ({"preferred": "servdb"}, "passata: preferred hypervisor 'servdb' is not in group 'hypervisors' (servvirt1, "
                              "servvirt2): a VM never runs on the storage node"),
    ({"name": "-bad"}, "-bad: the name must be 1 to 63 letters, digits and '-', not starting with '-'"),
    ({"name": "x" * 64}, "the name must be 1 to 63"),
    ({"memory_mb": 0}, "passata: memory_mb must be a number above 0 (got 0)"),
    ({"memory_mb": "lots"}, "passata: memory_mb must be a number above 0 (got 'lots')"),
    ({"vcpus": -1}, "passata: vcpus must be a number above 0 (got -1)"),
    ({"disk": {"lun": 1}}, "passata: LUN 1 holds the OCFS2 store (havirt_ocfs2_lun): a disk opened by a guest"),
    ({"disk": {"lun": 5}}, "passata: LUN 5 is not one the storage node exports (LUNs 1 to 4 in iscsi_target_luns)"),
    ({"disk": {"lun": 0}}, "passata: LUN 0 is not one the storage node exports"),
    ({"disk": {"lun": 2, "path": "/cluster/x.img"}}, "passata: disk must name exactly one of lun"),
    ({"disk": None}, "passata: disk must name exactly one of lun"),
    ({"disk": {"drbd": "nope"}}, "passata: DRBD resource 'nope' is not in havirt_drbd_resources (none)"),
    ({"disk": {"path": "cluster/x.img"}}, "passata: disk path 'cluster/x.img' must be an absolute, normalized path"),
    ({"disk": {"path": "/cluster/../x.img"}}, "must be an absolute, normalized path"),
    ({"disk": {"path": "/cluster/vms/"}}, "must be an absolute, normalized path"),
    ({"disk": {"path": "/cluster/x.img", "format": "vmdk"}}, "passata: disk format 'vmdk': images are raw or qcow2"),
    ({"disk": {"path": "/cluster/x.img", "size": "1.5G"}}, "passata: disk size '1.5G' is not a size: write bytes"),
    ({"disk": {"path": "/cluster/x.img", "size": 0}}, "passata: disk size 0 is not above 0"),
    ({"disk": {"path": "/dev/sdb", "size": "1G"}},
     "passata: /dev/sdb is a block device: format and size are for image files"),
    ({"disk": {"lun": 2, "size": "1G"}}, "passata: format and size are for image files ({path: ...}); a LUN's size"),
])
def test_a_vm_problem_names_the_vm(change, expected):
    problems = _problems(_vms(change))
    assert any(expected in problem for problem in problems), problems


def test_uefi_is_for_kvm_and_qemu_and_firmware_is_bios_or_uefi():
    assert _problems(_vms({"firmware": "uefi"}), domain_type="qemu") == []
    assert _problems(_vms(), domain_type="kvm", firmware="uefi") == []
    assert _problems(_vms(), domain_type="xen") == []
    assert _problems(_vms({"firmware": "uefi"}), domain_type="xen") == [
        "passata: firmware uefi is for KVM/QEMU hypervisors; on Xen the role boots HVM guests with SeaBIOS "
        "(firmware: bios, or vms_firmware: bios)"]
    # vms_firmware uefi on Xen: every VM that names none is refused, one that says bios passes.
    problems = _problems(_vms({"firmware": "bios"}), domain_type="xen", firmware="uefi")
    assert len(problems) == len(_vms()) - 1 and not [problem for problem in problems if "passata" in problem]
    assert _problems(_vms({"firmware": "efi"})) == ["passata: firmware must be bios or uefi, got 'efi'"]


def test_two_vms_on_one_disk_are_named_together():
    assert "passata and speedauth would share LUN 3: a disk opened by two guests is destroyed" in \
        _problems(_vms({"disk": {"lun": 3}}))
    problems = _problems(_vms({"disk": {"path": "/cluster/a.img"}}, {"disk": {"path": "/cluster/a.img"}}))
    assert "passata and speedauth would share the disk /cluster/a.img: a disk opened by two guests is destroyed" in problems


def test_image_files_and_devices_pass():
    assert _problems(_vms({"disk": {"path": "/cluster/vms/passata.qcow2", "format": "qcow2", "size": "20G"}},
                          {"disk": {"path": "/cluster/vms/speedauth.img", "size": 67108864}},
                          {"disk": {"path": "/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.x-lun-4"}})) == []


@pytest.mark.parametrize("image,expected", [
    ({}, "passata: image must name exactly one of src (an image file on the controller) or url"),
    ({"src": "/x.qcow2", "url": "https://h/x.qcow2"}, "passata: image must name exactly one of src"),
    ("debian.qcow2", "passata: image must name exactly one of src"),
    ({"src": "debian.qcow2"}, "passata: image src 'debian.qcow2' is not an image file on the controller"),
    ({"src": "/nonexistent/debian.qcow2"}, "passata: image src '/nonexistent/debian.qcow2' is not an image file"),
    ({"url": "https://cloud.debian.org/images/debian-13-genericcloud-amd64.qcow2"},
     "passata: an image fetched from a URL needs its checksum (sha256:..."),
    ({"url": "file:///etc/passwd", "checksum": "sha256:" + "a" * 64}, "passata: image url 'file:///etc/passwd' is not"),
    ({"url": "https://h/x.qcow2", "checksum": "sha256:abc"}, "passata: image checksum 'sha256:abc' is not ALGORITHM:HEX"),
])
def test_an_image_problem_names_the_vm(image, expected):
    problems = _problems(_vms({"image": image}))
    assert any(expected in problem for problem in problems), problems


def test_images_pass_on_luns_drbd_resources_and_image_files_only(tmp_path):
    local = tmp_path / "debian.qcow2"
    local.write_bytes(b"QFI\xfb")
    url = {"url": "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2",
           "checksum": "sha512:" + "0" * 128}
    assert _problems(_vms({"image": {"src": str(local)}},
                          {"image": url, "disk": {"path": "/cluster/vms/speedauth.qcow2", "format": "qcow2"}},
                          {"image": {"src": str(local), "checksum": "sha256:" + "f" * 64}})) == []
    resources = [{"name": "passata", "minor": 1}]
    assert _problems(_vms({"image": {"src": str(local)}, "disk": {"drbd": "passata"}}), drbd_resources=resources,
                     storage_modes=["iscsi_ocfs2", "drbd"]) == []
    problems = _problems(_vms({"image": {"src": str(local)}, "disk": {"path": "/dev/sdb"}}), drbd_resources=resources,
                         storage_modes=["iscsi_ocfs2", "drbd"])
    assert problems == ["passata: an image is written into a LUN ({lun: N}), a DRBD resource ({drbd: R}) or an image "
                        "file ({path: ...} on the store) only; for another block device, write it by hand on the node "
                        "that holds it (qemu-img convert -n -O raw IMAGE DEVICE, the device blank) and leave image out"]


def test_two_vms_with_one_name():
    assert "two VMs are named passata: each needs its own name" in _problems(_vms({}, {"name": "passata"}))


def test_drbd_vms_need_their_own_resource_the_mode_and_the_cluster():
    resources = [{"name": "passata", "minor": 1}, {"name": "scratch", "minor": 2}]
    vms = _vms({"disk": {"drbd": "passata"}}, {"disk": {"drbd": "passata"}})
    problems = _problems(vms, drbd_resources=resources, storage_modes=["iscsi_ocfs2"], cluster_managed=False)
    assert "passata and speedauth would share the DRBD resource passata: a VM moves alone, and with it its " \
           "resource's primary" in problems
    assert "passata: its disk is a DRBD resource but havirt_storage_modes (iscsi_ocfs2) lacks drbd" in problems
    assert any(p.startswith("passata: a VM on DRBD needs the cluster manager") for p in problems)
    ok = _problems(_vms({"disk": {"drbd": "passata"}}), drbd_resources=resources, storage_modes=["iscsi_ocfs2", "drbd"])
    assert ok == []


def test_shared_storage_disks_need_iscsi_ocfs2_and_only_drbd_has_no_ocfs2_lun():
    problems = _problems(_vms(), storage_modes=["drbd"], ocfs2_lun=0)
    assert "passata: its disk is on the storage node ({lun}) but havirt_storage_modes (drbd) lacks iscsi_ocfs2" in problems
    assert not any("OCFS2 store" in p for p in _problems(_vms({"disk": {"lun": 1}}), ocfs2_lun=0))


@pytest.mark.parametrize("modes", [[], ["ceph"], ["iscsi_ocfs2", "ceph"]])
def test_unknown_storage_modes(modes):
    assert any(p.startswith("havirt_storage_modes must list iscsi_ocfs2, drbd or both") for p in _problems(_vms(), storage_modes=modes))


def test_bad_shapes():
    assert _problems(["passata"]) == ["havirt_vms[0]: a VM is a dict (name, memory_mb, preferred, disk...), got 'passata'"]
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        vms_problems({"name": "passata"}, HYPERVISORS)


def test_two_vms_with_lun_values_that_are_not_numbers_are_not_said_to_share_one():
    problems = _problems(_vms({"disk": {"lun": "x"}}, {"disk": {"lun": "y"}}))
    assert [p for p in problems if "LUN" in p] == [
        "passata: LUN 'x' is not one the storage node exports (LUNs 1 to 4 in iscsi_target_luns)",
        "speedauth: LUN 'y' is not one the storage node exports (LUNs 1 to 4 in iscsi_target_luns)"], problems


def test_qemu_iscsi_settings_of_the_lab_pass():
    assert vms_iscsi_problems("kvm", QEMU, IQN, "10.210.1.10", admitted=[QEMU]) == []
    assert vms_iscsi_problems("qemu", QEMU, IQN, "10.210.1.10") == []


@pytest.mark.parametrize("args,kwargs,expected", [
    (("xen", QEMU, IQN, "10.210.1.10"), {}, "the domain type is xen, and Xen's libxl has no iSCSI client"),
    (("kvm", "qemu", IQN, "10.210.1.10"), {}, "havirt_vms_iscsi_initiator_name 'qemu' is not an iSCSI name"),
    (("kvm", QEMU, IQN, "10.210.1.10"), {"admitted": ["iqn.2026-11.org.havirt.lab:other"]},
     "the target's ACL (iscsi_target_extra_initiators: iqn.2026-11.org.havirt.lab:other) does not admit QEMU's "
     "initiator name " + QEMU),
    (("kvm", QEMU, "iqn.2026-11.Org", "10.210.1.10"), {}, "the target's IQN 'iqn.2026-11.Org' is not an IQN"),
    (("kvm", QEMU, IQN, ""), {}, "the target's address (vms_iscsi_portal_address) is empty"),
])
def test_a_qemu_iscsi_problem_is_named(args, kwargs, expected):
    problems = vms_iscsi_problems(*args, **kwargs)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_the_lab_guest_network_passes(tmp_path):
    kernel = tmp_path / "vmlinuz"
    kernel.write_text("")
    assert vms_network_problems(_vms(), "brguest", "eth2", [{"src": str(kernel), "dest": "/x"}]) == []
    assert vms_network_problems(_vms(), "brguest", "52:54:00:0a:d2:0b") == []
    assert vms_network_problems(_vms(), "brguest", "") == []


def test_each_guest_network_problem_is_named(tmp_path):
    vms = _vms({"mac": "52:54:00:00:00:01"}, {"mac": "52:54:00:00:00:01"}, {"mac": "52:54:00:00:00:0G"})
    assert vms_network_problems(vms, "br-guests-too-long", "br-guests-too-long", [{"src": str(tmp_path / "no")}]) == [
        "the guest bridge 'br-guests-too-long' must be an interface name (letters, digits, '_', '.', '-'; 15 "
        "characters at most)",
        "the bridge's NIC 'br-guests-too-long' must be an interface name (15 characters at most) or its MAC address "
        "(lower case)",
        "speedauth: MAC 52:54:00:00:00:01 is already passata's: two guests with one MAC break both",
        "masterauth: MAC '52:54:00:00:00:0G' must be six lower-case hex pairs (52:54:00:12:34:56)",
        "vms_files: %s does not exist on the controller" % (tmp_path / "no")]
    assert vms_network_problems([], "brguest", "brguest") == ["the bridge's NIC cannot be the bridge brguest itself"]


@pytest.mark.parametrize("change,expected", [
    ({"avoid": "speedauth"}, "passata: avoid must be a list of names (VMs or tags), got 'speedauth'"),
    ({"tags": ["bad tag"]}, "passata: tags must be a list of names (VMs' tags), got ['bad tag']"),
    ({"avoid": ["nobody"]}, "passata: avoid names nobody, neither a VM of havirt_vms nor a tag of one"),
    ({"avoid": ["passata"]}, "passata: a VM cannot avoid itself"),
    ({"tags": ["speedauth"]}, "passata: the tag speedauth is also a VM's name: avoid could not tell them apart"),
    ({"avoid_strict": "yes"}, "passata: avoid_strict must be true or false, got 'yes'"),
    ({"priority": "high"}, "passata: priority must be a whole number (higher starts first), got 'high'"),
])
def test_placement_fields_are_checked(change, expected):
    problems = _problems(_vms(change))
    assert any(expected in problem for problem in problems), problems


def test_vms_kept_apart_by_name_or_tag_pass():
    assert _problems(_vms({"tags": ["dns"], "avoid": ["dns"], "priority": 10},
                          {"tags": ["dns"], "avoid": ["dns", "masterauth"], "avoid_strict": True})) == []


LUNS = [{"path": "/srv/iscsi/cluster.img", "size": "2G"}, {"path": "/srv/iscsi/passata.img", "size": "64M"},
        {"path": "/dev/vg0/speedauth"}, {"path": "/srv/iscsi/masterauth.img", "size": "64M"}]


@pytest.mark.parametrize("change,expected", [
    ({"purge_disk": True}, "passata: purge_disk deletes the disk of a VM marked state: absent; passata is not"),
    ({"state": "gone"}, "passata: state must be present or absent, got 'gone'"),
    ({"state": "absent", "purge_disk": "yes"}, "passata: purge_disk must be true or false, got 'yes'"),
    ({"state": "absent", "purge_disk": True, "disk": {"drbd": "r0"}},
     "passata: purge_disk does not take down a DRBD resource: remove r0 from havirt_drbd_resources"),
    ({"state": "absent", "purge_disk": True, "disk": {"path": "/dev/disk/by-path/x-lun-2"}},
     "passata: purge_disk does not erase a block device (/dev/disk/by-path/x-lun-2)"),
    ({"state": "absent", "purge_disk": True, "disk": {"lun": 3}},
     "passata: purge_disk does not erase a block device (LUN 3 is /dev/vg0/speedauth on the storage node)"),
])
def test_purge_disk_is_refused_where_the_role_does_not_delete(change, expected):
    vms = _vms({}, {"disk": {"lun": 4}}, {"disk": {"path": "/cluster/vms/masterauth.img"}})
    vms[0].update(change)
    problems = _problems(vms, luns=LUNS, storage_modes=["iscsi_ocfs2", "drbd"], drbd_resources=[{"name": "r0"}])
    assert any(p.startswith(expected) for p in problems), problems


def test_purge_disk_of_an_absent_vm_on_a_lun_file_or_an_image_file_passes():
    vms = _vms({"state": "absent", "purge_disk": True},
               {"state": "absent", "purge_disk": True, "disk": {"path": "/cluster/vms/speedauth.qcow2", "format": "qcow2"}})
    assert _problems(vms, luns=LUNS) == []


def test_the_purge_plan_names_the_files_the_luns_and_the_seeds():
    vms = _vms({"state": "absent", "purge_disk": True},
               {"state": "absent", "purge_disk": True, "disk": {"path": "/cluster/vms/speedauth.qcow2"}},
               {"state": "absent"})
    assert vms_purge_plan(vms, LUNS) == {
        "files": ["/cluster/vms/speedauth.qcow2"],
        "luns": [{"name": "passata", "lun": 2, "path": "/srv/iscsi/passata.img"}],
        "seeds": ["passata", "speedauth"]}
    # Kept: a VM absent without purge_disk, a present one, purge_disk false.
    assert vms_purge_plan(_vms({"state": "absent", "purge_disk": False}), LUNS) == {"files": [], "luns": [], "seeds": []}
    with pytest.raises(AnsibleFilterError, match="LUN 9 is not in iscsi_target_luns"):
        vms_purge_plan([{"name": "x", "state": "absent", "purge_disk": True, "disk": {"lun": 9}}], LUNS)

"""havirt.cluster.vm_restore's failures against a stand-in for libvirt (the
labs run the real one: test_backup.py): what restore.yml's rescue reads to
decide whether the VM may start again. Domain XML of passata on its DRBD
device in the VM lab; qemu-img's answers captured on Debian 13."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb  # noqa: E402
from ansible_collections.havirt.cluster.plugins.modules import vm_restore  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures"
XML = (FIXTURES / "domain_disk" / "passata-vmlab-drbd-live.xml").read_text()
# qemu-img info --output=json of a 64 MiB raw disk.
INFO = (FIXTURES / "qemu_img" / "trixie-info-raw.stdout").read_text()
SIZE = json.loads(INFO)["virtual-size"]


class Domain:
    def __init__(self, active=False):
        self.active = active

    def isActive(self):
        return self.active

    def XMLDesc(self, flags):
        return XML


@pytest.fixture
def backup(tmp_path, monkeypatch):
    """A backup of passata's vda in tmp_path, of `size` bytes; libvirt answering with a stopped passata."""
    def make(size=SIZE, active=False):
        disks = vb.disks_of(XML)
        sizes = dict((d["target"], {"virtual": size, "actual": 4096}) for d in disks)
        data = vb.manifest("passata", "20261207T103000Z", "s", "e", vb.CRASH_CONSISTENT, "no agent", disks, XML, sizes)
        (tmp_path / vb.MANIFEST).write_text(json.dumps(data))
        for disk in data["disks"]:
            (tmp_path / disk["file"]).write_bytes(b"")

        class Connection:
            def lookupByName(self, name):
                return Domain(active)

            def close(self):
                pass
        monkeypatch.setattr(vm_restore.libvirt, "open", lambda uri: Connection())
        return tmp_path
    return make


def run(run_module, path, commands, check_mode=False):
    def answer(argv, data):
        return commands(argv)
    return run_module(vm_restore.main, dict(name="passata", path=str(path)), run_command=answer,
                      binary="/usr/bin/qemu-img", check_mode=check_mode)


def qemu_img(convert_rc=0):
    def answer(argv):
        if argv[1] == "info":
            return 0, INFO, ""
        assert argv[1] == "convert" and argv[-1] == "/dev/drbd1", argv
        return (convert_rc, "", "qemu-img: error while writing at byte 0: Input/output error" if convert_rc else "")
    return answer


def test_a_restore_says_it_wrote_the_disk(run_module, backup):
    how, result = run(run_module, backup(), qemu_img())
    assert how == "exit" and result["touched"] is True
    assert [(w["target"], w["to"]) for w in result["written"]] == [("vda", "/dev/drbd1")]


def test_a_write_that_fails_says_the_disk_was_touched(run_module, backup):
    how, result = run(run_module, backup(), qemu_img(convert_rc=1))
    assert how == "fail" and result["touched"] is True and result["failed_disk"] == "vda"
    assert result["written"] == [] and "Input/output error" in result["msg"]


@pytest.mark.parametrize("size, active, says", [
    (SIZE * 2, False, "disk vda of passata (/dev/drbd1) holds 64 MiB (67108864 bytes) and the backup's vda 128 MiB"),
    (SIZE, True, "passata runs on this host: stop it through the cluster first"),
])
def test_refusals_before_writing_leave_the_disk_untouched(run_module, backup, size, active, says):
    def never_convert(argv):
        assert argv[1] == "info", "nothing may be written: %s" % argv
        return 0, INFO, ""
    how, result = run(run_module, backup(size, active), never_convert)
    assert how == "fail" and says in result["msg"]
    assert not result.get("touched")


def test_check_mode_touches_nothing(run_module, backup):
    def never_convert(argv):
        assert argv[1] == "info", argv
        return 0, INFO, ""
    how, result = run(run_module, backup(), never_convert, check_mode=True)
    assert how == "exit" and result["touched"] is False and len(result["written"]) == 1

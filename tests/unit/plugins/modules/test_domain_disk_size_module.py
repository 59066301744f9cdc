"""havirt.cluster.domain_disk_size against a stand-in for libvirt's domain
(the VM lab runs the real one: test_disk_grow.py), with the domain XML
libvirt gave for passata on its DRBD device in the VM lab."""

from __future__ import annotations

from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from ansible_collections.havirt.cluster.plugins.modules import domain_disk_size  # noqa: E402
from libvirt_fake import Error  # noqa: E402

XML = (Path(__file__).parents[1] / "module_utils" / "fixtures" / "domain_disk" / "passata-vmlab-drbd-live.xml").read_text()
MIB = 1024 * 1024


class Domain:
    def __init__(self, capacity, physical, active=True, refuse=None):
        self.capacity, self.physical, self.active, self.refuse = capacity, physical, active, refuse
        self.resized = []

    def isActive(self):
        return self.active

    def XMLDesc(self, flags):
        return XML

    def blockInfo(self, target, flags):
        assert target == "vda"
        return [self.capacity, self.capacity, self.physical]

    def blockResize(self, target, size, flags):
        assert flags == libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES
        if self.refuse:
            raise Error(libvirt.VIR_ERR_INTERNAL_ERROR, self.refuse)
        self.resized.append((target, size))
        self.capacity = size


@pytest.fixture
def with_domain(monkeypatch):
    def install(domain):
        class Connection:
            def lookupByName(self, name):
                if domain is None:
                    raise Error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
                return domain
        monkeypatch.setattr(domain_disk_size.libvirt, "open", lambda uri: Connection())
        return domain
    return install


def run(run_module, check_mode=False, diff=False, **args):
    return run_module(domain_disk_size.main, dict(name="passata", **args), run_command=None, binary=None,
                      check_mode=check_mode, diff=diff)


def test_a_grown_drbd_device_is_given_to_the_running_guest(run_module, with_domain):
    dom = with_domain(Domain(320 * MIB, 384 * MIB))
    how, result = run(run_module, diff=True)
    assert how == "exit" and result["changed"] and dom.resized == [("vda", 384 * MIB)]
    assert (result["previous_size"], result["size"], result["source"]) == (320 * MIB, 384 * MIB, "/dev/drbd1")
    assert result["diff"]["after"] == "passata vda: 384 MiB (402653184 bytes)\n"


def test_check_mode_says_it_would_grow_and_does_not(run_module, with_domain):
    dom = with_domain(Domain(320 * MIB, 384 * MIB))
    how, result = run(run_module, check_mode=True)
    assert how == "exit" and result["changed"] and result["action"] == "grow" and dom.resized == []


def test_a_guest_that_sees_its_device_whole_is_left_alone(run_module, with_domain):
    dom = with_domain(Domain(384 * MIB, 384 * MIB))
    how, result = run(run_module)
    assert how == "exit" and not result["changed"] and result["action"] == "none" and dom.resized == []


@pytest.mark.parametrize("domain", [None, Domain(320 * MIB, 384 * MIB, active=False)])
def test_a_vm_that_does_not_run_here_is_not_touched(run_module, with_domain, domain):
    with_domain(domain)
    how, result = run(run_module)
    assert how == "exit" and not result["changed"] and not result["running"]
    assert domain is None or domain.resized == []


def test_a_smaller_size_is_refused(run_module, with_domain):
    dom = with_domain(Domain(384 * MIB, 384 * MIB))
    how, result = run(run_module, size="320M")
    assert how == "fail" and "never shrunk" in result["msg"] and dom.resized == []


def test_qemus_refusal_is_reported_with_the_vm_running_as_it_was(run_module, with_domain):
    with_domain(Domain(320 * MIB, 384 * MIB, refuse="Cannot grow device files"))
    how, result = run(run_module)
    assert how == "fail" and "Cannot grow device files" in result["msg"] and "runs on as it was" in result["msg"]


def test_a_size_that_is_not_a_size(run_module, with_domain):
    with_domain(Domain(320 * MIB, 384 * MIB))
    how, result = run(run_module, size="big")
    assert how == "fail" and "is not a size" in result["msg"]

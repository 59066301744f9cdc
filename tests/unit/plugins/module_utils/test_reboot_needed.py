"""module_utils/reboot_needed: what a package upgrade left running, from
/proc files captured on a trixie lab node after libzstd1's security update
(2026-12-05) and on this machine (a copied binary run, then deleted)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.havirt.cluster.plugins.module_utils.reboot_needed import (
    deleted_code, newest_kernel, reasons, systemd_unit)

FIXTURES = Path(__file__).parent / "fixtures" / "reboot_needed"
LIBZSTD = "/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.7"


def _read(name):
    return (FIXTURES / name).read_text()


def test_a_replaced_library_is_found_once():
    assert deleted_code(_read("trixie-systemd-after-libzstd-upgrade.maps")) == [LIBZSTD]


def test_a_deleted_program_under_usr_is_found():
    assert deleted_code(_read("host-copied-binary-deleted.maps")) == ["/usr/local/bin/libvirtd"]


def test_a_process_the_upgrade_did_not_touch_has_none():
    assert deleted_code(_read("trixie-pacemakerd-unchanged.maps")) == []


def test_deleted_files_that_are_not_code_are_not_counted():
    maps = ("7f00-7f01 rw-s 00000000 00:01 1234 /memfd:libvirt-qemu (deleted)\n"
            "7f01-7f02 rw-s 00000000 00:1a 99 /dev/shm/qb-corosync-event (deleted)\n"
            "7f02-7f03 r--p 00000000 00:1a 98 /tmp/ffi1234 (deleted)\n")
    assert deleted_code(maps) == []


def test_the_unit_from_cgroup_v2_and_v1():
    assert systemd_unit(_read("trixie-container-init.cgroup")) == "init.scope"
    # Hybrid (this host): the name=systemd line and the 0:: line agree.
    assert systemd_unit(_read("trixie-container-udevd.cgroup")) == "systemd-udevd.service"
    assert systemd_unit("0::/user.slice/user-0.slice/session-3.scope\n") == "session-3.scope"
    assert systemd_unit("0::/\n") == ""


def test_the_newest_kernel_compares_numbers_as_numbers():
    assert newest_kernel(["6.12.9+deb13-amd64", "6.12.57+deb13-amd64", "6.12.48+deb13-amd64"]) == "6.12.57+deb13-amd64"
    assert newest_kernel(["6.1.0-9-amd64", "6.1.0-41-amd64"]) == "6.1.0-41-amd64"
    assert newest_kernel([]) == ""
    assert newest_kernel(["extramodules"]) == ""


def test_reasons_say_what_and_where():
    processes = [{"pid": 1, "name": "systemd", "unit": "init.scope", "files": [LIBZSTD]},
                 {"pid": 812, "name": "virtqemud", "unit": "virtqemud.service", "files": ["/usr/sbin/virtqemud"]},
                 {"pid": 900, "name": "stray", "unit": "", "files": ["/usr/bin/stray"]}]
    assert reasons("6.12.48+deb13-amd64", ["6.12.48+deb13-amd64", "6.12.57+deb13-amd64"], "linux-image-6.12.57\n",
                   processes) == [
        "kernel 6.12.57+deb13-amd64 is installed, 6.12.48+deb13-amd64 runs",
        "the packages ask for a restart (/run/reboot-required: linux-image-6.12.57)",
        "init.scope runs replaced code (%s)" % LIBZSTD,
        "stray (pid 900) runs replaced code (/usr/bin/stray)",
        "virtqemud.service runs replaced code (/usr/sbin/virtqemud)"]


def test_nothing_to_restart():
    assert reasons("6.12.57+deb13-amd64", ["6.12.57+deb13-amd64"], None, []) == []
    # A container: no kernel installed, the host's runs.
    assert reasons("6.1.0-41-amd64", [], None, []) == []
    assert reasons("6.1.0-41-amd64", [], "", []) == ["the packages ask for a restart (/run/reboot-required)"]


def test_many_files_of_one_unit_are_shortened():
    files = ["/usr/lib/a.so", "/usr/lib/b.so", "/usr/lib/c.so", "/usr/lib/d.so", "/usr/lib/e.so"]
    assert reasons("", [], None, [{"pid": 5, "name": "x", "unit": "x.service", "files": files}]) == \
        ["x.service runs replaced code (/usr/lib/a.so, /usr/lib/b.so, /usr/lib/c.so and 2 more)"]

"""open_or_fail (plugins/module_utils/libvirt_connection.py): the
connection, or the module failed with the URI, libvirt's reason and what
to check; libvirt's own error printing silenced first."""

from __future__ import annotations

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils.libvirt_connection import open_or_fail


class Failed(Exception):
    pass


class FakeModule:
    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])


class FakeLibvirt:
    class libvirtError(Exception):  # noqa: N801 (libvirt's name)
        pass

    def __init__(self, error=None):
        self.error, self.handler, self.opened = error, None, []

    def registerErrorHandler(self, handler, ctx):  # noqa: N802 (libvirt's name)
        self.handler = handler

    def open(self, uri):
        if self.error:
            raise self.libvirtError(self.error)
        self.opened.append(uri)
        return "conn to " + uri


def test_the_connection_is_opened_with_the_errors_silenced():
    lib = FakeLibvirt()
    assert open_or_fail(FakeModule(), lib, "qemu:///system") == "conn to qemu:///system"
    assert lib.opened == ["qemu:///system"] and lib.handler is not None and lib.handler(None, None) is None


def test_a_connection_refused_fails_with_what_to_check():
    lib = FakeLibvirt("Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory")
    with pytest.raises(Failed) as failed:
        open_or_fail(FakeModule(), lib, "qemu:///system")
    assert str(failed.value) == ("cannot open qemu:///system on this host: Failed to connect socket to "
                                 "'/var/run/libvirt/libvirt-sock': No such file or directory (is libvirtd running?)")

"""What the module tests' stand-ins for libvirt raise: libvirt's own
exception class (the modules catch libvirt.libvirtError and read its
code), made with the code and text the lab's libvirt gave. Imported by the
tests beside it (pytest puts this directory on sys.path, as
tests/unit/roles/role_files.py); they skip when libvirt-python is not
installed."""

from __future__ import annotations

import libvirt


class Error(libvirt.libvirtError):
    def __init__(self, code, text="error"):
        super().__init__(text)
        self.code = code

    def get_error_code(self):
        return self.code

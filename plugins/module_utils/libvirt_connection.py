# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirt connection for the modules that read one host's domains
(domain_state, guest_agent_info): opened the same way, refused with the
same message."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


def open_or_fail(module, libvirt, uri):
    """libvirt.open(uri), errors raised as exceptions rather than printed by
    libvirt's default handler; a connection that cannot be opened fails the
    module with what to check. ``libvirt`` is the module the caller
    imported (its import is optional: missing_required_lib first)."""
    libvirt.registerErrorHandler(lambda *args: None, None)
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot open %s on this host: %s (is libvirtd running?)" % (uri, exc))

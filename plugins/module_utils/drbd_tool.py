# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drbdadm and /proc/drbd for the DRBD modules (drbd_resource, drbd_role):
runs the tool through the module, reads the kernel's state through the
plain parsers of module_utils/drbd, and records what it changed."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import (
    DrbdOutputError, not_in_config, no_metadata, parse_gi, parse_proc_drbd)

PROC_DRBD = "/proc/drbd"


class DrbdFailure(Exception):
    """A step failed; the module reports it with fail_json."""


class Drbd(object):
    """Runs drbdadm, reads /proc/drbd; records what it changed."""

    def __init__(self, module, name, proc_drbd=PROC_DRBD):
        self.module = module
        self.name = name
        self.proc_drbd = proc_drbd
        self.drbdadm = module.get_bin_path("drbdadm")
        config_file = module.params.get("config_file")
        self.config = ["--config-file", config_file] if config_file else []
        self.ran = []
        if not self.drbdadm:
            raise DrbdFailure("drbdadm was not found: install the drbd-utils package")

    def run(self, args, change=False, allow_rc=(0,)):
        argv = [self.drbdadm] + self.config + list(args)
        rc, out, err = self.module.run_command(argv)
        if change:
            self.ran.append(" ".join(argv))
        if rc not in allow_rc:
            raise DrbdFailure("'%s' failed (rc %s): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out, err

    def config_value(self, what):
        rc, out, err = self.run(["sh-%s" % what, self.name], allow_rc=(0, 1, 10))
        if rc != 0:
            if not_in_config(err):
                raise DrbdFailure("resource %s is not in the DRBD configuration for this host (%s)"
                                  % (self.name, err.strip()))
            raise DrbdFailure("drbdadm sh-%s %s failed (rc %s): %s" % (what, self.name, rc, err.strip()))
        return out.strip()

    def status(self, minor):
        try:
            with open(self.proc_drbd) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise DrbdFailure("cannot read %s (%s): the drbd kernel module is not loaded" % (self.proc_drbd, exc))
        try:
            minors = parse_proc_drbd(text)["minors"]
        except DrbdOutputError as exc:
            raise DrbdFailure("%s: %s" % (self.proc_drbd, exc))
        found = minors.get(minor)
        if found and found["cstate"] == "Unconfigured":
            return {}
        return found or {}

    def gi(self):
        """The generation identifiers, or None when the device has no metadata.

        get-gi fails silently (rc 1, no output) without metadata; dump-md
        then says why ("No valid meta data found") or what else is wrong."""
        rc, out, err = self.run(["get-gi", self.name], allow_rc=(0, 1, 10, 20))
        if rc == 0:
            try:
                return parse_gi(out)
            except DrbdOutputError as exc:
                raise DrbdFailure("drbdadm get-gi %s: %s" % (self.name, exc))
        rc, out, err = self.run(["dump-md", self.name], allow_rc=(0, 1, 10, 20, 255))
        if no_metadata(err) or no_metadata(out):
            return None
        raise DrbdFailure("cannot read the metadata of %s (drbdadm get-gi and dump-md rc %s): %s"
                          % (self.name, rc, (err or out).strip()))

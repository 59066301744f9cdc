#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: iscsiadm
short_description: Discover, configure, log in to and report iSCSI targets with open-iscsi
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Manages one iSCSI target reached through one portal with open-iscsi's C(iscsiadm);
    the node record (created by sendtargets discovery), the record's settings (C(node.startup),
    CHAP, timeouts such as C(node.session.timeo.replacement_timeout)), the session (login and
    logout), and reports every session of the host with the block device of each LUN.
  - "Compared with M(community.general.open_iscsi), this module logs in through the portal it
    is given (C(open_iscsi) drops the portal on login and on CHAP updates, so C(iscsiadm) may try
    every portal of the target); it discovers only when the node record is missing, or with
    O(discover=always) adds new records without touching existing ones (a plain sendtargets
    discovery, as C(open_iscsi) runs it, resets every record of the portal to the defaults of
    C(iscsid.conf), so a second run is never idempotent); it reads and updates any node setting
    and reports which ones changed, with secrets never shown; after login it waits, up to
    O(device_timeout) seconds, until the kernel has attached each LUN and udev has made its
    C(/dev/disk/by-path) link (C(open_iscsi) sleeps one second and returns whatever exists);
    and it returns the host's sessions as facts (target, portal, SID, state, CHAP user, LUNs and
    devices)."
  - What C(open_iscsi) has that this module leaves out, because a cluster does not need it,
    is logging in to every target of a portal at once, and rescans.
  - CHAP secrets are written into the node record's file (C(NODES/TARGET/ADDRESS,PORT,TPGT/IFACE), or
    C(NODES/TARGET/ADDRESS,PORT) for a static record; 0600; NODES is C(/var/lib/iscsi/nodes) on Debian 13,
    C(/etc/iscsi/nodes) on Debian 12) and read back through C(iscsiadm), never given to
    C(iscsiadm -o update -v) (C(open_iscsi) does, and any user of the host sees the secret in the process
    list while it runs). Where the file is in neither place, C(iscsiadm) sets it, with a warning.
  - A changed setting applies at the next login. A session that is already logged in is not
    logged out to apply it unless O(relogin=true), since logging out under a mounted cluster
    file system would fence the node. The module returns RV(relogin_needed).
options:
  portal:
    description:
      - Address (or host name) of the target's portal.
      - A host name is resolved on the managed host, as C(iscsid) resolves it. A session through any of
        its addresses is this portal's session. The node record is the one C(iscsiadm) keeps for the name
        (made with O(discover=never), which C(iscsid) resolves again at each login) or for one of its
        addresses (discovery keeps a record under the address the target names, which must be one of them).
        A name that does not resolve on the managed host is refused before anything changes.
    type: str
    required: true
  port:
    description: TCP port of the portal.
    type: int
    default: 3260
  target:
    description: IQN of the target.
    type: str
    required: true
  state:
    description:
      - V(logged_in) makes sure the record exists with its settings and the host is logged in,
        then waits for the LUNs' block devices.
      - V(present) manages the record and its settings and leaves the session as it is.
      - V(logged_out) keeps the record and logs out.
      - V(absent) logs out and deletes the record.
    type: str
    choices: [logged_in, present, logged_out, absent]
    default: logged_in
  discover:
    description:
      - V(missing) runs sendtargets discovery only when the record for O(target) through
        O(portal) does not exist.
      - V(always) runs discovery on every call with C(--op new); records of new targets are
        added, existing ones keep their settings.
      - V(never) creates a missing record statically (C(iscsiadm -m node -o new)) without
        contacting the portal. Discovery needs the kernel's iSCSI transport; this does not.
    type: str
    choices: [missing, always, never]
    default: missing
  startup:
    description: C(node.startup) of the record; V(automatic) logs in at boot (C(open-iscsi.service)).
    type: str
    choices: [automatic, manual, onboot]
  chap_username:
    description:
      - CHAP user the initiator presents. Setting it sets C(node.session.auth.authmethod) to C(CHAP).
      - An empty string turns CHAP off (C(authmethod) C(None)).
    type: str
  chap_password:
    description: CHAP secret the initiator presents (keep it in ansible-vault). Required with a non-empty O(chap_username).
    type: str
  chap_username_in:
    description: Mutual CHAP, the user the target presents to the initiator.
    type: str
  chap_password_in:
    description: Mutual CHAP secret. Required with a non-empty O(chap_username_in).
    type: str
  settings:
    description:
      - Other node settings, by their C(iscsiadm) names, for example
        C(node.session.timeo.replacement_timeout). Values are compared as strings.
      - A name the record does not know is refused before anything changes.
    type: dict
    default: {}
  device_timeout:
    description:
      - With O(state=logged_in), seconds to wait for every LUN of the session to appear as a
        block device with its C(/dev/disk/by-path) link. V(0) does not wait.
    type: int
    default: 60
  relogin:
    description: Log out and in again when a setting of a logged-in record changed, so that it applies now.
    type: bool
    default: false
notes:
  - Needs the C(open-iscsi) package, a running C(iscsid), and for a login the kernel module
    C(iscsi_tcp) (a container cannot load it; the module says so).
  - Check mode contacts the portal for discovery with C(--op nonpersistent) (nothing is written)
    and reports what would change.
seealso:
  - module: community.general.open_iscsi
  - name: iscsiadm(8)
    description: The open-iscsi administration utility.
    link: https://github.com/open-iscsi/open-iscsi/blob/master/doc/iscsiadm.8
attributes:
  check_mode:
    description: Reads the record and sessions and runs discovery with C(--op nonpersistent); writes nothing, logs in to nothing.
    support: full
  diff_mode:
    description: Shows the record's presence, the session state and the managed settings before and after; secrets are masked.
    support: full
"""

EXAMPLES = r"""
- name: Log in to the cluster's LUNs at boot, with CHAP, and wait for the disk
  havirt.cluster.iscsiadm:
    portal: 192.168.0.10
    target: iqn.2026-11.org.example:servdb.cluster
    startup: automatic
    chap_username: cluster
    chap_password: "{{ vault_iscsi_chap_password }}"
    settings:
      node.session.timeo.replacement_timeout: 120
  register: lun

- name: Show the disk
  ansible.builtin.debug:
    msg: "{{ lun.devices }}"

- name: Log out and forget the target
  havirt.cluster.iscsiadm:
    portal: 192.168.0.10
    target: iqn.2026-11.org.example:servdb.cluster
    state: absent
"""

RETURN = r"""
devices:
  description: The C(/dev/disk/by-path) links of the target's disk LUNs, in LUN order (empty unless logged in).
  returned: always
  type: list
  elements: str
  sample: ["/dev/disk/by-path/ip-192.168.0.10:3260-iscsi-iqn.2026-11.org.example:servdb.cluster-lun-1"]
session:
  description: This target's session through this portal, as in RV(sessions), or null.
  returned: always
  type: dict
sessions:
  description: Every iSCSI session of the host after the change.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: IQN.
      type: str
    address:
      description: Portal address.
      type: str
    port:
      description: Portal port.
      type: int
    persistent_address:
      description: Address of the node record the session was made from (the host name of a record made by name).
      type: str
    persistent_port:
      description: Port of the node record the session was made from.
      type: int
    sid:
      description: Session id.
      type: int
    state:
      description: iSCSI session state (LOGGED_IN, FAILED, FREE).
      type: str
    username:
      description: CHAP user of the session, empty when none.
      type: str
    luns:
      description: LUNs; C(disk) is the kernel name (sdb), C(device) C(/dev/sdb), C(by_path) the udev link; all empty for a LUN that is not a disk.
      type: list
      elements: dict
  sample:
    - target: iqn.2026-11.org.example:servdb.cluster
      address: 192.168.0.10
      port: 3260
      tpgt: 1
      persistent_address: 192.168.0.10
      persistent_port: 3260
      sid: 1
      iface: default
      state: LOGGED_IN
      connection_state: LOGGED IN
      internal_state: NO CHANGE
      username: cluster
      luns:
        - {lun: 1, host: 2, channel: 0, id: 0, disk: sdb, state: running, device: /dev/sdb,
           by_path: "/dev/disk/by-path/ip-192.168.0.10:3260-iscsi-iqn.2026-11.org.example:servdb.cluster-lun-1"}
discovered:
  description: Targets the portal offered, when discovery ran.
  returned: when discovery ran
  type: list
  elements: dict
changed_settings:
  description: Names of the node settings that were (or in check mode would be) changed; secret values are never returned.
  returned: always
  type: list
  elements: str
  sample: [node.startup, node.session.auth.password]
relogin_needed:
  description: True when settings of a logged-in record changed and the session was not logged in again (see O(relogin)).
  returned: always
  type: bool
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.havirt.cluster.plugins.module_utils.iscsiadm import (
    by_path_name,
    explain_exit_code,
    find_offered,
    find_session,
    parse_node_record,
    parse_portal_list,
    parse_sessions,
    portal_addresses,
    portal_string,
    PortalNotResolved,
    record_files,
    record_portal,
    render_settings,
    set_record_values,
    settings_to_change,
)

AUTH_METHOD = "node.session.auth.authmethod"
AUTH_USER = "node.session.auth.username"
AUTH_PASSWORD = "node.session.auth.password"
AUTH_USER_IN = "node.session.auth.username_in"
AUTH_PASSWORD_IN = "node.session.auth.password_in"
SECRETS = (AUTH_PASSWORD, AUTH_PASSWORD_IN)
NO_OBJECTS = 21
SESSION_EXISTS = 15
# Where open-iscsi keeps node records (its build's NODE_CONFIG_DIR):
# Debian 13's 2.1.11 in /var/lib/iscsi, Debian 12's 2.1.8 in /etc/iscsi.
NODE_DIRS = ("/var/lib/iscsi/nodes", "/etc/iscsi/nodes")


class Iscsiadm(object):
    """iscsiadm through AnsibleModule.run_command, with readable failures."""

    def __init__(self, module):
        self.module = module
        self.binary = module.get_bin_path("iscsiadm")
        if not self.binary:
            module.fail_json(msg="iscsiadm not found: install the open-iscsi package on this host")
        params = module.params
        self.portal = portal_string(params["portal"], params["port"])
        self.target = params["target"]

    def run(self, args, ok=(0,), what=None):
        rc, out, err = self.module.run_command([self.binary] + args)
        if rc not in ok:
            self.module.fail_json(
                msg="%s failed (%s): %s" % (what or "iscsiadm " + " ".join(args[:4]), explain_exit_code(rc),
                                            (err or out).strip()),
                rc=rc, stdout=out, stderr=err)
        return rc, out

    def node_args(self):
        return ["-m", "node", "-T", self.target, "-p", self.portal]

    def records(self):
        """Every node record (`iscsiadm -m node`): portal and target."""
        rc, out = self.run(["-m", "node"], ok=(0, NO_OBJECTS), what="listing the node records")
        return parse_portal_list(out) if rc == 0 else []

    def record(self):
        """The node record with its secrets (-S), or None when there is none."""
        rc, out = self.run(self.node_args() + ["-S"], ok=(0, NO_OBJECTS), what="reading the node record")
        return parse_node_record(out) if rc == 0 else None

    def discover(self, op):
        rc, out = self.run(["-m", "discovery", "-t", "sendtargets", "-p", self.portal, "-o", op],
                           ok=(0, NO_OBJECTS), what="sendtargets discovery on %s" % self.portal)
        return parse_portal_list(out) if rc == 0 else []

    def new_record(self):
        self.run(self.node_args() + ["-o", "new"], what="creating the record of %s statically" % self.target)

    def update(self, name, value):
        self.run(self.node_args() + ["-o", "update", "-n", name, "-v", value],
                 what="setting %s on the record of %s" % (name, self.target))

    def write_secrets(self, record, values):
        """Set CHAP secrets in the record's own file, never on a command
        line: `iscsiadm -o update -v SECRET` shows the secret to every
        user of the host in the process list while it runs. The file is
        replaced whole (0600), then read back through iscsiadm. Where the
        file is not where open-iscsi keeps it, iscsiadm sets the secret,
        with a warning."""
        places = [place for node_dir in NODE_DIRS for place in record_files(record, node_dir)]
        path = next((place for place in places if os.path.isfile(place)), None)
        if path is None:
            self.module.warn("the node record's file of %s through %s is in none of %s: the CHAP secret was set "
                             "with iscsiadm, on its command line" % (self.target, self.portal, ", ".join(NODE_DIRS)))
            for name, value in sorted(values.items()):
                self.update(name, value)
            return
        tmp = None
        try:
            with open(path) as handle:
                text = handle.read()
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".havirt-")  # 0600 from the start
            with os.fdopen(fd, "w") as handle:
                handle.write(set_record_values(text, values))
            self.module.atomic_move(tmp, path)
            tmp = None
            os.chmod(path, 0o600)
        except (IOError, OSError) as exc:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)  # it holds the secret
            self.module.fail_json(msg="cannot write the CHAP secret into the node record %s: %s" % (path, exc))
        written = self.record() or {}
        wrong = sorted(name for name, value in values.items() if written.get(name) != value)
        if wrong:
            self.module.fail_json(msg="the node record %s does not hold the new %s after it was written: see "
                                  "`iscsiadm -m node -T %s -p %s`" % (path, ", ".join(wrong), self.target, self.portal))

    def sessions(self):
        rc, out = self.run(["-m", "session", "-P", "3"], ok=(0, NO_OBJECTS), what="listing sessions")
        return parse_sessions(out) if rc == 0 else []

    def login(self):
        self.run(self.node_args() + ["--login"], ok=(0, SESSION_EXISTS),
                 what="login to %s through %s" % (self.target, self.portal))

    def logout(self):
        self.run(self.node_args() + ["--logout"], ok=(0, NO_OBJECTS),
                 what="logout from %s through %s" % (self.target, self.portal))

    def delete(self):
        self.run(self.node_args() + ["-o", "delete"], what="deleting the record of %s" % self.target)


def wanted_settings(params):
    """The node settings the task asks for, as iscsiadm strings."""
    wanted = {}
    if params["startup"] is not None:
        wanted["node.startup"] = params["startup"]
    if params["chap_username"] is not None:
        if params["chap_username"]:
            wanted[AUTH_METHOD] = "CHAP"
            wanted[AUTH_USER] = params["chap_username"]
            wanted[AUTH_PASSWORD] = params["chap_password"]
        else:
            wanted[AUTH_METHOD] = "None"
    if params["chap_username_in"] is not None:
        wanted[AUTH_USER_IN] = params["chap_username_in"]
        wanted[AUTH_PASSWORD_IN] = params["chap_password_in"] or ""
    for name, value in params["settings"].items():
        if isinstance(value, bool):
            value = "Yes" if value else "No"
        wanted[name] = str(value)
    return wanted


def check_input(module):
    params = module.params
    if params["chap_username"] and not params["chap_password"]:
        module.fail_json(msg="chap_username is set but chap_password is empty: give the CHAP secret (from ansible-vault)")
    if params["chap_username_in"] and not params["chap_password_in"]:
        module.fail_json(msg="chap_username_in is set but chap_password_in is empty: give the mutual CHAP secret")
    if params["device_timeout"] < 0:
        module.fail_json(msg="device_timeout must be 0 (do not wait) or a number of seconds")
    for name in params["settings"]:
        if name in (AUTH_METHOD, AUTH_USER, AUTH_PASSWORD, AUTH_USER_IN, AUTH_PASSWORD_IN, "node.startup"):
            module.fail_json(msg="set %s through its own option (startup, chap_username, ...), not through settings" % name)


def describe_luns(session):
    """Add device and by_path to each LUN of a session."""
    for lun in session["luns"]:
        if lun["disk"]:
            lun["device"] = "/dev/" + lun["disk"]
            lun["by_path"] = by_path_name(session["persistent_address"] or session["address"],
                                          session["persistent_port"] or session["port"], session["target"], lun["lun"])
        else:
            lun["device"] = ""
            lun["by_path"] = ""
    return session


def disks_ready(session):
    """True when the session has at least one disk LUN and every disk's
    device node and by-path link exist."""
    disks = [lun for lun in session["luns"] if lun["disk"]]
    if not disks:
        return False
    return all(os.path.exists(lun["device"]) and os.path.exists(lun["by_path"]) for lun in disks)


def wait_for_devices(module, tool, timeout):
    """Poll the session until its LUNs are block devices with udev links."""
    params = module.params
    deadline = time.monotonic() + timeout
    udevadm = module.get_bin_path("udevadm")
    while True:
        session = find_session(tool.sessions(), tool.target, tool.addresses, params["port"])
        if session is not None:
            describe_luns(session)
            if disks_ready(session):
                return session
        if time.monotonic() >= deadline:
            break
        if udevadm:
            module.run_command([udevadm, "settle", "--timeout=5"])
        time.sleep(1)
    module.fail_json(
        msg="logged in to %s through %s, but no disk of the target appeared within %d s with its /dev/disk/by-path link: "
            "does the target export a LUN to this initiator? See `iscsiadm -m session -P 3` and the kernel log."
            % (tool.target, tool.portal, timeout),
        session=session)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            portal=dict(type="str", required=True),
            port=dict(type="int", default=3260),
            target=dict(type="str", required=True),
            state=dict(type="str", default="logged_in", choices=["logged_in", "present", "logged_out", "absent"]),
            discover=dict(type="str", default="missing", choices=["missing", "always", "never"]),
            startup=dict(type="str", choices=["automatic", "manual", "onboot"]),
            chap_username=dict(type="str"),
            chap_password=dict(type="str", no_log=True),
            chap_username_in=dict(type="str"),
            chap_password_in=dict(type="str", no_log=True),
            settings=dict(type="dict", default={}),
            device_timeout=dict(type="int", default=60),
            relogin=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    check_input(module)
    params = module.params
    state = params["state"]
    tool = Iscsiadm(module)
    try:
        tool.addresses = portal_addresses(params["portal"], params["port"])
    except PortalNotResolved as exc:
        module.fail_json(msg=str(exc))
    if len(tool.addresses) > 1:
        # A host name (itself and its addresses): its record, by the name or by an address.
        tool.portal = portal_string(record_portal(tool.records(), tool.target, tool.addresses, params["port"])
                                    or params["portal"], params["port"])
    check = module.check_mode
    result = dict(changed=False, changed_settings=[], relogin_needed=False)

    record = tool.record()
    record_existed = record is not None
    before_record = dict(record or {})
    wanted = wanted_settings(params) if state != "absent" else {}
    session = find_session(tool.sessions(), tool.target, tool.addresses, params["port"])
    before_state = "logged in" if session else "logged out"

    if state == "absent":
        if session is not None:
            result["changed"] = True
            if not check:
                tool.logout()
        if record is not None:
            result["changed"] = True
            if not check:
                tool.delete()
        after_record, after_state = None, "logged out"
    else:
        # Discovery: only for a missing record, or adding new records only.
        if params["discover"] == "never":
            if record is None:
                result["changed"] = True
                if not check:
                    tool.new_record()
                record = {} if check else tool.record()
        elif record is None or params["discover"] == "always":
            op = "nonpersistent" if check else "new"
            offered = tool.discover(op)
            result["discovered"] = offered
            offered_portal = find_offered(offered, tool.target, tool.addresses, params["port"])
            if offered_portal is None and record is None:
                module.fail_json(
                    msg="the portal %s does not offer the target %s to this initiator (offered: %s). Check the IQN, and the "
                        "target's ACL for this host's InitiatorName (/etc/iscsi/initiatorname.iscsi) and address."
                        % (tool.portal, tool.target, ", ".join(sorted(set(item["target"] for item in offered))) or "none"),
                    discovered=offered)
            if record is None:
                result["changed"] = True
                # Discovery keeps the record under the address the target named.
                tool.portal = portal_string(offered_portal["address"], params["port"])
                record = {} if check else tool.record()
        if record is None:
            module.fail_json(msg="no node record for %s through %s after creating it: see `iscsiadm -m node`" % (tool.target, tool.portal))

        changes = settings_to_change(record, wanted)
        # In check mode a record that discovery would create is not known yet.
        unknown = [name for name, old, new in changes if old is None and record]
        if unknown:
            module.fail_json(msg="unknown node setting(s) %s: see `iscsiadm -m node -T %s -p %s` for the names"
                             % (", ".join(unknown), tool.target, tool.portal))
        for name, old, new in changes:
            result["changed_settings"].append(name)
            result["changed"] = True
            if not check and name not in SECRETS:
                tool.update(name, new)
        secrets = dict((name, new) for name, old, new in changes if name in SECRETS)
        if secrets and not check:
            tool.write_secrets(record, secrets)
        after_record = dict(record)
        after_record.update(wanted)

        after_state = before_state
        if state == "logged_in":
            if session is None:
                result["changed"] = True
                after_state = "logged in"
                if not check:
                    tool.login()
            elif changes:
                if params["relogin"]:
                    result["changed"] = True
                    if not check:
                        tool.logout()
                        tool.login()
                else:
                    result["relogin_needed"] = True
        elif state == "logged_out" and session is not None:
            result["changed"] = True
            after_state = "logged out"
            if not check:
                tool.logout()
        elif state == "present" and session is not None and changes:
            result["relogin_needed"] = True

    if state == "logged_in" and not check and params["device_timeout"] > 0:
        wait_for_devices(module, tool, params["device_timeout"])

    sessions = [describe_luns(item) for item in tool.sessions()]
    result["sessions"] = sessions
    result["session"] = find_session(sessions, tool.target, tool.addresses, params["port"])
    result["devices"] = [lun["by_path"] for lun in (result["session"] or {}).get("luns", []) if lun["by_path"]]

    if module._diff:
        names = list(wanted)
        changed_names = set(result["changed_settings"])
        before = "record = %s\nsession = %s\n" % ("present" if record_existed else "absent", before_state)
        after = "record = %s\nsession = %s\n" % ("absent" if state == "absent" else "present", after_state)
        if names:
            before += render_settings(before_record, names, SECRETS)
            after += render_settings(after_record, names, SECRETS, changed_names)
        result["diff"] = dict(before=before, after=after,
                              before_header="%s via %s" % (tool.target, tool.portal),
                              after_header="%s via %s" % (tool.target, tool.portal))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

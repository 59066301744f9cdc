# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""havirt.cluster's pacemaker alert agent (written by the pacemaker role,
which puts the #!/usr/bin/python3 line on top: pacemaker executes it).

Pacemaker runs it, as hacluster, once per recipient of an <alert> in the
CIB, with the event in CRM_alert_* variables and the alert's instance
attributes (mode, relay_host, ...) in the environment. It sends one mail
(mode mail: to the recipient, through the relay) or one JSON POST (mode
webhook: to the recipient URL) for the events an operator must hear of
(send_mail: STARTTLS checks the relay's certificate and name; a login
comes from the file the role writes, 0600 hacluster, never the CIB):

- fencing: a node was fenced, or fencing it failed;
- node: a node left the cluster or came back, with whether this node's
  partition still has quorum (QUORUM LOST when not);
- resource: a VM started somewhere or was live-migrated (its new home),
  and any operation of any resource that failed (a VM that cannot start).

Run by hand (or by another havirt program) as ``havirt_alert.py --notify
KIND SEVERITY SUBJECT [DETAIL]``, it sends an event of the node's own
(a scheduled backup that failed, ...) to every recipient of the CIB's
havirt alerts, exactly as pacemaker would: one path for every alert.

Node and fencing events reach every node's agent: only one node reports
each (the first by name of those in this partition, the event's subject
excepted), so that one event gives one mail; a node whose pacemaker has
just started does not report its peers "joining" (they report its return). Every decision is a plain
function of the environment; tests/unit/roles/test_havirt_alert.py feeds
them with what pacemaker sets.
"""

from __future__ import annotations

import email.policy
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

OK_STATUS = "0"  # CRM_alert_status: the operation was executed (PCMK_EXEC_DONE)
NOTIFY_KIND = "havirt"  # CRM_alert_kind of an event sent with --notify
SEVERITIES = ("INFO", "WARNING", "CRITICAL")


def _env(env, name, default=""):
    return (env.get(name) or default).strip()


def _failed(env):
    """A resource operation that did not give what pacemaker expected."""
    return (_env(env, "CRM_alert_status", OK_STATUS) != OK_STATUS
            or _env(env, "CRM_alert_rc", "0") != _env(env, "CRM_alert_target_rc", "0"))


def fence_action(env):
    """The fencing action (reboot, off, on): CRM_alert_task is only the
    notification's type (st_notify_fence); the action is in the
    description, "Operation reboot of servvirt1 by servvirt2 for ...: OK"."""
    found = re.match(r"Operation (\S+) of ", _env(env, "CRM_alert_desc"))
    if found:
        return found.group(1)
    task = _env(env, "CRM_alert_task")
    return task if task and not task.startswith("st_notify") else "fencing"


def event(env, quorate=True):
    """The event to report, as {'severity', 'subject', 'kind', 'node',
    'subject_node'} ('subject_node': who the event is about, for
    reporter()), or None for one not worth a message (a successful
    monitor, a VM stopped on purpose, ...)."""
    kind = _env(env, "CRM_alert_kind")
    node = _env(env, "CRM_alert_node")
    cluster = _env(env, "cluster_name", "cluster")
    desc = _env(env, "CRM_alert_desc")
    found = None
    if kind == "node":
        if desc == "lost":
            found = ("CRITICAL", "node %s LOST" % node)
        elif desc == "member":
            found = ("INFO", "node %s is back in the cluster" % node)
        else:
            found = ("WARNING", "node %s is now %s" % (node, desc or "in an unknown state"))
        if not quorate:
            found = ("CRITICAL", found[1] + "; QUORUM LOST where this was seen (%s)" % socket.gethostname())
    elif kind == "fencing":
        task = fence_action(env)
        if _env(env, "CRM_alert_rc", "0") == "0":
            found = ("WARNING", "node %s fenced (%s): its resources start elsewhere" % (node, task))
        else:
            found = ("CRITICAL", "FENCING %s OF %s FAILED: %s (its VMs stay stopped until it is fenced or cleared "
                                 "by hand)" % (task.upper(), node, desc or "no reason given"))
    elif kind == NOTIFY_KIND:
        found = (_env(env, "havirt_severity", "WARNING"), "%s on %s" % (_env(env, "havirt_subject", "event"), node))
    elif kind == "resource":
        rsc = _env(env, "CRM_alert_rsc")
        task = _env(env, "CRM_alert_task")
        prefix = _env(env, "vm_prefix", "vm-")
        what = ("vm %s" % rsc[len(prefix):]) if prefix and rsc.startswith(prefix) else "resource %s" % rsc
        if _failed(env):
            if desc.lower() == "cancelled":
                return None
            found = ("CRITICAL", "%s: %s FAILED on %s: %s" % (what, task, node, desc or "rc %s" % _env(env, "CRM_alert_rc")))
        elif what.startswith("vm ") and task == "start":
            found = ("INFO", "%s started on %s" % (what, node))
        elif what.startswith("vm ") and task == "migrate_from":
            found = ("INFO", "%s live-migrated to %s" % (what, node))
    if found is None:
        return None
    return {"severity": found[0], "subject": "[%s] %s" % (cluster, found[1]), "kind": kind, "node": node,
            "cluster": cluster, "timestamp": _env(env, "CRM_alert_timestamp")}


def reporter(partition, subject_node):
    """The one node that reports a node or fencing event: the first by name
    of this partition's members other than the event's subject ('' when
    none: the subject alone, which then reports its own return)."""
    others = sorted(name for name in partition if name and name != subject_node)
    return others[0] if others else (subject_node if subject_node in partition else "")


def uptime_age(proc_uptime, proc_stat, ticks_per_second):
    """Seconds a process has run, from /proc/uptime and its /proc/PID/stat
    (field 22: its start in clock ticks after boot); None if unreadable."""
    try:
        start = int(proc_stat.rsplit(")", 1)[1].split()[19])
        return float(proc_uptime.split()[0]) - start / float(ticks_per_second)
    except (IndexError, ValueError, ZeroDivisionError):
        return None


def parse_partition(text):
    """Names from `crm_node -p` (one line, space-separated)."""
    return [name for name in text.split() if name]


def mail(env, found, recipient):
    """The message for ``found``, to ``recipient``. Headers are not folded
    below RFC 5322's 998 characters: Python's email package folds a
    "Subject: " line of more than 78 characters right after the colon, and
    the unfolded subject then begins with a space (seen on Debian 12's
    3.11, in the lab's mail sink)."""
    message = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    message["Subject"] = "%s %s" % (found["severity"], found["subject"])
    message["From"] = _env(env, "sender", "hacluster@%s" % socket.getfqdn())
    message["To"] = recipient
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=socket.getfqdn())
    lines = ["%s: %s" % (found["severity"], found["subject"]), "", "seen by %s at %s" % (socket.gethostname(),
                                                                                         found["timestamp"] or "?"), ""]
    lines += ["%s=%s" % (name, value) for name, value in sorted(env.items()) if name.startswith("CRM_alert_")]
    lines += ["", "Run status.yml for the whole cluster's state."]
    message.set_content("\n".join(lines) + "\n")
    return message


def webhook_body(env, found):
    body = dict(found)
    body["seen_by"] = socket.gethostname()
    body["event"] = dict((name[len("CRM_alert_"):], value) for name, value in sorted(env.items())
                         if name.startswith("CRM_alert_"))
    return json.dumps(body, sort_keys=True).encode()


def alert_targets(alerts_xml, agent_path):
    """The environments in which pacemaker runs this agent, from the CIB's
    alerts section (``cibadmin --query --scope alerts``): one per recipient
    of each <alert> whose path is ``agent_path``, with the alert's instance
    attributes (mode, relay_host, ...) and CRM_alert_recipient."""
    try:
        root = ET.fromstring(alerts_xml)
    except ET.ParseError:
        return []
    targets = []
    for alert in root.iter("alert"):
        if alert.get("path") != agent_path:
            continue
        attributes = dict((pair.get("name"), pair.get("value", "")) for pair in alert.findall("instance_attributes/nvpair")
                          if pair.get("name"))
        for recipient in alert.findall("recipient"):
            if recipient.get("value"):
                targets.append(dict(attributes, CRM_alert_recipient=recipient.get("value")))
    return targets


def notify_env(target, kind, severity, subject, detail, node, when):
    """The environment of one --notify event for one target (alert_targets)."""
    if severity not in SEVERITIES:
        raise ValueError("severity %r: give one of %s" % (severity, ", ".join(SEVERITIES)))
    return dict(target, CRM_alert_version="havirt", CRM_alert_kind=NOTIFY_KIND, CRM_alert_node=node,
                CRM_alert_desc=detail or subject, CRM_alert_timestamp=when, CRM_alert_havirt_event=kind,
                havirt_severity=severity, havirt_subject=subject)


def notify(argv):
    """--notify KIND SEVERITY SUBJECT [DETAIL]: the event to every recipient
    of the CIB's havirt alerts; 0 when each was sent (or none is set)."""
    if len(argv) not in (3, 4):
        print("usage: havirt_alert.py --notify KIND SEVERITY SUBJECT [DETAIL]", file=sys.stderr)
        return 2
    kind, severity, subject = argv[:3]
    detail = argv[3] if len(argv) == 4 else ""
    alerts = subprocess.run(["cibadmin", "--query", "--scope", "alerts"], capture_output=True, text=True,
                            timeout=30, check=False)
    targets = alert_targets(alerts.stdout, os.path.abspath(__file__)) if alerts.returncode == 0 else []
    if not targets:
        print("havirt_alert: no alert recipient in the CIB (%s): %s %s not sent"
              % (alerts.stderr.strip() or "pacemaker_alert_mail_to and pacemaker_alert_webhooks are empty",
                 severity, subject), file=sys.stderr)
        return 0 if alerts.returncode == 0 else 1
    node = socket.gethostname().split(".")[0]
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    failed = 0
    for target in targets:
        try:
            env = notify_env(target, kind, severity, subject, detail, node, when)
        except ValueError as exc:
            print("havirt_alert: %s" % exc, file=sys.stderr)
            return 2
        failed += main(env) != 0
    return 1 if failed else 0


def relay_login(text):
    """(user, password) from the role's login file (JSON: {"user": ...,
    "password": ...}); ValueError for anything else."""
    login = json.loads(text)
    if not isinstance(login, dict) or not login.get("user") or not isinstance(login.get("password"), str):
        raise ValueError("the relay login file holds no user and password")
    return login["user"], login["password"]


def send_mail(env, message, timeout):
    """Hand ``message`` to the relay: STARTTLS when relay_starttls is
    true, the relay's certificate checked against relay_ca_file (the role's
    copy of pacemaker_alert_mail_ca_file) or else the system's CAs, and its
    name (relay_host) against the certificate; then the login of
    relay_login_file when one is set (the role refuses a login without
    STARTTLS to anything but this node itself)."""
    host = _env(env, "relay_host", "localhost")
    login_file = _env(env, "relay_login_file")
    login = None
    if login_file:
        with open(login_file) as secret:
            login = relay_login(secret.read())
    with smtplib.SMTP(host, int(_env(env, "relay_port", "25")), timeout=timeout) as smtp:
        if _env(env, "relay_starttls", "false") == "true":
            smtp.starttls(context=ssl.create_default_context(cafile=_env(env, "relay_ca_file") or None))
        if login is not None:
            smtp.login(*login)
        smtp.send_message(message)


def _run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def main(env=None):
    env = dict(os.environ if env is None else env)
    recipient = _env(env, "CRM_alert_recipient")
    if not _env(env, "CRM_alert_version") or not recipient:
        print("havirt_alert: run by pacemaker's alerts, with a recipient", file=sys.stderr)
        return 0
    kind = _env(env, "CRM_alert_kind")
    quorate = True
    if kind == "node":
        quorate = _run(["crm_node", "--quorum"]).strip() != "0"
    found = event(env, quorate)
    if found is None:
        return 0
    if kind == "node" and _env(env, "CRM_alert_desc") == "member":
        # A node that has just started sees every peer "join": the peers
        # report its own return instead.
        try:
            with open("/proc/uptime") as up, open("/proc/%d/stat" % os.getppid()) as stat:
                age = uptime_age(up.read(), stat.read(), os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError):
            age = None
        if age is not None and age < float(_env(env, "startup_quiet_s", "60")):
            return 0
    if kind in ("node", "fencing"):
        me = socket.gethostname().split(".")[0]
        if reporter(parse_partition(_run(["crm_node", "--partition"])), found["node"]) not in ("", me):
            return 0
    timeout = float(_env(env, "send_timeout", "20"))
    try:
        if _env(env, "mode", "mail") == "webhook":
            request = urllib.request.Request(recipient, data=webhook_body(env, found), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (the inventory's URL)
                answer.read()
        else:
            send_mail(env, mail(env, found, recipient), timeout)
    except (OSError, ValueError, smtplib.SMTPException) as exc:
        print("havirt_alert: could not send %r to %s: %s" % (found["subject"], recipient, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(notify(sys.argv[2:]) if sys.argv[1:2] == ["--notify"] else main())

"""roles/pacemaker/files/havirt_alert.py: the cluster's alert agent. Its
decisions are plain functions fed here with the variables pacemaker sets
(Pacemaker Explained, "Alert agents"); main() is run end to end against a
real SMTP server and a real HTTP server on loopback. The container lab
runs it under pacemaker (molecule/default/tests/test_alerts.py)."""

from __future__ import annotations

import email
import email.policy
import http.server
import importlib.util
import json
import pathlib
import socket
import socketserver
import threading

import pytest
import role_files

agent = role_files.load("pacemaker", "havirt_alert")

BASE = {"CRM_alert_version": "3.0.0", "CRM_alert_timestamp": "10:42:01.123456", "cluster_name": "havirt",
        "vm_prefix": "vm-"}


def _env(**values):
    return dict(BASE, **{"CRM_alert_" + name: value for name, value in values.items()})


def test_a_lost_node_and_its_return():
    assert agent.event(_env(kind="node", node="servvirt1", desc="lost", nodeid="2"))["subject"] == \
        "[havirt] node servvirt1 LOST"
    back = agent.event(_env(kind="node", node="servvirt1", desc="member", nodeid="2"))
    assert (back["severity"], back["subject"]) == ("INFO", "[havirt] node servvirt1 is back in the cluster")


def test_quorum_lost_is_critical_whatever_the_node_event():
    found = agent.event(_env(kind="node", node="servdb", desc="lost"), quorate=False)
    assert found["severity"] == "CRITICAL" and "QUORUM LOST" in found["subject"]


def test_fencing_done_and_failed():
    # As pacemaker 3.0 set them in the container lab (2026-12-04): the task is the notification's type.
    done = agent.event(_env(kind="fencing", node="servvirt2", task="st_notify_fence", rc="0",
                            desc="Operation reboot of servvirt2 by servvirt1 for pacemaker-controld.5988@servvirt1: OK "
                                 "(Done)"))
    assert (done["severity"], done["subject"]) == (
        "WARNING", "[havirt] node servvirt2 fenced (reboot): its resources start elsewhere")
    failed = agent.event(_env(kind="fencing", node="servvirt2", task="st_notify_fence", rc="1",
                              desc="Operation off of servvirt2 by servdb for pacemaker-controld: Timer expired"))
    assert failed["severity"] == "CRITICAL" and "FENCING OFF OF servvirt2 FAILED" in failed["subject"], failed
    # No action in the description: still a fencing.
    assert "fenced (fencing)" in agent.event(_env(kind="fencing", node="servvirt2", task="st_notify_fence", rc="0",
                                                  desc="OK"))["subject"]


@pytest.mark.parametrize("task, rc, target, status, subject", [
    ("start", "0", "0", "0", "[havirt] vm passata started on servvirt2"),
    ("migrate_from", "0", "0", "0", "[havirt] vm passata live-migrated to servvirt2"),
    ("start", "1", "0", "0", "[havirt] vm passata: start FAILED on servvirt2: error"),
    ("monitor", "7", "0", "0", "[havirt] vm passata: monitor FAILED on servvirt2: not running"),
    ("start", "0", "0", "2", "[havirt] vm passata: start FAILED on servvirt2: timed out"),
])
def test_vm_operations_worth_a_message(task, rc, target, status, subject):
    desc = {"1": "error", "7": "not running"}.get(rc, "timed out" if status == "2" else "ok")
    found = agent.event(_env(kind="resource", node="servvirt2", rsc="vm-passata", task=task, rc=rc, target_rc=target,
                             status=status, desc=desc, interval="10000" if task == "monitor" else "0"))
    assert found["subject"] == subject


@pytest.mark.parametrize("values", [
    # A successful monitor, a successful stop, a probe that finds it not running (as expected), a cancelled op.
    dict(rsc="vm-passata", task="monitor", rc="0", target_rc="0", status="0", desc="ok", interval="10000"),
    dict(rsc="vm-passata", task="stop", rc="0", target_rc="0", status="0", desc="ok", interval="0"),
    dict(rsc="vm-passata", task="monitor", rc="7", target_rc="7", status="0", desc="not running", interval="0"),
    dict(rsc="vm-passata", task="monitor", rc="0", target_rc="0", status="1", desc="Cancelled", interval="10000"),
    # Not a VM: only its failures count.
    dict(rsc="havirt-storage", task="start", rc="0", target_rc="0", status="0", desc="ok", interval="0"),
])
def test_routine_operations_are_not_reported(values):
    assert agent.event(_env(kind="resource", node="servvirt1", **values)) is None


def test_any_resources_failure_is_reported():
    found = agent.event(_env(kind="resource", node="servdb", rsc="havirt-storage", task="start", rc="1",
                             target_rc="0", status="0", desc="error"))
    assert found["subject"] == "[havirt] resource havirt-storage: start FAILED on servdb: error"


def test_one_node_reports_each_node_or_fencing_event():
    # Every survivor computes the same reporter; the subject never reports itself while others are there.
    assert agent.reporter(["servdb", "servvirt2"], "servvirt1") == "servdb"
    assert agent.reporter(agent.parse_partition("servvirt2 servdb\n"), "servdb") == "servvirt2"
    # A node cut off alone reports what it sees; no partition known: nobody is preferred.
    assert agent.reporter(["servvirt1"], "servdb") == "servvirt1"
    assert agent.reporter([], "servdb") == ""


def test_a_process_age_from_proc():
    # /proc/PID/stat of a process started 1000 ticks (10 s at 100 Hz) after boot; its comm has spaces.
    stat = "4242 (pacemaker execd) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0"
    assert agent.uptime_age("75.50 140.00\n", stat, 100) == pytest.approx(65.5)
    assert agent.uptime_age("", stat, 100) is None


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: every message received is kept."""

    received: list[str] = []

    def handle(self):
        self.wfile.write(b"220 sink\r\n")
        while True:
            line = self.rfile.readline().decode()
            if not line:
                return
            verb = line[:4].upper()
            if verb == "DATA":
                self.wfile.write(b"354 go\r\n")
                body = []
                while (row := self.rfile.readline().decode()) not in (".\r\n", ""):
                    body.append(row)
                type(self).received.append("".join(body))
                self.wfile.write(b"250 kept\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture()
def smtp_sink():
    _Smtp.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Smtp.received
    server.shutdown()
    server.server_close()


def test_main_mails_the_recipient_through_the_relay(smtp_sink):
    port, received = smtp_sink
    env = _env(kind="fencing", node="servvirt1", task="st_notify_fence", rc="0", recipient="ops@example.org",
               desc="Operation reboot of servvirt1 by servvirt2 for pacemaker-controld.5988@servvirt2: OK (Done)")
    env.update(mode="mail", relay_host="127.0.0.1", relay_port=str(port), sender="cluster@example.org")
    assert agent.main(env) == 0
    assert len(received) == 1
    message = email.message_from_string(received[0], policy=email.policy.default)
    assert message["To"] == "ops@example.org" and message["From"] == "cluster@example.org"
    assert message["Subject"] == "WARNING [havirt] node servvirt1 fenced (reboot): its resources start elsewhere"
    assert "CRM_alert_task=st_notify_fence" in message.get_content()


def test_main_sends_nothing_for_a_routine_event_and_fails_when_the_relay_does_not_answer(smtp_sink):
    port, received = smtp_sink
    routine = _env(kind="resource", node="servvirt1", rsc="vm-passata", task="monitor", rc="0", target_rc="0",
                   status="0", desc="ok", interval="10000", recipient="ops@example.org")
    assert agent.main(dict(routine, relay_host="127.0.0.1", relay_port=str(port))) == 0
    assert received == []
    lost = _env(kind="node", node="servvirt1", desc="lost", recipient="ops@example.org")
    # Nothing listens on port 1: the agent says so (pacemaker logs it) and fails.
    assert agent.main(dict(lost, relay_host="127.0.0.1", relay_port="1", send_timeout="5")) == 1


def test_main_posts_json_to_a_webhook():
    posted = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            posted.append((self.headers["Content-Type"], json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook/token" % server.server_address[1]
        env = _env(kind="node", node="servvirt2", desc="member", recipient=url)
        assert agent.main(dict(env, mode="webhook", startup_quiet_s="0")) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert len(posted) == 1
    kind, body = posted[0]
    assert kind == "application/json"
    assert body["subject"] == "[havirt] node servvirt2 is back in the cluster" and body["severity"] == "INFO"
    assert body["event"]["kind"] == "node" and body["event"]["node"] == "servvirt2"


def test_run_by_hand_it_does_nothing():
    assert agent.main({}) == 0


# `cibadmin --query --scope alerts` on the container lab's servvirt1 (fixtures/alerts/README.md).
ALERTS = (pathlib.Path(__file__).parent / "fixtures" / "alerts" / "cib-alerts.xml").read_text()


def test_the_cibs_alerts_give_one_target_per_recipient_of_this_agent():
    targets = agent.alert_targets(ALERTS, "/usr/local/lib/havirt/havirt_alert.py")
    assert [t["CRM_alert_recipient"] for t in targets] == ["ops@havirt.lab"]
    assert targets[0]["mode"] == "mail" and targets[0]["relay_port"] == "2525"
    assert targets[0]["cluster_name"] and targets[0]["relay_host"]
    assert agent.alert_targets(ALERTS, "/usr/lib/other/agent") == []
    assert agent.alert_targets("", "/usr/local/lib/havirt/havirt_alert.py") == []


def test_a_notified_event_is_mailed_as_pacemakers_are(smtp_sink):
    port, received = smtp_sink
    target = dict(agent.alert_targets(ALERTS, "/usr/local/lib/havirt/havirt_alert.py")[0],
                  relay_host="127.0.0.1", relay_port=str(port), cluster_name="havirt")
    env = agent.notify_env(target, "backup", "CRITICAL", "scheduled backup of passata FAILED",
                           "passata: NOT backed up: sending the backup failed", "servvirt1", "2026-12-04 03:30:05")
    assert agent.main(env) == 0
    message = email.message_from_string(received[0], policy=email.policy.default)
    assert message["Subject"] == "CRITICAL [havirt] scheduled backup of passata FAILED on servvirt1"
    assert message["To"] == "ops@havirt.lab"
    assert "CRM_alert_desc=passata: NOT backed up: sending the backup failed" in message.get_content()
    with pytest.raises(ValueError, match="severity 'BAD'"):
        agent.notify_env(target, "backup", "BAD", "x", "", "servvirt1", "now")


def test_a_subject_over_78_characters_arrives_without_a_leading_space(smtp_sink):
    port, received = smtp_sink
    target = {"CRM_alert_recipient": "ops@example.org", "relay_host": "127.0.0.1", "relay_port": str(port),
              "cluster_name": "havirt"}
    subject = "scheduled backup of passata, speedauth FAILED"
    assert agent.main(agent.notify_env(target, "backup", "CRITICAL", subject, "", "servvirt1", "now")) == 0
    message = email.message_from_string(received[0], policy=email.policy.default)
    assert message["Subject"] == "CRITICAL [havirt] %s on servvirt1" % subject


def test_notify_without_its_arguments_says_how():
    assert agent.notify(["backup"]) == 2


def _tls_relay_pki(directory: pathlib.Path):
    """A CA and the relay's certificate for 127.0.0.1 (its name for the
    agent), signed by it; also an unrelated CA. Paths of the PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(name, key, issuer_name, issuer_key, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    paths = {}
    ca_key, other_key, relay_key = (ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "other", "relay"))
    for name, cert in (("ca", certificate("test relay CA", ca_key, "test relay CA", ca_key, True)),
                       ("other_ca", certificate("another CA", other_key, "another CA", other_key, True)),
                       ("relay", certificate("relay", relay_key, "test relay CA", ca_key, False,
                                             [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))):
        paths[name] = directory / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["relay_key"] = directory / "relay.key"
    paths["relay_key"].write_bytes(relay_key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return paths


def _lab_relay():
    """tools/lab/files/mail_sink.py: the container lab's relay, used here too."""
    spec = importlib.util.spec_from_file_location("mail_sink", role_files.ROOT / "tools" / "lab" / "files" /
                                                  "mail_sink.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tls_relay(tmp_path):
    """The container lab's relay (tools/lab/files/mail_sink.py) on loopback:
    it wants STARTTLS with its certificate (signed by a test CA) and a login
    (relay@example.org / right-password) before it takes a mail: (port,
    pki paths, messages received as (login, text))."""
    pki = _tls_relay_pki(tmp_path)
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((session.auth_data.login, envelope.content.decode()))
            return "250 kept"

    with socket.socket() as probe:  # a free port: the controller's readiness check connects to the one it is given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = _lab_relay().relay(Handler(), "127.0.0.1", port, pki["relay"], pki["relay_key"],
                                    "relay@example.org", "right-password")
    controller.start()
    try:
        yield port, pki, received
    finally:
        controller.stop()


def _relay_env(port, pki, tmp_path, password="right-password", ca="ca"):
    login = tmp_path / "login.json"
    login.write_text(json.dumps({"user": "relay@example.org", "password": password}))
    env = _env(kind="resource", node="servvirt2", rsc="vm-passata", task="start", rc="1", target_rc="0", status="0",
               desc="error", interval="0", recipient="ops@example.org")
    env.update(mode="mail", relay_host="127.0.0.1", relay_port=str(port), relay_starttls="true",
               relay_login_file=str(login), relay_ca_file=str(pki[ca]) if ca else "", startup_quiet_s="0",
               send_timeout="10")
    return env


def test_a_relay_that_wants_starttls_and_a_login_gets_the_mail(tls_relay, tmp_path):
    port, pki, received = tls_relay
    assert agent.main(_relay_env(port, pki, tmp_path)) == 0
    assert [login for login, text in received] == [b"relay@example.org"]
    message = email.message_from_string(received[0][1], policy=email.policy.default)
    assert message["Subject"] == "CRITICAL [havirt] vm passata: start FAILED on servvirt2: error"
    # Neither the password nor the login file's path is in the mail.
    assert "right-password" not in received[0][1] and "login.json" not in received[0][1]


@pytest.mark.parametrize("change, why", [
    ({"password": "wrong-password"}, "535"),
    ({"ca": "other_ca"}, "CERTIFICATE_VERIFY_FAILED"),
    ({"ca": ""}, "CERTIFICATE_VERIFY_FAILED"),  # the system's CAs do not know the test CA
])
def test_a_wrong_password_or_an_unknown_certificate_sends_nothing(tls_relay, tmp_path, capsys, change, why):
    port, pki, received = tls_relay
    assert agent.main(_relay_env(port, pki, tmp_path, **change)) == 1
    assert received == []
    said = capsys.readouterr().err
    assert "could not send '[havirt] vm passata: start FAILED on servvirt2: error' to ops@example.org" in said and why in said, said
    assert "wrong-password" not in said


def test_a_missing_or_broken_login_file_sends_nothing(tls_relay, tmp_path, capsys):
    port, pki, received = tls_relay
    env = _relay_env(port, pki, tmp_path)
    assert agent.main(dict(env, relay_login_file=str(tmp_path / "none.json"))) == 1
    assert "No such file or directory" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no user and password"):
        agent.relay_login('{"user": "relay@example.org"}')
    with pytest.raises(ValueError):
        agent.relay_login("user=relay@example.org")
    assert agent.relay_login('{"user": "u", "password": ""}') == ("u", "")
    assert received == []

#!/usr/bin/python3
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's mail relay: an SMTP server (aiosmtpd, Debian's
python3-aiosmtpd) that, as a provider's smarthost, takes a mail only after
STARTTLS with its certificate and a login (PLAIN or LOGIN) with the user
and password of a JSON file ({"user": ..., "password": ...}), and keeps
each mail in a Maildir. tools/lab/up.yml puts it, its key and its
certificate (signed by the lab mail CA that every node trusts) on the
storage node; the container lab's tests start it (mail_sink fixture).

    mail_sink.py --listen 0.0.0.0:2525 --cert relay.crt --key relay.key \
        --login login.json MAILDIR
"""

import argparse
import json
import ssl
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult


def relay(handler, host, port, cert, key, user, password):
    """The relay, not started: an aiosmtpd Controller on host:port that
    hands each mail to ``handler`` only after STARTTLS with ``cert`` and
    ``key`` and a login as user/password (also the unit tests' relay:
    tests/unit/roles/test_havirt_alert.py)."""
    expected = (user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        right = (auth_data.login, auth_data.password) == expected
        print("AUTH %s as %r: %s" % (mechanism, auth_data.login.decode(errors="replace"),
                                     "accepted" if right else "REFUSED"), flush=True)
        return AuthResult(success=right, handled=False, auth_data=auth_data if right else None)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return Controller(handler, hostname=host, port=int(port), tls_context=context, require_starttls=True,
                      authenticator=authenticate, auth_require_tls=True, auth_required=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="0.0.0.0:2525")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--login", required=True, help="JSON file with the user and password it accepts")
    parser.add_argument("maildir")
    args = parser.parse_args()
    with open(args.login) as login_file:
        login = json.load(login_file)
    host, _, port = args.listen.rpartition(":")
    controller = relay(Mailbox(args.maildir), host, port, args.cert, args.key, login["user"], login["password"])
    controller.start()
    print("relay on %s: STARTTLS and a login required" % args.listen, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

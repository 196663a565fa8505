"""E-mail through a real SMTP server (aiosmtpd) on a free loopback port: plain, and with
STARTTLS (a throwaway certificate from openssl) and a login."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from tests.notify_services import deliver, message
from vvrun.notify import build

PASSWORD = "smtp-Pa55word-Z"


class Mailbox:
    """An aiosmtpd handler: keeps every accepted message; refuses `nobody@` like a server
    with no such user, and `busy@` with a temporary error."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _authenticate(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"ops" and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=True would leave it unanswered


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def tls_mailbox(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                            require_starttls=True, authenticator=_authenticate,
                            auth_require_tls=True)
    controller.start()
    yield box, controller.port, cert
    controller.stop()


def test_sends_a_multipart_plain_and_html_message(mailbox):
    box, port = mailbox
    notifier = build("email", {"smtp": f"smtp://127.0.0.1:{port}", "from": "ops@example.com",
                               "to": ["eng@example.com", "sre@example.com"]})
    [delivery] = deliver(notifier, message("failed", text="Kill <step> failed"))
    assert delivery.ok, delivery.error
    [envelope] = box.envelopes
    assert envelope.mail_from == "ops@example.com"
    assert envelope.rcpt_tos == ["eng@example.com", "sre@example.com"]
    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail["Subject"] == "[vvrun] db-emergency: failed"
    assert mail["Message-ID"] == delivery.ref and mail["X-Vvrun-Run"] == message().run_id
    assert mail.get_content_type() == "multipart/alternative"
    plain, rich = mail.iter_parts()
    assert plain.get_content_type() == "text/plain"
    text = plain.get_content().replace("\r\n", "\n")  # as it came over the wire
    assert text.startswith("Kill <step> failed\n\nRunbook: db-emergency\n")
    assert "Operator: alice" in text
    assert rich.get_content_type() == "text/html"
    html = rich.get_content()
    assert "Kill &lt;step&gt; failed" in html
    assert '<a href="http://127.0.0.1:8080/runs/20261206-7f3a">' in html


def test_starttls_and_login(tls_mailbox):
    box, port, cert = tls_mailbox
    notifier = build("email", {"smtp": f"smtp://ops:{PASSWORD}@127.0.0.1:{port}",
                               "starttls": True, "ca_file": str(cert),
                               "from": "ops@example.com", "to": "eng@example.com"})
    [delivery] = deliver(notifier, message())
    assert delivery.ok, delivery.error
    assert len(box.envelopes) == 1
    assert PASSWORD not in repr(notifier)


def test_a_wrong_password_fails_once_without_showing_it(tls_mailbox):
    box, port, cert = tls_mailbox
    wrong = "n0t-the-Passw0rd"
    notifier = build("email", {"smtp": f"smtp://127.0.0.1:{port}", "starttls": True,
                               "ca_file": str(cert), "username": "ops", "password": wrong,
                               "from": "ops@example.com", "to": "eng@example.com"})
    [delivery] = deliver(notifier, message())
    assert not delivery.ok and delivery.attempts == 1
    assert "login refused (535)" in delivery.error and wrong not in delivery.error
    assert box.envelopes == []


def test_an_untrusted_certificate_is_refused(tls_mailbox):
    _box, port, _cert = tls_mailbox
    notifier = build("email", {"smtp": f"smtp://127.0.0.1:{port}", "starttls": True,
                               "from": "ops@example.com", "to": "eng@example.com"})
    [delivery] = deliver(notifier, message())
    assert not delivery.ok and delivery.attempts == 1
    assert "TLS failed: CERTIFICATE_VERIFY_FAILED" in delivery.error


def test_a_refused_recipient_is_final_and_a_busy_one_is_retried(mailbox):
    box, port = mailbox
    base = {"smtp": f"smtp://127.0.0.1:{port}", "from": "ops@example.com"}
    [refused] = deliver(build("email", {**base, "to": "nobody@example.com"}), message())
    assert not refused.ok and refused.attempts == 1
    assert refused.error.endswith("recipients refused: nobody@example.com (550)")
    [busy] = deliver(build("email", {**base, "to": "busy@example.com"}), message())
    assert not busy.ok and busy.attempts == 3
    assert box.envelopes == []


def test_a_server_that_is_not_a_url_previews_but_fails_at_send_without_showing_it():
    from vvrun.notify.render import preview

    config = {"smtp": "⟨secrets.smtp_url⟩", "from": "ops@example.com", "to": "eng@example.com"}
    assert preview(config, message(), name="email").startswith("→ email (smtp)\nSubject: ")
    [delivery] = deliver(build("email", config), message())
    assert not delivery.ok and delivery.attempts == 1
    assert delivery.error == ("smtp notifier 'email': the server is not an smtp://host:port "
                              "or smtps://host:port URL")

"""E-mail through smtplib: `smtp://host:587` (STARTTLS by default on 587, or when
`starttls: true`), `smtps://host:465` (TLS from the first byte), optional login. The message
is multipart/alternative: plain text first, HTML second, so every client shows one of them."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from vvrun.notify.base import Delivery, Message, NotifierConfigError, failure, success

KIND = "smtp"
_SCHEMES = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class Email:
    message: EmailMessage

    def preview(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.message.items()
                         if k.lower() not in ("content-type", "mime-version"))
        plain = self.message.get_body(("plain",))
        return f"{head}\n\n{plain.get_content() if plain else ''}".rstrip()


def _facts(message: Message) -> list[tuple[str, str]]:
    pairs = [("Runbook", message.runbook), ("Run", message.run_id), ("Step", message.step),
             ("Status", message.status or message.kind.replace("_", " ")),
             ("Operator", message.operator), ("Link", message.link)]
    return [(k, v) for k, v in pairs if v]


def compose(message: Message, *, sender: str, to: tuple[str, ...], subject: str | None
            ) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject or f"[vvrun] {message.headline()}"
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(localtime=False)
    # a domain given here, because make_msgid's default asks DNS for this host's name
    mail["Message-ID"] = make_msgid("vvrun", domain=sender.rpartition("@")[2] or "vvrun")
    mail["X-Vvrun-Run"] = message.run_id
    facts = _facts(message)
    plain = (message.text + "\n\n" if message.text else "") + "\n".join(
        f"{k}: {v}" for k, v in facts)
    mail.set_content(plain + "\n")
    rows = "".join(f"<tr><th align=left>{k}</th><td>{_html_value(k, v)}</td></tr>"
                   for k, v in facts)
    body = html.escape(message.text).replace("\n", "<br>")
    mail.add_alternative(f"<html><body><h2>{html.escape(message.headline())}</h2>"
                         f"<p>{body}</p><table>{rows}</table></body></html>\n", subtype="html")
    return mail


def _html_value(key: str, value: str) -> str:
    if key == "Link":
        return f'<a href="{html.escape(value, quote=True)}">{html.escape(value)}</a>'
    return html.escape(value)


@dataclass(repr=False)
class SmtpNotifier:
    KIND: ClassVar[str] = KIND
    name: str
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    subject: str | None = None
    ca_file: str | None = None

    def render(self, message: Message) -> Email:
        return Email(compose(message, sender=self.sender, to=self.to, subject=self.subject))

    def send(self, message: Message, timeout: float) -> Delivery:
        import smtplib
        import ssl

        mail = self.render(message).message
        if not self.host:
            return failure(self, message, f"smtp notifier '{self.name}': the server is not "
                           "an smtp://host:port or smtps://host:port URL")
        where = f"smtp notifier '{self.name}' ({self.host}:{self.port})"
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            cls = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
            kwargs: dict[str, Any] = {"context": context} if self.tls else {}
            with cls(self.host, self.port, timeout=timeout, **kwargs) as smtp:
                if self.starttls:
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            return failure(self, message, f"{where}: login refused ({exc.smtp_code})")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            return failure(self, message, f"{where}: recipients refused: "
                           f"{', '.join(exc.recipients)} ({', '.join(map(str, codes))})",
                           retryable=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            return failure(self, message, f"{where}: {exc.smtp_code} {text}",
                           status=exc.smtp_code, retryable=400 <= exc.smtp_code < 500)
        except ssl.SSLError as exc:
            return failure(self, message, f"{where}: TLS failed: {exc.reason or exc}")
        except smtplib.SMTPNotSupportedError as exc:
            return failure(self, message, f"{where}: {exc}")
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out
            return failure(self, message, f"{where}: {type(exc).__name__}: {exc}",
                           retryable=True)
        return success(self, message, status=250, ref=str(mail["Message-ID"]))

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"SmtpNotifier(name={self.name!r}, host={self.host!r}, port={self.port})"


def from_config(name: str, config: Mapping[str, Any]) -> SmtpNotifier:
    target = str(config.get("url") or config[KIND])
    try:
        parts = urlsplit(target)
        port = parts.port or _SCHEMES.get(parts.scheme, 25)
    except ValueError:
        parts, port = urlsplit(""), 25
    usable = parts.scheme in _SCHEMES and bool(parts.hostname)
    if not usable and "://" in target:
        raise NotifierConfigError(f"notifier '{name}': smtp wants smtp://host:port or "
                                  "smtps://host:port", hint="smtp: smtp://mail.internal:587")
    to = config.get("to")
    to = (to,) if isinstance(to, str) else tuple(to or ())
    if not config.get("from") or not to:
        raise NotifierConfigError(f"notifier '{name}': smtp needs from and to",
                                  hint="from: ops@example.com, to: [eng@example.com]")
    # a value with no scheme is a plan's unknown (a secret not fetched): previews work, and a
    # run that really got such a value fails at send, naming no secret
    return SmtpNotifier(
        name, (parts.hostname or "") if usable else "", port, str(config["from"]),
        tuple(str(t) for t in to),
        tls=parts.scheme == "smtps", starttls=bool(config.get("starttls", port == 587)),
        username=config.get("username") or (unquote(parts.username) if parts.username else None),
        password=config.get("password") or (unquote(parts.password) if parts.password else None),
        subject=config.get("subject"), ca_file=config.get("ca_file"))

"""E-mail over SMTP (aiosmtplib): STARTTLS and login when the campus relay asks for them."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from .base import ChannelError, Outbound


class SmtpMail:
    name = "mail"

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "cctv@localhost",
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout_s = starttls, timeout_s

    def reaches(self, msg: Outbound) -> bool:
        return bool(msg.email)

    async def send(self, msg: Outbound) -> None:
        if not msg.email:
            raise ChannelError(f"{msg.recipient} 无电子邮箱 has no e-mail address")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = msg.email
        mail["Subject"] = msg.title
        mail.set_content(f"{msg.body}\n\n接收人 recipient: {msg.recipient}\n")
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            raise ChannelError(f"邮件服务器不可达 SMTP unreachable: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            raise ChannelError(f"邮件服务器拒收 SMTP refused: {exc}") from exc

    async def close(self) -> None:
        return None

"""The real NotificationSender: signed JSON POSTs over httpx, email over SMTP with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from calltrax.settings import Settings
from domain.ports import SendOutcome

SEND_TIMEOUT_SECONDS = 10.0
USER_AGENT = "CallTrax-Notifications/1"


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500] if str(error) else type(error).__name__


class Notifier:
    """Implements the `NotificationSender` port; reports failures as outcomes, never raises them."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        # Redirects are not followed: a target that moved must be updated, not chased.
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(SEND_TIMEOUT_SECONDS, connect=5.0),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def post_json(self, url: str, *, body: bytes, headers: dict[str, str]) -> SendOutcome:
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return SendOutcome(ok=False, error=_error(error))
        if 200 <= response.status_code < 300:
            return SendOutcome(ok=True, status_code=response.status_code)
        return SendOutcome(ok=False, status_code=response.status_code, error=f"HTTP {response.status_code}")

    async def send_email(self, recipients: list[str], *, subject: str, text: str) -> SendOutcome:
        settings = self._settings
        if not settings.smtp_host or not settings.smtp_from:
            return SendOutcome(ok=False, error="email is not configured: set SMTP_HOST and SMTP_FROM")
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="calltrax")
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                use_tls=settings.smtp_tls == "tls",
                start_tls=settings.smtp_tls == "starttls",
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            return SendOutcome(ok=False, error=_error(error))
        return SendOutcome(ok=True)

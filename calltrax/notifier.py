"""The real NotificationSender: signed JSON POSTs over httpx, email over SMTP with aiosmtplib."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from calltrax.outbound import DestinationRefused, GuardedTransport, Resolver, system_resolver
from calltrax.settings import Settings
from domain.notifications import DELIVERY_FAILED, DESTINATION_NOT_ALLOWED
from domain.ports import SendOutcome

log = logging.getLogger("calltrax.notifications")

SEND_TIMEOUT_SECONDS = 10.0
USER_AGENT = "CallTrax-Notifications/1"


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500] if str(error) else type(error).__name__


def _origin(url: str) -> str:
    """Scheme, host and port for the log: a target's path may carry its own secret token."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid URL)"
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"


class Notifier:
    """Implements the `NotificationSender` port; reports failures as outcomes, never raises them."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._settings = settings
        # Redirects are not followed: a target that moved must be updated, not chased. Every request
        # goes through the guarded transport (no proxy from the environment, which would bypass it).
        self._http = http or httpx.AsyncClient(
            transport=GuardedTransport(settings.notify_destinations, resolver=resolver),
            timeout=httpx.Timeout(SEND_TIMEOUT_SECONDS, connect=5.0),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def post_json(self, url: str, *, body: bytes, headers: dict[str, str]) -> SendOutcome:
        """POST and report the status; a failure before any answer is one generic outcome for the
        delivery log (admins read it), so that refused, timed-out, TLS and blocked attempts cannot be
        told apart there, which would map internal ports. The detail goes to the server log only."""
        try:
            # Streamed and never read: the receiver's body is not ours to hold in memory.
            async with self._http.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except DestinationRefused as error:
            log.warning("notification destination refused: %s", error, extra={"url": _origin(url)})
            return SendOutcome(ok=False, error=DESTINATION_NOT_ALLOWED)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            log.warning("notification delivery failed: %s", _error(error), extra={"url": _origin(url)})
            return SendOutcome(ok=False, error=DELIVERY_FAILED)
        if 200 <= status < 300:
            return SendOutcome(ok=True, status_code=status)
        return SendOutcome(ok=False, status_code=status, error=f"HTTP {status}")

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

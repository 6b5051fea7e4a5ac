"""The `calltrax` command: serve, migrate, token, demo, simulate, dialpad setup, dialpad send."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from calltrax.embedded_db import EmbeddedPostgres
from calltrax.observability import configure_logging
from calltrax.settings import Settings, SettingsError

if TYPE_CHECKING:
    # Imported when a command runs (it pulls in httpx and the database driver).
    from calltrax.simulate import Credentials

log = logging.getLogger("calltrax.cli")

FIRST_RUN_ADMIN_EMAIL = "admin@calltrax.local"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: the configured one, or an embedded server for the duration."""
    if settings.database_url:
        yield settings
        return
    embedded = EmbeddedPostgres(settings.embedded_pgdata)
    url = embedded.start()
    try:
        yield replace(settings, database_url=url)
    finally:
        embedded.stop()


def migrate(settings: Settings) -> None:
    from persistence.migrate import upgrade

    assert settings.database_url
    upgrade(settings.database_url)


def _with_deps(settings: Settings, work: Callable[..., object]) -> object:
    """Run an async `work(deps)` against the database, outside any server."""
    from calltrax.runtime import command_runtime

    async def run() -> object:
        async with command_runtime(settings) as runtime:
            return await work(runtime.deps)  # type: ignore[misc]

    return asyncio.run(run())


def _make_token(settings: Settings, *, email: str, role: str, tenant: str | None) -> str:
    from calltrax.tokens import issue_token
    from domain.roles import Role
    from services.users import upsert_user

    assert settings.jwt_secret

    async def work(deps: object) -> object:
        return await upsert_user(deps, actor=None, email=email, role=Role(role), tenant_slug=tenant)  # type: ignore[arg-type]

    user = _with_deps(settings, work)
    return issue_token(settings.jwt_secret, subject=user.id, email=user.email, role=role)  # type: ignore[attr-defined]


SINGLE_WORKER = (
    "error: --workers must be 1. Each worker process keeps its own /metrics counters, and a scrape "
    "reaches one worker at random, so the figures would be wrong. To use more cores, run several "
    "`calltrax serve` replicas (one per container or port) behind a load balancer, sharing "
    "DATABASE_URL and REDIS_URL, and scrape each replica's /metrics."
)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.workers != 1:
        _out(SINGLE_WORKER)
        return 2
    first_run = not settings.jwt_secret and not settings.jwks_url
    settings = settings.with_saved_secret(create=True)
    with database(settings) as settings:
        migrate(settings)
        assert settings.database_url
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = settings.database_url
        if settings.jwt_secret:
            os.environ["CALLTRAX_JWT_SECRET"] = settings.jwt_secret
        if first_run:
            token = _make_token(settings, email=FIRST_RUN_ADMIN_EMAIL, role="admin", tenant=None)
            base = f"http://{'localhost' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
            _out(f"CallTrax is starting. GraphiQL: {base}/graphql")
            _out(f"Admin token for {FIRST_RUN_ADMIN_EMAIL} (valid 24 h; `calltrax token` makes more):")
            _out(token)
        uvicorn.run(
            "calltrax.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            **server_limits(settings),
        )
    return 0


def server_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's options that bound what clients hold (issue 13), from the settings."""
    return {
        # Subscriptions: deflate doubles per-socket memory; pings reap dead sockets.
        "ws_per_message_deflate": False,
        "ws_ping_interval": 20,
        "ws_ping_timeout": 20,
        # A subscribe message is a few KB; uvicorn's default (16 MiB) lets any socket buffer that much.
        "ws_max_size": settings.ws_max_message_bytes,
        # Open connections (HTTP and websockets) per process; past it uvicorn answers 503.
        "limit_concurrency": settings.max_connections,
        # An idle keep-alive connection is closed after this (uvicorn has no header-read timeout).
        "timeout_keep_alive": settings.keep_alive_seconds,
    }


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings) as settings:
        migrate(settings)
    _out("database schema is up to date")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_saved_secret(create=False)
    if not settings.jwt_secret:
        _out("error: no JWT secret: set CALLTRAX_JWT_SECRET, or run `calltrax serve` once to generate one")
        return 2
    with database(settings) as settings:
        migrate(settings)
        try:
            _out(_make_token(settings, email=args.email, role=args.role, tenant=args.tenant))
        except Exception as error:
            from domain.errors import DomainError

            if isinstance(error, DomainError):
                _out(f"error: {error.message}")
                return 2
            raise
    return 0


def _quiet_http_client() -> None:
    """httpx logs every request at INFO: one JSON line per posted event would bury the output."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


class _ProgressLine:
    """One progress line, rewritten in place on a terminal; elsewhere (a log, a pipe) printed as is."""

    def __init__(self) -> None:
        self._tty = sys.stdout.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self._tty:
            sys.stdout.write("\r" + text + "\x1b[K")
            sys.stdout.flush()
            self._shown = True
        else:
            _out(text)

    def done(self) -> None:
        if self._shown:
            sys.stdout.write("\n")


def _tenant_credentials(settings: Settings, slug: str) -> Credentials | None:
    """The tenant's webhook token and Dialpad secret, read from the database; None (said) if none."""
    from calltrax.simulate import load_credentials

    assert settings.database_url
    try:
        return asyncio.run(load_credentials(settings.database_url, slug))
    except LookupError as error:
        _out(f"error: {error}")
        return None


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from calltrax.simulate import simulate

    with database(settings) as settings:
        credentials = _tenant_credentials(settings, args.tenant)
        if credentials is None:
            return 2
        if credentials.lead_token is None:
            _out(f"tenant {args.tenant} has no active lead webhook: posting calls only")
        _quiet_http_client()
        progress = _ProgressLine()
        report = asyncio.run(
            simulate(
                credentials,
                base_url=args.url,
                leads=args.leads,
                calls=args.calls,
                rate=args.rate,
                seed=args.seed,
                progress=progress.show,
            )
        )
        progress.done()
    _out(
        f"leads: {report.leads_sent} posted, {report.leads_failed} failed; "
        f"events: {report.events_sent} posted ({report.unique_events} unique, "
        f"{report.duplicates_sent} redeliveries), {report.events_failed} failed"
        + (f"; failures by status: {report.failures}" if report.failures else "")
    )
    return 0 if not report.events_failed and not report.leads_failed else 1


def cmd_dialpad_send(args: argparse.Namespace, settings: Settings) -> int:
    from calltrax.dialpad_send import EventFileError, read_events, send_events, shift_to_now

    try:
        events = read_events(args.file)
    except EventFileError as error:
        _out(f"error: {error}")
        return 2
    if args.now:
        events = shift_to_now(events)
    with database(settings) as settings:
        credentials = _tenant_credentials(settings, args.tenant)
    if credentials is None:
        return 2
    # The secret is read while the database is open; posting needs only the running server.
    _quiet_http_client()
    return 0 if send_events(credentials, events, base_url=args.url, report=_out) else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from calltrax.demo import load_demo

    with database(settings) as settings:
        migrate(settings)

        async def work(deps: object) -> object:
            return await load_demo(
                deps,  # type: ignore[arg-type]
                progress=_out,
                leads=args.leads,
                calls_wanted=args.calls,
                days=args.days,
                seed=args.seed,
            )

        try:
            totals = _with_deps(settings, work)
        except FileExistsError as error:
            _out(f"error: {error}")
            return 2
    _out(f"demo loaded: {totals}")
    _out("sign in with `calltrax token --email you@example.com --role admin` and open /graphql")
    return 0


def cmd_dialpad_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Set up or repair the company Dialpad webhook and subscription; --migrate moves older tenants to it."""
    if not settings.dialpad_api_key:
        _out("error: DIALPAD_API_KEY is not set: there is no Dialpad to set up (the simulation needs none)")
        return 2
    from calltrax.dialpad_client import DialpadClient
    from domain.errors import DomainError
    from services.setup_dialpad import setup_dialpad

    with database(settings) as settings:
        migrate(settings)

        async def work(deps: object) -> object:
            import httpx

            async with httpx.AsyncClient() as http:
                gateway = DialpadClient(
                    http, base_url=settings.dialpad_base_url, api_key=settings.dialpad_api_key or ""
                )
                return await setup_dialpad(replace(deps, dialpad=gateway), actor=None, migrate=args.migrate)  # type: ignore[type-var,arg-type]

        try:
            setup = _with_deps(settings, work)
        except DomainError as error:
            _out(f"error: {error.message}")
            _out("nothing is half-done: run the command again to finish")
            return 1
    for action in setup.actions or ["nothing to repair"]:  # type: ignore[attr-defined]
        _out(action)
    _out(f"endpoint: {setup.endpoint_url}")  # type: ignore[attr-defined]
    _out(f"webhook: {setup.webhook_id}  subscription: {setup.subscription_id}")  # type: ignore[attr-defined]
    _out(f"secret: {setup.secret}")  # type: ignore[attr-defined]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calltrax", description="CallTrax lead-response analytics backend")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve HTTP, GraphQL and websockets")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="must be 1: run replicas instead (see README, Scaling out)"
    )
    serve.set_defaults(run=cmd_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply database migrations")
    migrate_cmd.set_defaults(run=cmd_migrate)

    token = commands.add_parser("token", help="create or update a user and print a 24 h HS256 token")
    token.add_argument("--email", required=True)
    token.add_argument("--role", required=True, choices=["admin", "agent", "client"])
    token.add_argument("--tenant", help="tenant slug (a client's tenant, or an agent's assignment)")
    token.set_defaults(run=cmd_token)

    demo = commands.add_parser("demo", help="load a realistic demo data set through the real use cases")
    demo.add_argument("--leads", type=int, default=2000)
    demo.add_argument("--calls", type=int, default=6000)
    demo.add_argument("--days", type=int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=cmd_demo)

    dialpad = commands.add_parser(
        "dialpad", help="Dialpad tools: the company webhook and call subscription, posting signed events"
    )
    dialpad_commands = dialpad.add_subparsers(dest="dialpad_command", required=True)
    setup = dialpad_commands.add_parser(
        "setup", help="create or repair the company webhook and call subscription (idempotent)"
    )
    setup.add_argument(
        "--migrate",
        action="store_true",
        help="also delete per-tenant subscriptions of tenants provisioned before (rerun after a failure)",
    )
    setup.set_defaults(run=cmd_dialpad_setup)

    sim = commands.add_parser(
        "simulate", help="post realistic leads and signed Dialpad call events to a running server"
    )
    sim.add_argument("--tenant", required=True, help="tenant slug")
    sim.add_argument("--url", default="http://localhost:8000", help="the running server")
    sim.add_argument("--leads", type=int, default=20)
    sim.add_argument("--calls", type=int, default=40)
    sim.add_argument("--rate", type=float, default=20.0, help="requests per second (0 = as fast as possible)")
    sim.add_argument("--seed", type=int, default=None, help="repeatable runs")
    sim.set_defaults(run=cmd_simulate)

    send = dialpad_commands.add_parser(
        "send",
        help="sign call events with the tenant's Dialpad secret (read from the database) and post them",
    )
    send.add_argument("--tenant", required=True, help="tenant slug")
    send.add_argument(
        "--file",
        required=True,
        help="one event (a JSON object) or a JSON array of events, in order; - = stdin",
    )
    send.add_argument("--url", default="http://localhost:8000", help="the running server")
    send.add_argument(
        "--now", action="store_true", help="move the events' times together so the call starts now"
    )
    send.set_defaults(run=cmd_dialpad_send)
    return parser


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (`kill`, `docker stop`, systemd) ends a command as Ctrl-C does: `finally` blocks run, so
    an embedded PostgreSQL is stopped. (Uvicorn shuts down on SIGTERM, then re-raises it once it
    is done; Python's default action would end the process there, skipping every cleanup.)"""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.stderr.write(f"calltrax: bad setting: {error}\n")
        return 2
    configure_logging(settings.log_level)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result: int = args.run(args, settings)
    except KeyboardInterrupt:
        # Ctrl-C: cleanups ran while the exception unwound; a traceback would only alarm.
        return 130
    return result

"""What one process remembers between lead posts: each webhook token's region inputs (hints only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.phones import region_for_timezone
from persistence.leads import RegionCheck

_MAX_TOKENS = 10_000


@dataclass(frozen=True)
class RegionHint:
    """A tenant's inputs for reading a national phone number, as last read for a webhook token."""

    timezone: str
    default_region: str | None

    @property
    def region(self) -> str | None:
        return self.default_region or region_for_timezone(self.timezone)

    @property
    def check(self) -> RegionCheck:
        return RegionCheck(timezone=self.timezone, default_region=self.default_region)


@dataclass
class IntakeHints:
    """Per process (the runtime's `Deps` holds one): token -> the tenant's region inputs, so a national
    phone can be normalised before the one-statement write. Only a hint: the write re-checks the
    token and these inputs in the same statement, so a rotated token or a changed region never slips
    through (it is re-read and retried)."""

    regions: dict[str, RegionHint] = field(default_factory=dict)

    def region_of(self, token: str) -> RegionHint | None:
        return self.regions.get(token)

    def remember(self, token: str, hint: RegionHint | None) -> None:
        """Keep the token's inputs as just read (None: the token is unknown or inactive)."""
        if hint is None:
            self.regions.pop(token, None)
            return
        if len(self.regions) >= _MAX_TOKENS:
            self.regions.clear()
        self.regions[token] = hint

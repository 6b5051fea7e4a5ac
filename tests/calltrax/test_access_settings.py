"""CALLTRAX_ACCESS_RECHECK_SECONDS: 5 by default, a positive number of seconds, nonsense refused by name."""

from __future__ import annotations

import pytest

from calltrax.settings import Settings, SettingsError


def test_the_access_recheck_interval_setting() -> None:
    assert Settings.from_env({}).access_recheck_seconds == 5
    assert Settings.from_env({"CALLTRAX_ACCESS_RECHECK_SECONDS": "2.5"}).access_recheck_seconds == 2.5
    # 0 would re-read in a busy loop, and never re-reading would leave a lost revocation open.
    for value in ("0", "nan", "-1", "inf", "soon"):
        with pytest.raises(SettingsError, match="CALLTRAX_ACCESS_RECHECK_SECONDS"):
            Settings.from_env({"CALLTRAX_ACCESS_RECHECK_SECONDS": value})

"""CALLTRAX_STAGE_SWEEP_SECONDS: 30 by default, 0 turns the sweep off, nonsense is refused by name."""

from __future__ import annotations

import pytest

from calltrax.settings import Settings, SettingsError


def test_the_stage_sweep_interval_setting() -> None:
    assert Settings.from_env({}).stage_sweep_seconds == 30
    assert Settings.from_env({"CALLTRAX_STAGE_SWEEP_SECONDS": "0"}).stage_sweep_seconds == 0
    assert Settings.from_env({"CALLTRAX_STAGE_SWEEP_SECONDS": "2.5"}).stage_sweep_seconds == 2.5
    for value in ("nan", "-1", "soon"):
        with pytest.raises(SettingsError, match="CALLTRAX_STAGE_SWEEP_SECONDS"):
            Settings.from_env({"CALLTRAX_STAGE_SWEEP_SECONDS": value})

"""HOTLINE_DISPATCH_* and the worker's knobs are validated with the rest of Settings: a
malformed or out-of-range value stops the process with a message naming the variable (not a
bare ValueError from the worker, nor a traceback at the first job)."""

from __future__ import annotations

import pytest

from api.composition import dispatch_policy
from core.settings import SettingsError, load_settings


def test_redeliver_seconds_is_read_and_checked() -> None:
    env = {"HOTLINE_DISPATCH_REDELIVER_SECONDS": "20"}
    assert dispatch_policy(load_settings(env)).redeliver_seconds == 20
    assert dispatch_policy(load_settings({})).redeliver_seconds == 45
    for bad in ("soon", "0", "-5", "nan", "inf", ""):
        with pytest.raises(SettingsError, match="HOTLINE_DISPATCH_REDELIVER_SECONDS"):
            load_settings({"HOTLINE_DISPATCH_REDELIVER_SECONDS": bad})


def test_whole_number_knobs_refuse_fractions() -> None:
    env = {"HOTLINE_DISPATCH_MAX_REDELIVERIES": "5"}
    assert dispatch_policy(load_settings(env)).max_redeliveries == 5
    with pytest.raises(SettingsError, match="HOTLINE_DISPATCH_MAX_REDELIVERIES"):
        load_settings({"HOTLINE_DISPATCH_MAX_REDELIVERIES": "2.5"})


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("HOTLINE_DISPATCH_MAX_ATTEMPTS", "abc"),
        ("HOTLINE_DISPATCH_LEASE_SECONDS", "-1"),
        ("HOTLINE_WORKER_THREADS", "0"),
        ("HOTLINE_WORKER_THREADS", "four"),
        ("HOTLINE_WORKER_PERIODIC", "yes"),
        ("HOTLINE_WORKER_METRICS_PORT", "70000"),
        ("HOTLINE_DRAMATIQ_HEARTBEAT_MS", "1.5"),
        ("HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE", "0"),
    ],
)
def test_a_worker_typo_is_a_settings_error_naming_the_variable(var: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=var):
        load_settings({var: raw})


def test_worker_knobs_are_read() -> None:
    s = load_settings(
        {
            "HOTLINE_WORKER_THREADS": "8",
            "HOTLINE_WORKER_PERIODIC": "0",
            "HOTLINE_WORKER_METRICS_PORT": "9100",
            "HOTLINE_DRAMATIQ_HEARTBEAT_MS": "1500",
            "HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE": "1000000",
            "HOTLINE_DISPATCH_BASE_SECONDS": "0.1",
        }
    )
    assert (s.worker_threads, s.worker_periodic, s.worker_metrics_port) == (8, 0, 9100)
    assert (s.dramatiq_heartbeat_ms, s.dramatiq_maintenance_chance) == (1500, 1_000_000)
    assert dispatch_policy(s).base_seconds == 0.1
    defaults = load_settings({})
    assert (defaults.worker_threads, defaults.worker_periodic) == (4, 1)
    assert defaults.worker_metrics_port == 0  # no endpoint of its own


def test_the_worker_entrypoint_reports_a_typo_and_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api import worker

    monkeypatch.setenv("HOTLINE_WORKER_THREADS", "0")
    with pytest.raises(SystemExit, match="HOTLINE_WORKER_THREADS"):
        worker.main()


def test_hotline_worker_refuses_a_typo_before_starting_any_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    import api.cli_fulfillment  # noqa: F401  (registers the command)
    from api.cli import main

    monkeypatch.setenv("HOTLINE_DISPATCH_MAX_ATTEMPTS", "abc")
    spawned: list[object] = []
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: spawned.append(a))
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2 and "HOTLINE_DISPATCH_MAX_ATTEMPTS" in result.output
    assert spawned == []


def test_a_lease_must_outlast_the_partner_timeout() -> None:
    """Found in the acceptance run: with a lease of 10 s and a timeout of 40 s a partner
    answering in 25 s was called a second time while the first call was still running."""
    ok = load_settings(
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "12", "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "10"}
    )
    assert (ok.dispatch_lease_seconds, ok.dispatch_timeout_seconds) == (12, 10)
    for env in (
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "10", "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "40"},
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "10"},  # the default timeout is 10
        {"HOTLINE_DISPATCH_TIMEOUT_SECONDS": "30"},  # the default lease is 30
    ):
        with pytest.raises(SettingsError, match=r"HOTLINE_DISPATCH_LEASE_SECONDS .* longer than"):
            load_settings(env)

"""The deployment files in deploy/: the systemd unit and the Nginx site pass their own tools'
checks (where the tools are installed; CI installs them), the cron file is exactly the arena
runbook's schedule (section 3), and the production template loads as a production config."""

from __future__ import annotations

import configparser
import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arenabrain.cron import crontab_trigger
from arenabrain.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "arenabrain.service"
SITE = DEPLOY / "nginx" / "arenabrain.conf"
CRON = DEPLOY / "cron.d" / "arenabrain"
PRODUCTION_ENV = DEPLOY / "production.env"

# The arena runbook, section 3: (schedule, route), in its order.
RUNBOOK_SCHEDULE = [
    ("*/5 * * * *", "sync-markets"),
    ("0 0 * * 0", "start-cohort"),
    ("5 0 * * 0", "run-decisions"),
    ("0 * * * *", "check-resolutions"),
    ("*/10 * * * *", "take-snapshots"),
    ("0 9 * * 1", "check-model-lineup"),
    ("0 23 * * 6", "backup"),
]


def production_values() -> dict[str, str]:
    values = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


# --- systemd --------------------------------------------------------------------------------


def unit_sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_runs_one_hardened_worker_that_restarts_on_failure() -> None:
    unit = unit_sections()["Service"]
    assert unit["ExecStart"].endswith("arenabrain serve")  # one process, no worker flag
    assert unit["ExecStartPre"].endswith("arenabrain migrate")
    assert unit["Restart"] == "on-failure"
    assert unit["EnvironmentFile"] == "/etc/arenabrain/arenabrain.env"
    assert unit["StateDirectory"] == "arenabrain"
    assert unit["User"] == "arenabrain"
    for option, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert unit[option] == value, option
    # The state the production template points at is inside the state directory.
    values = production_values()
    for name in ("DATABASE_PATH", "BACKUP_PATH"):
        assert values[name].startswith("/var/lib/arenabrain/"), name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart points at an executable: use this environment's entry point.
    executable = Path(sys.executable).parent / "arenabrain"
    assert executable.exists()
    unit = tmp_path / "arenabrain.service"
    unit.write_text(UNIT.read_text().replace("/opt/arenabrain/bin/arenabrain", str(executable)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "arenabrain.service" not in result.stderr, result.stderr


# --- nginx ----------------------------------------------------------------------------------


def test_nginx_site_proxies_health_and_gives_cron_routes_the_decision_budget() -> None:
    text = SITE.read_text()
    assert "server 127.0.0.1:3010;" in text
    assert re.search(r"location = /health \{\s*proxy_pass http://arenabrain/health/live;", text)
    cron_block = text[text.index("location /api/cron/") :]
    cron_block = cron_block[: cron_block.index("}")]
    timeout = re.search(r"proxy_read_timeout (\d+)s;", cron_block)
    assert timeout is not None and int(timeout.group(1)) > 600  # run-decisions: 10 minutes
    assert "deny all;" in cron_block


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forecaster.example.org")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    live = "/etc/letsencrypt/live/forecaster.example.org"
    site = tmp_path / "site.conf"
    site.write_text(
        SITE.read_text()
        .replace(f"{live}/fullchain.pem", str(cert))
        .replace(f"{live}/privkey.pem", str(key))
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {site};\n}}\n"
    )
    result = subprocess.run(
        [shutil.which("nginx") or "nginx", "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# --- cron -----------------------------------------------------------------------------------

CRON_LINE = re.compile(
    r"^(?P<schedule>(?:\S+ ){5})arenabrain curl -s -X POST "
    r"http://127\.0\.0\.1:(?P<port>\d+)/api/cron/(?P<route>[a-z-]+) "
    r'-H "Authorization: Bearer \$CRON_SECRET"$'
)


def cron_entries() -> list[tuple[str, str, str]]:
    entries = []
    for line in CRON.read_text().splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        match = CRON_LINE.match(line)
        assert match is not None, f"not a runbook cron line: {line!r}"
        entries.append((match["schedule"].strip(), match["route"], match["port"]))
    return entries


def test_cron_file_is_exactly_the_runbook_schedule() -> None:
    entries = cron_entries()
    assert [(schedule, route) for schedule, route, _ in entries] == RUNBOOK_SCHEDULE
    assert {port for *_, port in entries} == {production_values()["PORT"]}
    for schedule, _, _ in entries:
        crontab_trigger(schedule)  # a schedule the service itself accepts


def test_cron_file_declares_the_secret_it_uses() -> None:
    assert re.search(r"^CRON_SECRET=", CRON.read_text(), re.MULTILINE)


# --- production environment -----------------------------------------------------------------


def test_production_template_loads_once_its_secrets_are_filled() -> None:
    values = production_values()
    filled = {
        name: (value or f"{name.lower()}-value")
        for name, value in values.items()
        if name not in {"SIGNER_PRIVATE_KEY", "DISTRIBUTION_TOKEN_MINT", "KEY_ENCRYPTION_KEY"}
    }
    settings = load_settings(filled, env_file=None)
    assert settings.is_production and settings.port == 3010 and settings.dry_run
    assert settings.arena_secret("cron_secret") == "cron_secret-value"

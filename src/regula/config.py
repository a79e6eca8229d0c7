"""One typed settings object for the whole process (prefix ``REGULA_``).

Built once by the entry point (CLI command or test fixture) and passed down; nothing in regula reads the
environment or connects to anything at import time.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("regula", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGULA_", env_file=None, extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Data directory (embedded PostgreSQL lives here)")
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql+asyncpg://… of an external server; unset starts the embedded PostgreSQL",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # Two roles (README "Production with an external PostgreSQL"): the owner of the schema runs the migrations;
    # the web app, scheduler and dispatcher connect as a role that owns nothing and is not a superuser, so it can
    # neither disable the audit log's append-only triggers nor set session_replication_role.
    database_owner_url: SecretStr | None = Field(
        default=None,
        description="URL of the schema owner, used only by `regula db upgrade`; unset = REGULA_DATABASE_URL",
    )
    database_app_role: str = Field(
        default="regula_app",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Role of REGULA_DATABASE_URL; `regula db upgrade` grants it what the app needs",
    )
    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Base URL seen by citizens/Twilio")
    # Proxies whose X-Forwarded-For is believed (regula.http.state.client_address): rate limits and the audit's
    # address key on the real client, and a header sent by anyone else changes nothing.
    trusted_proxies: list[str] = Field(
        default_factory=list, description='JSON list of IPs/CIDRs of reverse proxies, e.g. ["10.0.0.0/8"]; empty = none'
    )
    # /metrics answers only a bearer with this token; unset, /metrics does not exist (404).
    metrics_token: SecretStr | None = Field(default=None, description="Bearer token for /metrics; unset = 404")
    health_check_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long /health repeats its last check of the database before asking it again (0 = every call)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    session_max_age_minutes: int = Field(default=8 * 60, ge=5)
    token_default_days: int = Field(default=90, ge=1, le=3650)
    timezone: str = "America/Sao_Paulo"
    # Program rules that are not SIGTAP data (see catalog.policy).
    oci_max_days_oncology: int = Field(default=30, ge=1, description="tM for subgroup 0901 (oncology)")
    oci_max_days_default: int = Field(default=60, ge=1, description="tM for every other OCI")
    # Portaria 3.492/2024 art. 10 §3 I: OCIs whose referrals wait for a teleconsultation answer before the queue.
    # Allocation runs proposed by the scheduler (jurisdictions such as "uf:SC" or "region:42007"); empty = none.
    allocation_scopes: list[str] = Field(default_factory=list, description='JSON list, e.g. ["uf:SC"]')
    allocation_cron: str = Field(default="0 3 * * 1-5", description="crontab of the allocation job")
    # Without it, every proposed run waits for an operator's approval (issue: "approved by an operator, or by a
    # policy that allows auto-approval").
    allocation_auto_approve: bool = False
    # Issue 17: the farthest (km, the optimizer's straight-line/explicit distances) an allocation may send a person to
    # a face-to-face slot; art. 3 III and art. 10 §2 III of Portaria 3.492/2024 (regionalized care, no unnecessary
    # travel). 200 km: a same-day round trip by road; docs/allocation-instance.md gives the rationale. None: no limit.
    allocation_max_travel_km: int | None = Field(default=200, ge=0, le=20_038, description="Max travel km per OCI")
    allocation_max_travel_km_by_oci: dict[str, int] = Field(
        default_factory=dict, description='JSON object OCI → km, e.g. {"0901010014": 120}'
    )
    teleconsult_first_ocis: frozenset[str] = Field(
        default=frozenset(), description='JSON list of OCI codes, e.g. ["0902010026"]'
    )
    # Issue 16, decision 21. The teleconsultoria's response time (art. 10 §3 I): a referral waiting longer than this
    # for the specialist's answer goes to the navigators (72 h, the usual TelessaúdeRS-style turnaround).
    teleconsultation_sla_hours: int = Field(default=72, ge=1, le=24 * 60, description="Teleconsultation answer SLA")
    # The counter-referral's return to APS (art. 5 §2; art. 10 §1 IV, VI): unread by the APS team after this many
    # days, the navigators call the team.
    counter_referral_unread_days: int = Field(default=7, ge=1, le=365, description="Unread counter-referral alert")

    # -- citizen messaging (issue 5) ----------------------------------------------------------------------------
    # "console" writes messages to the log and the web app's message log (the demo's default); "twilio" sends SMS
    # and WhatsApp through Twilio, and needs the account below.
    notify_channel: Literal["console", "twilio"] = "console"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Signs Twilio's webhooks; also checks replies in console mode when set"
    )
    twilio_api_base: str = Field(default="https://api.twilio.com", description="Twilio's REST API (a fake in tests)")
    twilio_sms_senders: list[str] = Field(default_factory=list, description="JSON list of E.164 numbers")
    twilio_whatsapp_sender: str | None = Field(default=None, description="E.164 number enabled for WhatsApp")
    # Approved WhatsApp templates per message kind (ContentSid "HX…"), used outside the 24-hour window.
    twilio_content_sids: dict[str, str] = Field(default_factory=dict, description='JSON, e.g. {"confirmacao": "HX…"}')
    twilio_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_rate_per_sender: float = Field(default=1.0, gt=0, description="Messages per second per sender number")
    notify_rate_per_account: float = Field(default=100.0, gt=0, description="Messages per second for the account")
    notify_batch_size: int = Field(default=200, ge=1, le=5000)
    notify_max_in_flight: int = Field(default=64, ge=1, le=1000)
    notify_quiet_start_hour: int = Field(default=20, ge=0, le=23, description="No messages from this hour…")
    notify_quiet_end_hour: int = Field(default=8, ge=0, le=23, description="…until this hour (citizen's time)")
    notify_quiet_sundays: bool = True
    notify_daily_cap: int = Field(default=3, ge=1, description="Non-urgent messages per citizen per day")
    notify_max_attempts: int = Field(
        default=5, ge=1, le=50, description="Sends that raise before a message is marked falhou (never an endless loop)"
    )
    notify_confirmation_days_before: int = Field(default=7, ge=1)
    notify_confirmation_reply_hours: int = Field(default=72, ge=1)
    notify_offer_reply_minutes: int = Field(default=120, ge=5)
    notify_validation_days: int = Field(default=90, ge=7)
    notify_position_days: int = Field(default=30, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from None
        return [item.strip() for item in value]

    @field_validator("allocation_max_travel_km", mode="before")
    @classmethod
    def _no_travel_limit(cls, value: object) -> object:
        # REGULA_ALLOCATION_MAX_TRAVEL_KM=null (or empty) switches the limit off.
        if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
            return None
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

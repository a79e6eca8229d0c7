"""Reference data and demo users, shared by ``regula seed`` and ``regula demo``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access import repository as access_repo
from regula.access import service as access
from regula.audit.service import AuditContext, set_context
from regula.catalog.protocols import seed_starting_versions
from regula.catalog.service import bundled_sigtap_zip, import_sigtap
from regula.config import Settings
from regula.territory.service import load_territory


async def load_reference_data(session: AsyncSession, settings: Settings, console: Console) -> None:
    """Municipalities and health regions, then the shipped SIGTAP 2026-01 catalog; both idempotent."""
    set_context(session, AuditContext.system("cli", "regula seed"))
    territory = await load_territory(session)
    console.print(f"Territórios: {territory.describe()}")
    result = await import_sigtap(session, bundled_sigtap_zip(), settings)
    console.print(f"Catálogo SIGTAP: {result.describe()}")
    # Version 1 of each new OCI's referral protocol (decision 0020); managers write the next ones.
    stored = await seed_starting_versions(session, settings)
    if stored:
        console.print(f"Protocolos de encaminhamento: versão inicial gravada para {stored} OCIs.")


@dataclass(frozen=True)
class DemoCredential:
    username: str
    password: str
    role: str
    jurisdiction: str
    full_name: str


#: The establishment of the demo's executante: the demo's first provider, the Policlínica Municipal Centro of
#: Florianópolis (``regula.demo.providers`` numbers its establishments from here). Kept here, with the users, so
#: that the production checks (``regula.cli.checks``) read the demo users without importing the demo.
PROVIDER_DAY_CNES: Final = "9900001"

# One user per role, in Santa Catarina: Florianópolis (4205407) is in the Grande Florianópolis health region.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "admin", "br", "Administração regula"),
    ("gestora", "gestor", "uf:SC", "Gestora Estadual SC"),
    ("regulador", "regulador", "uf:SC", "Central de Regulação SC"),
    ("navegadora", "navegador", "uf:SC", "Navegadora do Cuidado"),
    ("ubs.centro", "solicitante", "municipality:4205407", "UBS Centro Florianópolis"),
    ("auditor", "auditor", "uf:SC", "Auditoria SES/SC"),
    ("teleconsultora", "teleconsultor", "uf:SC", "Teleconsultoria SC (cardiologia)"),
    # The provider's day (issue 17): the demo's first establishment, which has appointments today and this week
    # and OCIs in execution (regula.demo.provider_day).
    ("policlinica.centro", "executante", f"cnes:{PROVIDER_DAY_CNES}", "Policlínica Municipal Centro (executante)"),
)


def _credentials_file(settings: Settings) -> Path:
    return settings.home / "demo-credentials.txt"


def _load_saved(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    saved: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        user, _, password = line.partition("\t")
        if user and password:
            saved[user] = password
    return saved


async def ensure_demo_users(session: AsyncSession, settings: Settings) -> list[DemoCredential]:
    """Create the demo users once, with random passwords kept (mode 0600) in the home directory."""
    set_context(session, AuditContext.system("cli", "regula demo"))
    path = _credentials_file(settings)
    saved = _load_saved(path)
    creds: list[DemoCredential] = []
    for username, role, jurisdiction, full_name in DEMO_USERS:
        password = saved.get(username) or secrets.token_urlsafe(9)
        if await access_repo.user_by_username(session, username) is None:
            await access.create_user(
                session,
                username=username,
                full_name=full_name,
                role=role,
                jurisdiction=jurisdiction,
                password=password,
            )
        elif username not in saved:
            password = "(definida anteriormente)"  # noqa: S105 - a label, not a password
        creds.append(DemoCredential(username, password, role, jurisdiction, full_name))
    settings.home.mkdir(parents=True, exist_ok=True)
    known = [c for c in creds if not c.password.startswith("(")]
    path.write_text("".join(f"{c.username}\t{c.password}\n" for c in known), encoding="utf-8")
    path.chmod(0o600)
    return creds


async def demo_passwords_in_use(session: AsyncSession, settings: Settings) -> list[str]:
    """Demo users that still log in with the password ``ensure_demo_users`` wrote to the credentials file."""
    in_use: list[str] = []
    for username, password in _load_saved(_credentials_file(settings)).items():
        user = await access_repo.user_by_username(session, username)
        if user is not None and user.is_active and access.password_matches(user, password):
            in_use.append(username)
    return sorted(in_use)

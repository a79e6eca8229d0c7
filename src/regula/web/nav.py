"""The navigation bar: each role sees the pages it works in, in the order of its day."""

from __future__ import annotations

from dataclasses import dataclass

from regula.access.policy import Role
from regula.access.service import Principal


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str


QUEUES = NavItem("Filas", "/regulacao/filas")
ENTRIES = NavItem("Solicitações", "/regulacao/entradas")
REVIEW = NavItem("Análise", "/regulacao/analise")
ALLOCATION = NavItem("Alocação", "/regulacao/alocacoes")
AGENDAS = NavItem("Agendas", "/regulacao/agendas")
APS_LIST = NavItem("Encaminhamentos", "/aps")
APS_NEW = NavItem("Novo encaminhamento", "/aps/encaminhar")
IMPORT = NavItem("Importar encaminhamentos", "/importar")
DASHBOARD = NavItem("Painel", "/gestao")
NAVIGATION = NavItem("Navegação", "/navegacao")
MESSAGES = NavItem("Mensagens", "/mensagens")
PROVIDER_DAY = NavItem("Agenda do dia", "/prestador")
EXECUTION = NavItem("Execução das OCIs", "/producao")
CONTROL = NavItem("Controle da produção", "/producao/controle")
PROGRAMS = NavItem("PAR e financiamento", "/programas")
TELECONSULTATION = NavItem("Teleconsultoria", "/teleconsultoria")
COUNTER_REFERRALS = NavItem("Contrarreferências", "/aps/contrarreferencias")
RESSARCIMENTO = NavItem("Ressarcimento", "/ressarcimento")
SIMULATION = NavItem("Simulação", "/gestao/simulacoes")
PROTOCOLS = NavItem("Protocolos", "/gestao/protocolos")
IDENTIFICATION = NavItem("Cadastros a corrigir", "/gestao/identificacao")
AUDIT = NavItem("Auditoria", "/auditoria")
USERS = NavItem("Usuários", "/admin/usuarios")

_BY_ROLE: dict[Role, tuple[NavItem, ...]] = {
    Role.REGULADOR: (REVIEW, QUEUES, ENTRIES, ALLOCATION, AGENDAS, NAVIGATION, MESSAGES, EXECUTION, CONTROL, IMPORT),
    Role.SOLICITANTE: (APS_LIST, APS_NEW, IMPORT, COUNTER_REFERRALS),
    Role.TELECONSULTOR: (TELECONSULTATION,),
    Role.GESTOR: (
        DASHBOARD,
        QUEUES,
        ENTRIES,
        ALLOCATION,
        AGENDAS,
        CONTROL,
        PROGRAMS,
        RESSARCIMENTO,
        SIMULATION,
        PROTOCOLS,
        IDENTIFICATION,
    ),
    Role.NAVEGADOR: (NAVIGATION, EXECUTION, MESSAGES, QUEUES, ENTRIES),
    Role.EXECUTANTE: (PROVIDER_DAY, EXECUTION, AGENDAS),
    Role.AUDITOR: (
        AUDIT,
        DASHBOARD,
        QUEUES,
        ENTRIES,
        ALLOCATION,
        AGENDAS,
        CONTROL,
        PROGRAMS,
        RESSARCIMENTO,
        PROTOCOLS,
        IDENTIFICATION,
    ),
    Role.ADMIN: (
        DASHBOARD,
        REVIEW,
        QUEUES,
        ENTRIES,
        ALLOCATION,
        AGENDAS,
        NAVIGATION,
        MESSAGES,
        PROVIDER_DAY,
        EXECUTION,
        CONTROL,
        PROGRAMS,
        APS_LIST,
        APS_NEW,
        COUNTER_REFERRALS,
        TELECONSULTATION,
        RESSARCIMENTO,
        SIMULATION,
        PROTOCOLS,
        IDENTIFICATION,
        AUDIT,
        USERS,
    ),
}


def nav_items(user: Principal | None) -> tuple[NavItem, ...]:
    if user is None:
        return ()
    return _BY_ROLE.get(user.role, ())


def home_for(user: Principal) -> str:
    """Where a role starts its day."""
    items = nav_items(user)
    return items[0].href if items and user.role is not Role.ADMIN else "/"


def nav_current(items: tuple[NavItem, ...], path: str) -> str | None:
    """The item a page belongs to: the exact address, else the longest one the page lives under."""
    if any(i.href == path for i in items):
        return path
    under = [i.href for i in items if path.startswith(i.href.rstrip("/") + "/")]
    return max(under, key=len) if under else None

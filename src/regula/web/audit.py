"""The auditor's page (issue 17 item 5): who saw or changed which citizen, entry or export, when and from where.

The audit log is searched by citizen (CPF, CNS or name, resolved to the citizen's id: their record and every entry
of theirs, read one by one, named by a list or by an export), entry, export, user, kind of action, period and
origin address; paged by cursor (decision 23) and downloadable as CSV. The search itself is audited: an auditor
reading who read a citizen reads personal data (LGPD art. 37: the controller keeps the record of the operations on
personal data — the auditor's reading of it included).

Jurisdiction: the log is read through ``audit.repository.readable`` — an ``uf:SC`` auditor sees the events whose
subject lives in SC (a read of an SC resident's entry, a list whose records were all in SC, an export filtered to
SC); events without a place (logins, denials, lists spanning several states, configuration) are shown to national
readers only. An admin is admitted as an auditor is, inside their own jurisdiction.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow
from regula.audit import repository as audit_repo
from regula.audit.service import LIST_READ, record_list_read, record_read
from regula.config import Settings
from regula.core.errors import NotFound
from regula.inputs import BIGINT_MAX
from regula.people import repository as people_repo
from regula.people.models import Citizen
from regula.waitlist import repository as waitlist_repo
from regula.web import charts, common, forms, listing

AUDITORS = (Role.AUDITOR,)
#: The action of an export's event (``audit.repository.ACTIONS``: the search's "Exportação").
EXPORT: Final = "export"
#: The most rows one CSV download carries (newest first); a wider question is narrowed by period.
CSV_LIMIT: Final = 50_000

ACTION_LABELS_PT: Final = {
    "read": "Leitura",
    "read_list": "Leitura em lista",
    "create": "Criação",
    "update": "Alteração",
    "export": "Exportação",
    "login": "Entrada no sistema",
    "login_failed": "Entrada recusada",
    "logout": "Saída do sistema",
    "deny": "Acesso negado",
    "revoke": "Revogação",
    "import": "Importação",
}
SEARCH_ACTIONS_PT: Final = {
    "read": "Leitura (registro ou lista)",
    "create": "Criação",
    "update": "Alteração",
    "export": "Exportação",
}
#: What each audited record is, in Portuguese. The flush listener names a record by its model class
#: (``OciExecution``), the list reads and exports often by its table (``oci_execution``): both are looked up.
_ENTITIES: Final = (
    ("AgendaSlot", "agenda_slot", "Vaga de agenda"),
    ("AllocationAssignment", "allocation_assignment", "Atribuição de rodada"),
    ("AllocationRun", "allocation_run", "Rodada de alocação"),
    ("AnnualMaximum", "ressarcimento_annual_max", "Valor máximo anual da operadora"),
    ("ApiToken", "api_token", "Token de API"),
    ("Attestation", "ressarcimento_attestation", "Atestado mensal (ressarcimento)"),
    ("AttestedItem", "ressarcimento_attested_item", "Item atestado (ressarcimento)"),
    ("AuditEvent", "audit_event", "Auditoria"),
    ("AuthorizationNumber", "authorization_number", "Número de autorização"),
    ("AuthorizationRange", "authorization_range", "Faixa de numeração"),
    ("CatalogOci", "catalog_oci", "OCI do catálogo"),
    ("CatalogOciAttribute", "catalog_oci_attribute", "Atributo de OCI do catálogo"),
    ("CatalogOciCid", "catalog_oci_cid", "CID de OCI do catálogo"),
    ("CatalogOciHabilitacao", "catalog_oci_habilitacao", "Habilitação de OCI do catálogo"),
    ("CatalogOciProcedure", "catalog_oci_procedure", "Procedimento de OCI do catálogo"),
    ("CatalogOciRule", "catalog_oci_rule", "Regra de OCI do catálogo"),
    ("CatalogVersion", "catalog_version", "Versão do catálogo SIGTAP"),
    ("Citizen", "citizen", "Cidadão"),
    ("ContactAttempt", "contact_attempt", "Tentativa de contato"),
    ("CounterReferral", "counter_referral", "Contrarreferência"),
    ("EntryEvent", "waitlist_entry_event", "Histórico da solicitação"),
    ("Establishment", "establishment", "Estabelecimento"),
    ("EstablishmentOffer", "establishment_offer", "Oferta do estabelecimento"),
    ("InboundMessage", "inbound_message", "Mensagem recebida"),
    ("HealthRegionRecord", "health_region", "Região de saúde"),
    ("JobRun", "job_run", "Execução de tarefa"),
    ("MacroRegionRecord", "macro_region", "Macrorregião de saúde"),
    ("MatrixItem", "ressarcimento_matrix_item", "Item da matriz de oferta"),
    ("Message", "message", "Mensagem"),
    ("MunicipalQuota", "municipal_quota", "Cota municipal (PPI)"),
    ("MunicipalityRecord", "municipality", "Município"),
    ("NavigationTask", "navigation_task", "Tarefa de navegação"),
    ("OciExecution", "oci_execution", "Execução de OCI"),
    ("OciProcedure", "oci_procedure", "Procedimento da OCI"),
    ("Operator", "ressarcimento_operator", "Operadora"),
    ("OperatorStep", "ressarcimento_operator_step", "Etapa da operadora"),
    ("OperatorUnit", "ressarcimento_unit", "Unidade da operadora"),
    ("Par", "par", "PAR"),
    ("ParCommitment", "par_commitment", "Compromisso do PAR"),
    ("ParContract", "par_contract", "Contrato do PAR"),
    ("ParLine", "par_line", "Linha planejada do PAR"),
    ("ParStep", "par_step", "Etapa de aprovação do PAR"),
    ("ParTransfer", "par_transfer", "Repasse do PAR"),
    ("ParVersion", "par_version", "Versão do PAR"),
    ("PriorityPolicyVersion", "priority_policy", "Política de prioridade"),
    ("ProductionImport", "production_import", "Importação de produção"),
    ("ProductionRecord", "production_record", "Registro de produção"),
    ("QueueCapacity", "queue_capacity", "Capacidade da fila"),
    ("QueuePlan2023", "queue_plan_2023", "Plano de redução de filas 2023"),
    ("QueuePlan2023Item", "queue_plan_2023_item", "Item do plano 2023"),
    ("QueuePlan2023Payment", "queue_plan_2023_payment", "Pagamento do plano 2023"),
    ("ReferralProtocol", "referral_protocol", "Protocolo de encaminhamento"),
    ("RegulationScope", "regulation_scope", "Abrangência da fila"),
    ("Sanction", "ressarcimento_sanction", "Sanção (ressarcimento)"),
    ("SimulationRun", "simulation_run", "Simulação"),
    ("SlotBooking", "slot_booking", "Agendamento"),
    ("TeleconsultationAnswer", "teleconsultation_answer", "Resposta da teleconsultoria"),
    ("UfRecord", "uf", "UF"),
    ("User", "app_user", "Usuário"),
    ("WaitlistEntry", "waitlist_entry", "Solicitação"),
    ("WaitlistStanding", "waitlist_standing", "Posição na fila"),
    ("WebSession", "web_session", "Sessão"),
    ("waitlist_export", "waitlist_export", "Exportação"),
    ("simulation_runner", "simulation_runner", "Tarefa de simulação"),
)
ENTITY_LABELS_PT: Final = {name: label for cls, table, label in _ENTITIES for name in (cls, table)}
#: The search's "kind of record" choice: one option per kind (keyed by its model name), by label.
ENTITY_CHOICES_PT: Final = dict(sorted(((cls, label) for cls, _table, label in _ENTITIES), key=lambda kv: kv[1]))
_ENTITY_NAMES: Final = {cls: tuple(sorted({cls, table})) for cls, table, _label in _ENTITIES}
SOURCE_LABELS_PT: Final = {"web": "Páginas", "api": "API", "cli": "Linha de comando", "job": "Tarefa automática"}

#: The search form's fields: labels and limits, browser and server alike.
SEARCH_FORM = forms.register(
    forms.FormSpec(
        "auditoria_busca",
        (
            forms.FieldSpec("cidadao", "Cidadão (CPF, CNS ou nome)", max_length=200),
            forms.FieldSpec(
                "solicitacao",
                "Solicitação (número)",
                max_length=19,
                pattern="[0-9]{1,19}",
                pattern_message="Use só dígitos.",
                inputmode="numeric",
            ),
            forms.FieldSpec("exportacao", "Exportação (identificador)", max_length=64),
            forms.FieldSpec("usuario", "Usuário", max_length=64),
            forms.FieldSpec("acao", "Ação", kind="choice"),
            forms.FieldSpec("registro", "Tipo de registro", kind="choice"),
            forms.FieldSpec("de", "De", max_length=10, type="date"),
            forms.FieldSpec("ate", "Até", max_length=10, type="date"),
            forms.FieldSpec(
                "endereco",
                "Endereço de origem (IP)",
                max_length=64,
                pattern="[0-9A-Fa-f.:]{1,64}",
                pattern_message="Um endereço IP ou o seu começo (ex.: 10.2.).",
            ),
        ),
    )
)


def _id_param(raw: str | None, parameter: str, label: str) -> int | None:
    """A record's number typed in the search form: empty is no filter (a GET form sends every field)."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= BIGINT_MAX:
        raise listing.ListingError.of(parameter, "numero_invalido", f"{label}: informe um número inteiro positivo.")
    return int(text)


def _refuse_limits(params: dict[str, str | None]) -> None:
    """The search form's limits, checked by the server too: a 400 naming the parameter."""
    errors = SEARCH_FORM.check({k: v for k, v in params.items() if v is not None})
    if errors:
        e = errors[0]
        raise listing.ListingError.of(e.field, e.code, f"{SEARCH_FORM[e.field].label}: {e.message}")


def _period(settings: Settings, de: str | None, ate: str | None) -> tuple[datetime | None, datetime | None]:
    """The period as instants: from the start of ``de`` to the end of ``ate``, in the state's local time."""
    tz = ZoneInfo(settings.timezone)
    start, end = listing.date_param(de, "de"), listing.date_param(ate, "ate")
    if start is not None and end is not None and end < start:
        raise listing.ListingError.of("ate", "periodo_invalido", "A data final vem antes da inicial.")
    since = datetime.combine(start, time(), tzinfo=tz) if start else None
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=tz) if end else None
    return since, until


async def _question(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    params: dict[str, str | None],
    cidadao_id: int | None,
    solicitacao: int | None,
) -> tuple[audit_repo.AuditSearch, list[Citizen], Citizen | None]:
    """The search the parameters ask for, with the citizens a CPF/CNS/name matched (and the one chosen)."""
    _refuse_limits(params)
    actor = common.actor(request)
    action = listing.choice_param(params["acao"], "acao", SEARCH_ACTIONS_PT, "Ação")
    kind = listing.choice_param(params["registro"], "registro", ENTITY_CHOICES_PT, "Tipo de registro")
    since, until = _period(settings, params["de"], params["ate"])
    matches: list[Citizen] = []
    chosen: Citizen | None = None
    text = (params["cidadao"] or "").strip()
    if text:
        matches = await people_repo.citizens_matching(db_session, actor, text)
        if cidadao_id is not None:
            chosen = next((c for c in matches if c.id == cidadao_id), None)
        elif len(matches) == 1:
            chosen = matches[0]
    q = audit_repo.AuditSearch(
        # A citizen asked for but not (yet) one person: nothing matches until one is chosen.
        citizen_id=chosen.id if chosen is not None else (0 if text else None),
        citizen_entry_ids=await waitlist_repo.entry_ids_of_citizen(db_session, chosen.id or 0) if chosen else (),
        entry_id=solicitacao,
        export_id=(params["exportacao"] or "").strip() or None,
        username=(params["usuario"] or "").strip().lower() or None,
        action=action,
        since=since,
        until=until,
        address=(params["endereco"] or "").strip() or None,
        entity_types=_ENTITY_NAMES[kind] if kind else (),
    )
    return q, matches, chosen


async def _audit_the_search(
    db_session: AsyncSession,
    rows: list[RowMapping],
    params: dict[str, Any],
    chosen: Citizen | None,
    matches: list[Citizen],
    *,
    action: str = LIST_READ,
) -> None:
    """The auditor's reading is itself recorded: the events shown (``action``: a list read on the page, an export
    for the CSV download), the question asked, and the citizens the question looked up (a read of their record)."""
    for c in matches if chosen is None else [chosen]:
        assert c.id is not None
        await record_read(db_session, "Citizen", str(c.id), uf=c.uf, municipality_ibge=c.municipality_ibge)
    question = {k: v for k, v in params.items() if v not in (None, "")}
    await record_list_read(
        db_session,
        "AuditEvent",
        [r["id"] for r in rows],
        places=[(r["uf"], r["municipality_ibge"]) for r in rows],
        detail={"busca": question},
        uf=chosen.uf if chosen is not None else None,
        municipality_ibge=chosen.municipality_ibge if chosen is not None else None,
        action=action,
        even_if_empty=bool(question),  # the CSV's question always names its format: an empty export is recorded
    )


def _record_label(row: RowMapping) -> str:
    kind = ENTITY_LABELS_PT.get(row["entity_type"] or "", row["entity_type"] or "—")
    after = row["after"] or {}
    if row["action"] in (LIST_READ, EXPORT) and isinstance(after.get("ids"), list):
        n = len(after["ids"])
        what = "registro" if n == 1 else "registros"
        ref = f" ({row['entity_id']})" if row["entity_id"] else ""
        if row["action"] == EXPORT:
            done = "exportado" if n == 1 else "exportados"
            question = after.get("busca")
            fmt = question.get("formato") if isinstance(question, dict) else None
            return f"{kind}: {n} {what} {done}" + (f" em {str(fmt).upper()}" if fmt else "") + ref
        return f"{kind}: lista de {n} {what}" + ref
    return f"{kind} {row['entity_id']}" if row["entity_id"] else kind


def _view(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "when": row["occurred_at"],
        "user": row["actor_username"] or "—",
        "role": common.role_label(row["actor_role"]),
        "action": ACTION_LABELS_PT.get(row["action"], row["action"]),
        "record": _record_label(row),
        "entry_id": row["entity_id"] if row["entity_type"] == "WaitlistEntry" else None,
        "ip": row["ip"] or "—",
        "source": SOURCE_LABELS_PT.get(row["source"], row["source"]),
        "request": f"{row['method'] or ''} {row['path'] or ''}".strip(),
        "status": row["status_code"],
    }


def _params(**values: str | None) -> dict[str, str | None]:
    return dict(values)


@get("/auditoria", opt=allow(*AUDITORS), include_in_schema=False)
@listing.list_page
async def audit_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    cidadao: FromQuery[str | None] = None,
    cidadao_id: FromQuery[str | None] = None,
    solicitacao: FromQuery[str | None] = None,
    exportacao: FromQuery[str | None] = None,
    usuario: FromQuery[str | None] = None,
    acao: FromQuery[str | None] = None,
    registro: FromQuery[str | None] = None,
    de: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
    endereco: FromQuery[str | None] = None,
    ordem: FromQuery[str | None] = None,
    sentido: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    params = _params(
        cidadao=cidadao,
        exportacao=exportacao,
        usuario=usuario,
        acao=acao,
        registro=registro,
        de=de,
        ate=ate,
        endereco=endereco,
    )
    entry_id = _id_param(solicitacao, "solicitacao", "Solicitação")
    citizen_id = _id_param(cidadao_id, "cidadao_id", "Cidadão")
    q, matches, chosen = await _question(request, db_session, settings, params, citizen_id, entry_id)
    filters: dict[str, Any] = {**params, "cidadao_id": chosen.id if chosen else None, "solicitacao": entry_id}
    state = listing.listing(
        "/auditoria",
        audit_repo.SORTS,
        filters,
        ordem=ordem,
        sentido=sentido,
        cursor=cursor,
    )
    choose = bool(matches) and chosen is None
    state.slice = await audit_repo.search(db_session, common.actor(request), q, state.window)
    rows = list(state.slice.rows)
    await _audit_the_search(db_session, rows, filters, chosen, matches if choose else [])
    csv_query = state.url().split("?", 1)[1] if "?" in state.url() else ""
    return Template(
        "auditoria/busca.html",
        context={
            "l": state,
            "rows": [_view(r) for r in rows],
            "q": {k: v or "" for k, v in params.items()} | {"solicitacao": entry_id or ""},
            "form": SEARCH_FORM,
            "actions": SEARCH_ACTIONS_PT,
            "kinds": ENTITY_CHOICES_PT,
            "matches": matches if choose else [],
            "chosen": chosen,
            "searched_citizen": bool((cidadao or "").strip()),
            "csv_url": "/auditoria.csv" + (f"?{csv_query}" if csv_query else ""),
        },
    )


@get("/auditoria.csv", opt=allow(*AUDITORS), include_in_schema=False)
async def audit_csv(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    cidadao: FromQuery[str | None] = None,
    cidadao_id: FromQuery[str | None] = None,
    solicitacao: FromQuery[str | None] = None,
    exportacao: FromQuery[str | None] = None,
    usuario: FromQuery[str | None] = None,
    acao: FromQuery[str | None] = None,
    registro: FromQuery[str | None] = None,
    de: FromQuery[str | None] = None,
    ate: FromQuery[str | None] = None,
    endereco: FromQuery[str | None] = None,
) -> Response[bytes]:
    """The same search as the page, whole (newest first, up to ``CSV_LIMIT`` rows), audited as the page is."""
    params = _params(
        cidadao=cidadao,
        exportacao=exportacao,
        usuario=usuario,
        acao=acao,
        registro=registro,
        de=de,
        ate=ate,
        endereco=endereco,
    )
    entry_id = _id_param(solicitacao, "solicitacao", "Solicitação")
    citizen_id = _id_param(cidadao_id, "cidadao_id", "Cidadão")
    q, matches, chosen = await _question(request, db_session, settings, params, citizen_id, entry_id)
    rows = list(await audit_repo.search_all(db_session, common.actor(request), q, limit=CSV_LIMIT))
    filters = {**params, "cidadao_id": chosen.id if chosen else None, "solicitacao": entry_id, "formato": "csv"}
    # A download is an export of the events (shown as "Exportação", searched with the exports), not a page's list.
    await _audit_the_search(db_session, rows, filters, chosen, [] if chosen else matches, action=EXPORT)
    tz = ZoneInfo(settings.timezone)
    header = [
        "Quando",
        "Usuário",
        "Papel",
        "Ação",
        "Registro",
        "Endereço de origem",
        "Origem",
        "Requisição",
        "Código HTTP (recusas)",
    ]
    out = []
    for row in rows:
        v = _view(row)
        when = v["when"].astimezone(tz).strftime("%d/%m/%Y %H:%M:%S") if v["when"] else ""
        status = v["status"] if v["status"] is not None else ""
        out.append([when, v["user"], v["role"], v["action"], v["record"], v["ip"], v["source"], v["request"], status])
    return charts.csv_response("auditoria.csv", header, out)


def _fields(before: Any, after: Any) -> list[tuple[str, str, str]]:
    """The record's fields as they were and as they became: ``(field, before, after)``, values as JSON text."""

    def shown(value: Any, present: bool) -> str:
        if not present:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)

    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    return [(k, shown(b.get(k), k in b), shown(a.get(k), k in a)) for k in sorted(b.keys() | a.keys())]


@get("/auditoria/eventos/{event_id:int}", opt=allow(*AUDITORS), include_in_schema=False)
async def audit_event_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    event_id: int,
) -> Template:
    """One event whole: who, when, from where, the request, and the record's fields before and after. An event
    outside the auditor's jurisdiction is not found, as on the search; the reading is itself audited."""
    if not 0 < event_id <= BIGINT_MAX:
        raise NotFound("Evento de auditoria não encontrado.", code="evento_nao_encontrado")
    row = await audit_repo.event(db_session, common.actor(request), event_id)
    if row is None:
        raise NotFound("Evento de auditoria não encontrado.", code="evento_nao_encontrado")
    await record_read(db_session, "AuditEvent", str(event_id), uf=row["uf"], municipality_ibge=row["municipality_ibge"])
    return Template(
        "auditoria/evento.html",
        context={
            "e": _view(row),
            "raw": row,
            "fields": _fields(row["before"], row["after"]),
            "place": common.municipality_label(row["municipality_ibge"])
            if row["municipality_ibge"]
            else (common.jurisdiction_label(f"uf:{row['uf']}") if row["uf"] else "—"),
        },
    )


ROUTES = [audit_page, audit_csv, audit_event_page]

"""The dashboard domain's API: the public transparency panel (no login; Portaria GM/MS 3.492/2024, art. 10 §2 VI)
and the managers' equity impact report (art. 3 VIII)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from regula.access.policy import Role, allow, public
from regula.access.service import Principal
from regula.config import Settings
from regula.core.clock import local_today
from regula.core.errors import ValidationFailed
from regula.dashboard import service as transparency
from regula.dashboard.schemas import (
    EquityGroupPublic,
    EquityQueuePublic,
    EquityReportPublic,
    TransparencyMonth,
    TransparencyPublic,
    TransparencyRow,
)
from regula.waitlist import equity
from regula.waitlist.service import Actor


@get(
    "/api/v1/public/transparency",
    opt=public(),
    tags=["transparência"],
    summary="Painel público de transparência das filas (sem login, sem dados pessoais)",
    description=(
        "Por OCI e região de saúde ou município de residência: pessoas esperando, mediana e p90 da espera, espera "
        "estimada de um novo encaminhamento, percentual concluído no tM em 12 meses e a tendência mensal. Contagens "
        "de 1 a 4 pessoas vêm como '<5'; '—' oculta um número para que nenhuma contagem pequena seja descoberta por "
        "subtração. Respostas em cache por alguns minutos."
    ),
)
async def public_transparency(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    uf: Annotated[str | None, QueryParameter(description="Sigla da UF, por exemplo SC")] = None,
    nivel: Annotated[str | None, QueryParameter(description="regiao (padrão) ou municipio")] = None,
    oci: Annotated[str | None, QueryParameter(description="Código da OCI (10 dígitos)")] = None,
    area: Annotated[str | None, QueryParameter(description="Código da região de saúde ou IBGE do município")] = None,
) -> TransparencyPublic:
    cache = transparency.cache_of(request.app.state)
    panel = await transparency.public_panel(db_session, settings, cache, uf=uf, level=nivel, oci=oci, area=area)
    f = panel.filter
    return TransparencyPublic(
        uf=f.uf,
        nivel=f.level,
        oci=f.oci,
        area=f.area,
        data=panel.today,
        linhas=[
            TransparencyRow(
                oci_codigo=r.oci_code,
                oci_nome=r.oci_name,
                nivel=r.level,
                area_codigo=r.area_code,
                area_nome=r.area_name,
                protecao=r.mark.value,
                pessoas_esperando=r.waiting,
                pessoas_esperando_texto=r.waiting_text,
                mediana_espera_dias=r.median_days,
                p90_espera_dias=r.p90_days,
                espera_estimada_dias=r.expected_wait_days,
                percentual_concluidas_no_tm=r.within_tm_percent,
            )
            for r in panel.rows
        ],
        tendencia=[TransparencyMonth(x.month, x.enough, x.median_days, x.p90_days) for x in panel.trend],
        ufs_com_dados=panel.ufs,
    )


def _groups(groups: list[equity.GroupFigures]) -> list[EquityGroupPublic]:
    return [
        EquityGroupPublic(
            g.dimension,
            g.group,
            g.people,
            g.median_position_with,
            g.median_position_without,
            g.median_wait_with,
            g.median_wait_without,
        )
        for g in groups
    ]


@get(
    "/api/v1/reports/equity",
    opt=allow(Role.GESTOR, Role.AUDITOR),
    tags=["gestão"],
    summary="Impacto dos pesos de equidade por fila (art. 3º, VIII)",
    description=(
        "Para cada fila da jurisdição: quantas entradas os pesos de equidade moveram, o maior deslocamento e o "
        "mediano, e a posição e a espera projetada medianas por sexo, raça/cor, vulnerabilidade e CadÚnico, com e "
        "sem os pesos (a mesma política com a equidade zerada)."
    ),
)
async def equity_report(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oci: Annotated[str | None, QueryParameter(description="Código da OCI (10 dígitos)")] = None,
) -> EquityReportPublic:
    if oci is not None and not (oci.isdigit() and len(oci) == 10):
        raise ValidationFailed.for_field("oci", "oci_invalida", "Código de OCI tem 10 dígitos.")
    user = request.user
    assert isinstance(user, Principal)
    report = await equity.equity_report(db_session, settings, Actor.of(user), local_today(settings), oci=oci)
    return EquityReportPublic(
        data=report.today,
        filas=[
            EquityQueuePublic(
                fila=str(q.queue),
                politica=q.policy,
                pessoas_na_fila=q.size,
                agendadas_26_semanas=q.served,
                entradas_movidas=q.moved,
                subiram=q.moved_up,
                desceram=q.moved_down,
                maior_deslocamento=q.max_shift,
                mediana_deslocamento=q.median_shift,
                grupos=_groups(q.groups),
            )
            for q in report.queues
        ],
        todas_as_filas=_groups(report.overall),
    )


ROUTES = [public_transparency, equity_report]

"""API types of the public transparency panel and the equity report (never table models)."""

from __future__ import annotations

from datetime import date

from msgspec import Struct


class TransparencyRow(Struct):
    """One OCI in one area. ``pessoas_esperando`` is null when it is not shown; ``pessoas_esperando_texto`` says
    what is shown instead: "<5" (1 to 4 people) or "—" (hidden so that no small count can be recovered)."""

    oci_codigo: str
    oci_nome: str
    nivel: str  # uf | regiao | municipio | demais (the municipalities of a region with fewer than 5, together)
    area_codigo: str
    area_nome: str
    protecao: str  # visivel | menos_de_5 | suprimido
    pessoas_esperando: int | None
    pessoas_esperando_texto: str
    mediana_espera_dias: float | None
    p90_espera_dias: float | None
    espera_estimada_dias: int | None
    percentual_concluidas_no_tm: float | None


class TransparencyMonth(Struct):
    mes: str  # AAAA-MM
    pelo_menos_5_pessoas: bool
    mediana_dias_ate_agendamento: float | None
    p90_dias_ate_agendamento: float | None


class TransparencyPublic(Struct):
    uf: str
    nivel: str
    oci: str | None
    area: str | None
    data: date
    linhas: list[TransparencyRow]
    tendencia: list[TransparencyMonth]
    ufs_com_dados: list[str]


class EquityGroupPublic(Struct):
    dimensao: str  # sexo | raca_cor | vulnerabilidade | cadunico
    grupo: str
    pessoas: int
    mediana_posicao_com_pesos: float | None
    mediana_posicao_sem_pesos: float | None
    mediana_espera_projetada_com_pesos_dias: float | None
    mediana_espera_projetada_sem_pesos_dias: float | None


class EquityQueuePublic(Struct):
    fila: str  # OCI:escopo:código
    politica: str
    pessoas_na_fila: int
    agendadas_26_semanas: int
    entradas_movidas: int
    subiram: int
    desceram: int
    maior_deslocamento: int
    mediana_deslocamento: float | None
    grupos: list[EquityGroupPublic]


class EquityReportPublic(Struct):
    """The equity impact report (Portaria GM/MS 3.492/2024, art. 3 VIII): per queue, what the equity weights did."""

    data: date
    filas: list[EquityQueuePublic]
    todas_as_filas: list[EquityGroupPublic]

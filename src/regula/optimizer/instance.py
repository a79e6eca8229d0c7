"""The allocation instance and solution: the documented JSON exchange format of the optimizer.

Pure types (pydantic v2, frozen, unknown fields refused). ``docs/allocation-instance.md`` describes the format and
``docs/allocation-instance.schema.json`` is generated from :class:`Instance` (a test keeps them equal).

Everything in a :class:`Solution` except ``meta`` is canonical: it depends only on the instance, so solving the
same file twice gives the same bytes (:func:`dump_solution`). Wall-clock figures live in ``meta`` and are written
only when asked for.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Final, Literal, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from regula.core.errors import FieldError, ValidationFailed

INSTANCE_FORMAT: Final = "regula.allocation.instance/1"
SOLUTION_FORMAT: Final = "regula.allocation.solution/1"

ScopeKind = Literal["municipality", "region", "macro", "uf"]
Sex = Literal["M", "F"]
Status = Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "ERROR"]
SCOPE_WIDTH: Final[dict[str, int]] = {"municipality": 0, "region": 1, "macro": 2, "uf": 3}


_M = TypeVar("_M", bound=BaseModel)


def _id_to_str(value: Any) -> Any:
    # Ids from the database are integers; the exchange format keeps them as strings so every id compares alike.
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int) else value


Id = Annotated[str, BeforeValidator(_id_to_str), Field(min_length=1, max_length=64)]
Ibge = Annotated[str, Field(pattern=r"^\d{7}$", description="Código IBGE do município (7 dígitos)")]
Code = Annotated[str, Field(min_length=1, max_length=16)]


#: The objective's bound: the largest arc cost times the number of entries stays below this (int64 with room for
#: the solvers' own sums).
COST_LIMIT = 2**62
#: The largest priority the instance accepts (regula's queue scores reach 40,000; 10^9 leaves room for any scale
#: with the default weights).
MAX_PRIORITY = 10**9
#: Half the Earth's circumference: no haversine is longer.
MAX_TRIP_KM = 20_038


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Entry(_Frozen):
    """An authorized waiting entry (one citizen, one OCI)."""

    id: Id
    municipality_ibge: Ibge = Field(description="Município de residência")
    priority: int = Field(
        ge=0, le=MAX_PRIORITY, description="Peso de prioridade (o escore da fila); maior é mais urgente"
    )
    authorized_date: dt.date = Field(description="Início da janela do tM (autorização)")
    deadline: dt.date = Field(description="Prazo do tM")
    oci_code: Code = Field(description="OCI para a qual a entrada é elegível")
    sex: Sex
    age_years: int = Field(ge=0, le=130)
    scope_kind: ScopeKind = Field(description="Abrangência em que a entrada pode ser atendida")
    scope_code: Code = Field(description="Código da abrangência (IBGE, região, macrorregião ou UF)")
    region_code: Code | None = Field(
        default=None,
        description="Região de saúde de residência: só explica as atribuições fora dela (não muda a solução)",
    )
    macro_code: Code | None = Field(default=None, description="Macrorregião de residência, para o escalonamento")
    uf: Code | None = Field(default=None, description="UF de residência, para o escalonamento")
    unavailable_dates: list[dt.date] = Field(default_factory=list)
    accepts_short_notice: bool = False

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.deadline < self.authorized_date:
            raise ValueError("o prazo (deadline) é anterior à autorização (authorized_date)")
        return self


class Bucket(_Frozen):
    """Slots of one provider for one OCI, aggregated by day or week and modality."""

    id: Id
    provider_cnes: Code
    municipality_ibge: Ibge = Field(description="Município do estabelecimento")
    region_code: Code
    macro_code: Code
    uf: Code
    date: dt.date = Field(description="Primeiro dia do agrupamento")
    days: int = Field(default=1, ge=1, le=31, description="Dias cobertos a partir de date (1 = um dia, 7 = semana)")
    oci_code: Code
    capacity: int = Field(ge=0)
    teleconsultation: bool = False
    age_min: int | None = Field(default=None, ge=0, le=130)
    age_max: int | None = Field(default=None, ge=0, le=130)
    sex: Sex | None = Field(default=None, description="Restrição de sexo do estabelecimento para esta OCI")

    @model_validator(mode="after")
    def _ages(self) -> Self:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("idade mínima maior que a máxima")
        return self


class Quota(_Frozen):
    """PPI/PAR agreement: municipality may use at most ``limit`` of the provider's slots of the OCI in the period."""

    id: Id
    municipality_ibge: Ibge
    provider_cnes: Code
    oci_code: Code
    start: dt.date
    end: dt.date
    limit: int = Field(ge=0)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.end < self.start:
            raise ValueError("o fim do período é anterior ao início")
        return self


class Distance(_Frozen):
    from_ibge: Ibge
    to_ibge: Ibge
    km: int = Field(ge=0)


class Weights(_Frozen):
    """Integer objective weights. The cost of serving entry e at bucket b (minimized; not serving costs 0) is::

    -(value_base + value_per_level·level) + earliness_per_level_day·(level+1)·days + travel_per_km·km + lateness

    with ``level = priority // priority_band``, ``days`` from ``today`` to the bucket's date, ``km`` 0 for
    teleconsultation and ``lateness = lateness_penalty`` when the bucket's date is after the deadline."""

    value_base: int = Field(default=10_000, ge=0)
    value_per_level: int = Field(default=100, ge=0)
    earliness_per_level_day: int = Field(default=1, ge=0)
    travel_per_km: int = Field(default=10, ge=0)
    lateness_penalty: int = Field(default=5_000, ge=0)


class Params(_Frozen):
    today: dt.date
    priority_band: int = Field(default=1, ge=1, description="Largura de um nível de prioridade no objetivo")
    weights: Weights = Field(default_factory=Weights)
    late_policy: Literal["penalize", "forbid"] = "penalize"
    short_notice_days: int = Field(default=0, ge=0, description="Vagas a menos de N dias só para quem aceita")
    escalation_percent: int = Field(default=75, ge=0, le=100, description="Fração do tM que dispara o escalonamento")
    fallback_deterministic_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Limite do modelo inteiro (HiGHS) dos componentes fora da rede: 1.000 nós de branch-and-bound "
        "por unidade (determinístico); o relógio, só como proteção, a 10 s por unidade (no mínimo 60 s)",
    )
    change_penalty: int = Field(
        default=1_000,
        ge=0,
        description="Custo de mudar uma proposta anterior ainda não notificada (incumbents): ela é mantida sempre que "
        "mantê-la custar no máximo isto a mais",
    )
    explain: bool = True
    max_travel_km: int | None = Field(
        default=None,
        ge=0,
        le=MAX_TRIP_KM,
        description="Distância máxima (km) da residência a um estabelecimento presencial, para toda OCI sem limite "
        "próprio; null: sem limite. Teleconsulta não tem deslocamento (0 km) e nunca é excluída",
    )
    max_travel_km_by_oci: dict[Code, Annotated[int, Field(ge=0, le=MAX_TRIP_KM)]] = Field(
        default_factory=dict,
        description="Distância máxima (km) por OCI (código SIGTAP), no lugar de max_travel_km para ela",
    )


class Fixed(_Frozen):
    """An entry → bucket pair carried over from before the solve (``pinned`` or ``incumbents``)."""

    entry_id: Id
    bucket_id: Id


class Instance(_Frozen):
    format: Literal["regula.allocation.instance/1"] = INSTANCE_FORMAT
    params: Params
    entries: list[Entry]
    buckets: list[Bucket]
    quotas: list[Quota] = Field(default_factory=list)
    municipalities: dict[Ibge, tuple[float, float]] = Field(
        default_factory=dict, description="Coordenadas [latitude, longitude] por município (IBGE)"
    )
    distances: list[Distance] = Field(default_factory=list, description="Distâncias que substituem a haversine")
    pinned: list[Fixed] = Field(
        default_factory=list,
        description="Agendamentos já notificados: mantidos como estão, consomem capacidade e cotas",
    )
    incumbents: list[Fixed] = Field(
        default_factory=list,
        description="Propostas anteriores ainda não notificadas: mantidas salvo ganho maior que params.change_penalty",
    )

    @model_validator(mode="after")
    def _references(self) -> Self:
        lists: tuple[tuple[str, list[str]], ...] = (
            ("entries", [e.id for e in self.entries]),
            ("buckets", [b.id for b in self.buckets]),
            ("quotas", [q.id for q in self.quotas]),
        )
        for name, ids in lists:
            if len(set(ids)) == len(ids):  # the usual case, without a Python step per id (a million entries)
                continue
            seen: set[str] = set()
            for i, item_id in enumerate(ids):
                if item_id in seen:
                    raise _located(f"{name}[{i}].id", "id repetido", "id_repetido")
                seen.add(item_id)
        providers: dict[str, tuple[str, str, str, str]] = {}
        for i, b in enumerate(self.buckets):
            where = (b.municipality_ibge, b.region_code, b.macro_code, b.uf)
            if providers.setdefault(b.provider_cnes, where) != where:
                raise _located(
                    f"buckets[{i}].municipality_ibge", "o mesmo CNES aparece em territórios diferentes", "cnes_ambiguo"
                )
            if b.date < self.params.today:
                raise _located(f"buckets[{i}].date", "vaga anterior a params.today", "vaga_no_passado")
        self._check_distances()
        self._check_cost_range()
        self._check_carried_over()
        return self

    def _check_distances(self) -> None:
        """Every kilometre the solve will need is known: for each municipality an entry lives in and each one a
        face-to-face bucket is in, either both have coordinates or a distance is listed in either direction (the
        solver looks them up both ways). Teleconsultation needs none. The field named is the side without
        coordinates (the entry's when neither has them)."""
        road = {b.municipality_ibge: i for i, b in reversed(list(enumerate(self.buckets))) if not b.teleconsultation}
        if not road:
            return
        coords = self.municipalities
        listed = {(d.from_ibge, d.to_ibge) for d in self.distances}
        listed |= {(b, a) for a, b in listed}
        # Each home municipality with its first entry's index: built by dict() from the reversed pairs, the last
        # write (the first entry) wins, without a Python step per entry (2 s of a million-entry build before).
        lived = [e.municipality_ibge for e in self.entries]
        homes = dict(zip(reversed(lived), range(len(lived) - 1, -1, -1), strict=True))
        for m, i in homes.items():
            for p, j in road.items():
                if m == p or (m, p) in listed or (m in coords and p in coords):
                    continue
                if m not in coords:
                    raise _located(
                        f"entries[{i}].municipality_ibge",
                        f"município {m} sem coordenadas nem distância até {p} (inclua-o em municipalities)",
                        "municipio_sem_coordenadas",
                    )
                raise _located(
                    f"buckets[{j}].municipality_ibge",
                    f"município {p} sem coordenadas nem distância até {m} (inclua-o em municipalities)",
                    "municipio_sem_coordenadas",
                )

    def _check_cost_range(self) -> None:
        """The objective stays inside the solvers' 64-bit integers (issue 18: a priority near 10^16 made the flow
        solver fail while the greedy solved it). The largest cost of one arc — value, earliness over the farthest
        bucket date, the longest trip on Earth, lateness and the change penalty — times the number of entries must
        stay below 2^62 (priorities are bounded by ``MAX_PRIORITY`` in the schema; weights that break it are
        refused)."""
        if not self.entries:
            return
        w, params = self.params.weights, self.params
        max_days = max((max(0, (b.date - params.today).days) for b in self.buckets), default=0)
        max_km = max([MAX_TRIP_KM, *(d.km for d in self.distances)])
        top = max(range(len(self.entries)), key=lambda i: self.entries[i].priority)
        level = self.entries[top].priority // params.priority_band
        arc = (
            w.value_base
            + w.value_per_level * level
            + w.earliness_per_level_day * (level + 1) * max_days
            + w.travel_per_km * max_km
            + w.lateness_penalty
            + params.change_penalty
        )
        if arc * len(self.entries) < COST_LIMIT:
            return
        raise _located(
            "params.weights",
            "pesos grandes demais para o tamanho da instância: o custo excederia o limite do otimizador",
            "custo_fora_do_limite",
        )

    def _check_carried_over(self) -> None:
        """Pinned and incumbent pairs name known entries and buckets, each entry at most once across both lists; the
        pinned pairs (facts: the person was notified) fit their buckets' capacities and the quotas that count them."""
        if not self.pinned and not self.incumbents:
            return
        entries = {e.id: e for e in self.entries}
        buckets = {b.id: b for b in self.buckets}
        carried: set[str] = set()
        for name, pairs in (("pinned", self.pinned), ("incumbents", self.incumbents)):
            for i, f in enumerate(pairs):
                if f.entry_id not in entries:
                    raise _located(f"{name}[{i}].entry_id", "entrada inexistente na instância", "entrada_inexistente")
                if f.bucket_id not in buckets:
                    raise _located(f"{name}[{i}].bucket_id", "vaga inexistente na instância", "vaga_inexistente")
                if f.entry_id in carried:
                    raise _located(f"{name}[{i}].entry_id", "entrada repetida em pinned/incumbents", "id_repetido")
                carried.add(f.entry_id)
                if name == "pinned" and entries[f.entry_id].oci_code != buckets[f.bucket_id].oci_code:
                    raise _located(f"{name}[{i}].bucket_id", "a vaga é de outra OCI", "oci_incompativel")
        used: dict[str, int] = {}
        for i, f in enumerate(self.pinned):
            used[f.bucket_id] = used.get(f.bucket_id, 0) + 1
            if used[f.bucket_id] > buckets[f.bucket_id].capacity:
                raise _located(
                    f"pinned[{i}].bucket_id",
                    "mais agendamentos fixados que a capacidade da vaga",
                    "capacidade_excedida",
                )
        dates: dict[tuple[str, str, str], list[dt.date]] = {}
        for f in self.pinned:
            e, b = entries[f.entry_id], buckets[f.bucket_id]
            dates.setdefault((e.municipality_ibge, b.provider_cnes, b.oci_code), []).append(b.date)
        for j, q in enumerate(self.quotas):
            held = dates.get((q.municipality_ibge, q.provider_cnes, q.oci_code), [])
            if sum(q.start <= d <= q.end for d in held) > q.limit:
                raise _located(f"quotas[{j}].limit", "a cota é menor que os agendamentos fixados", "cota_excedida")


class _Located(ValueError):
    def __init__(self, field: str, message: str, code: str) -> None:
        super().__init__(f"{field}: {message} [{code}]")
        self.field, self.message, self.code = field, message, code


def _located(field: str, message: str, code: str) -> _Located:
    return _Located(field, message, code)


# -- solution ------------------------------------------------------------------------------------------------------


class Explanation(_Frozen):
    """Why this bucket: the cost components of the assignment and the entry's rank inside its class."""

    value: int = Field(description="Valor do atendimento (entra com sinal negativo no custo)")
    earliness: int
    travel_km: int
    travel_cost: int
    lateness: int
    cost: int = Field(description="-value + earliness + travel_cost + lateness")
    class_index: int = Field(
        description="Classe de equivalência da entrada (mesmos custos e elegibilidade); -1 para agendamento fixado"
    )
    rank_in_class: int = Field(ge=1, description="Posição na classe: prioridade, prazo, id")
    class_size: int = Field(ge=1)
    origin: Literal["new", "kept", "moved", "pinned"] = Field(
        default="new",
        description="new: sem proposta anterior; kept/moved: proposta anterior mantida/mudada; pinned: já notificado",
    )


class Assignment(_Frozen):
    entry_id: str
    bucket_id: str
    explanation: Explanation | None = None


class Stats(_Frozen):
    """Deterministic counts (part of the canonical output)."""

    entries: int = 0
    buckets: int = 0
    quotas: int = 0
    classes: int = 0
    hubs: int = 0
    quota_nodes: int = 0
    nodes: int = 0
    arcs: int = 0
    components: int = 0
    fallback_components: int = 0
    assigned: int = 0
    pinned: int = Field(default=0, description="Agendamentos fixados (todos mantidos)")
    incumbents: int = 0
    incumbents_kept: int = Field(default=0, description="Propostas anteriores mantidas na mesma vaga")
    incumbents_moved: int = Field(default=0, description="Propostas anteriores mudadas para outra vaga")
    incumbents_dropped: int = Field(default=0, description="Propostas anteriores cuja entrada ficou sem vaga")


class Meta(_Frozen):
    """Wall-clock figures: never part of the canonical output."""

    prepare_seconds: float = 0.0
    solve_seconds: float = 0.0
    total_seconds: float = 0.0
    workers: int = 1


class Solution(_Frozen):
    format: Literal["regula.allocation.solution/1"] = SOLUTION_FORMAT
    solver: Literal["flow", "greedy"]
    status: Status
    objective: int = Field(description="Custo total minimizado (negativo: benefício líquido)")
    bound: int | None = Field(
        default=None,
        description="Só quando status é FEASIBLE: limite inferior provado do objetivo minimizado (objective mais o "
        "custo das propostas anteriores mudadas)",
    )
    gap: float | None = Field(
        default=None,
        description="Só quando status é FEASIBLE: distância relativa máxima até o ótimo "
        "((objetivo − bound) / |objetivo|)",
    )
    assignments: list[Assignment] = Field(description="Ordenadas por entry_id")
    unassigned: list[str] = Field(description="Entradas não alocadas, em ordem de id")
    escalated: list[str] = Field(description="Entradas cuja abrangência foi ampliada (para a navegação)")
    stats: Stats = Field(default_factory=Stats)
    meta: Meta | None = None


# -- I/O helpers ---------------------------------------------------------------------------------------------------


def dump_solution(solution: Solution, *, with_timing: bool = False) -> bytes:
    """Canonical bytes of a solution: fixed key order, no wall time unless ``with_timing``."""
    data = solution.model_dump(mode="json", exclude=None if with_timing else {"meta"}, exclude_none=False)
    if not with_timing:
        data.pop("meta", None)
    for key in ("bound", "gap"):  # only a result not proven optimal has them
        if data.get(key) is None:
            data.pop(key, None)
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(documento)"


_MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "missing": ("obrigatorio", "Campo obrigatório."),
    "extra_forbidden": ("campo_desconhecido", "Campo desconhecido."),
    "int_type": ("tipo_invalido", "Número inteiro esperado."),
    "int_parsing": ("tipo_invalido", "Número inteiro esperado."),
    "int_from_float": ("tipo_invalido", "Número inteiro esperado."),
    "string_type": ("tipo_invalido", "Texto esperado."),
    "bool_type": ("tipo_invalido", "Verdadeiro ou falso esperado."),
    "bool_parsing": ("tipo_invalido", "Verdadeiro ou falso esperado."),
    "date_type": ("data_invalida", "Data inválida (use AAAA-MM-DD)."),
    "date_parsing": ("data_invalida", "Data inválida (use AAAA-MM-DD)."),
    "date_from_datetime_parsing": ("data_invalida", "Data inválida (use AAAA-MM-DD)."),
    "literal_error": ("valor_nao_permitido", "Valor não permitido."),
    "greater_than_equal": ("valor_fora_do_intervalo", "Valor abaixo do mínimo."),
    "greater_than": ("valor_fora_do_intervalo", "Valor abaixo do mínimo."),
    "less_than_equal": ("valor_fora_do_intervalo", "Valor acima do máximo."),
    "string_pattern_mismatch": ("formato_invalido", "Formato inválido."),
    "string_too_short": ("obrigatorio", "Texto vazio."),
    "string_too_long": ("formato_invalido", "Texto longo demais."),
    "list_type": ("tipo_invalido", "Lista esperada."),
    "dict_type": ("tipo_invalido", "Objeto esperado."),
    "model_type": ("tipo_invalido", "Objeto esperado."),
    "json_invalid": ("json_invalido", "JSON inválido."),
}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic errors as :class:`FieldError` values with dotted paths and Portuguese messages."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        located = ctx.get("error")
        if isinstance(located, _Located):
            base = _field_path(tuple(err["loc"]))
            field = located.field if base == "(documento)" else f"{base}.{located.field}"
            out.append(FieldError(field, located.code, located.message[:1].upper() + located.message[1:] + "."))
            continue
        code, message = _MESSAGES.get(err["type"], ("valor_invalido", ""))
        if not message:
            text = str(located) if located is not None else err["msg"]
            message = f"Valor inválido: {text}."
        out.append(FieldError(_field_path(tuple(err["loc"])), code, message))
    return out


def _parse(model: type[_M], raw: bytes | str, what: str) -> _M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ValidationFailed(f"{what} inválida.", code="dados_invalidos", errors=errors) from exc


def load_instance(raw: bytes | str) -> Instance:
    """Parse an instance; raises :class:`ValidationFailed` naming each bad field."""
    return _parse(Instance, raw, "Instância")


def load_solution(raw: bytes | str) -> Solution:
    return _parse(Solution, raw, "Solução")


def instance_json_schema() -> dict[str, Any]:
    schema = Instance.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://regula.example/schemas/allocation-instance.schema.json"
    return schema


def instance_json_schema_text() -> str:
    return json.dumps(instance_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"

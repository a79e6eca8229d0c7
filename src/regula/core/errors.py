"""Typed domain errors. Each carries an HTTP status, a stable code for programs and a Portuguese message for
people; field errors name the field path. The web layer renders them as RFC 9457 problem details, the CLI as a
clear message and a non-zero exit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. "cpf" or "rows[3].municipality_ibge"
    code: str  # stable, snake_case, e.g. "cpf_digito_verificador"
    message: str  # Portuguese, for people

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "requisicao_invalida"
    title: ClassVar[str] = "Requisição inválida"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.errors = errors or []
        self.extra = extra or {}

    @classmethod
    def for_field(cls, field: str, code: str, message: str) -> DomainError:
        return cls(message, code=code, errors=[FieldError(field, code, message)])

    def __str__(self) -> str:
        if not self.errors:
            return f"{self.message} [{self.code}]"
        details = "; ".join(f"{e.field}: {e.message} [{e.code}]" for e in self.errors)
        return f"{self.message} — {details}"


class ValidationFailed(DomainError):
    status_code = 422
    default_code = "dados_invalidos"
    title = "Dados inválidos"


class NotFound(DomainError):
    status_code = 404
    default_code = "nao_encontrado"
    title = "Não encontrado"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflito"
    title = "Conflito"


class NotAuthenticated(DomainError):
    status_code = 401
    default_code = "nao_autenticado"
    title = "Autenticação necessária"


class PermissionDenied(DomainError):
    status_code = 403
    default_code = "acesso_negado"
    title = "Acesso negado"


class TooManyRequests(DomainError):
    status_code = 429
    default_code = "muitas_requisicoes"
    title = "Muitas requisições"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code, extra={"retry_after": retry_after})
        self.retry_after = retry_after  # seconds, sent as Retry-After

"""Names of the injected dependencies, typed once (`runtime: RuntimeDep`, `session: SessionDep`,
`services: ServicesDep`: the process's ports, api.composition)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from api.composition import Services
from core.runtime import Runtime

RuntimeDep = NamedDependency[Runtime]
SessionDep = NamedDependency[AsyncSession]
ServicesDep = NamedDependency[Services]

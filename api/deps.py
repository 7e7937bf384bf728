"""Names of the injected dependencies, typed once (`runtime: RuntimeDep`, `session: SessionDep`)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core.runtime import Runtime

RuntimeDep = NamedDependency[Runtime]
SessionDep = NamedDependency[AsyncSession]

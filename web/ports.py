"""What the pages need from the process's one composition (api.composition.Services), named
as a Protocol so web/ never imports api/: api composes the app and mounts web, web sits below
it (`api -> web -> rooms -> core`). Litestar injects the real `Services` under the same
dependency names the JSON controllers use (`services`, `session`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

import payments
from auth import Throttle
from commerce import OrderPlacement
from core.runtime import Runtime
from core.sms import SmsOutbox


@runtime_checkable  # Litestar checks injected values against their annotation
class Ports(Protocol):
    @property
    def runtime(self) -> Runtime: ...

    @property
    def throttle(self) -> Throttle: ...

    @property
    def sms(self) -> SmsOutbox: ...

    @property
    def payments(self) -> payments.PaymentDeps: ...

    @property
    def placement(self) -> OrderPlacement: ...


# Injected by name (api.app's dependencies), not checked against the Protocol at run time.
PortsDep = NamedDependency[Ports]
SessionDep = NamedDependency[AsyncSession]

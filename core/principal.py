"""Who is making a request, as every room sees it (decoded from the bearer token by api/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["agent", "supervisor", "finance", "admin"]
ROLES: tuple[str, ...] = ("agent", "supervisor", "finance", "admin")
Channel = Literal["phone", "sms", "web"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["customer", "agent"]
    id: str
    roles: frozenset[str] = frozenset()
    via: Channel | None = None  # set where the channel is not the token's (SMS, the IVR)

    @property
    def is_customer(self) -> bool:
        return self.kind == "customer"

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    def has_any(self, *roles: str) -> bool:
        return self.is_agent and bool(self.roles.intersection(roles))

    @property
    def channel(self) -> Channel:
        """Agents take calls; customers with a token use the web; SMS and the IVR say so."""
        if self.via is not None:
            return self.via
        return "phone" if self.is_agent else "web"

    @property
    def actor(self) -> str:
        """How history rows name this principal: 'agent:<id>' or 'customer:<id>'."""
        return f"{self.kind}:{self.id}"

"""Admin commands: each room's module below adds its commands to `hotline` on import."""

from __future__ import annotations

from api import (  # noqa: F401
    cli_auth,
    cli_commerce,
    cli_finance,
    cli_fulfillment,
    cli_payments,
    cli_sms,
    cli_ticketing,
    cli_voice,
)

"""The e-ticket as a QR code (segno): the order number and a check value keyed with the
service's secret, so a gate can tell a ticket Hotline issued from a made-up one."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import segno


def eticket_text(secret: str, order: Any) -> str:
    check = hmac.new(secret.encode(), f"eticket:{order.id}".encode(), hashlib.sha256)
    return f"HOTLINE:{order.number}:{check.hexdigest()[:16].upper()}"


def eticket_svg(secret: str, order: Any) -> str:
    """Inline SVG (no request of its own, a few KB); quiet zone kept for phone scanners.

    A viewBox and no width/height (omitsize): the stylesheet sizes the code to the screen, and
    with fixed width/height the drawing stayed 150 px in the corner of a wider box."""
    qr = segno.make(eticket_text(secret, order), error="m")
    svg: str = qr.svg_inline(scale=6, dark="#111", light="#fff", border=4, omitsize=True)
    return svg

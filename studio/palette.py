"""Palette fixes: disabled text that reads as disabled in any palette (dark ones often leave it as enabled)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

#: Foreground roles whose disabled colour is derived when the palette does not set a distinct one.
_ROLES = (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
          QPalette.ColorRole.PlaceholderText)
_BACKGROUND = {QPalette.ColorRole.WindowText: QPalette.ColorRole.Window, QPalette.ColorRole.Text: QPalette.ColorRole.Base,
               QPalette.ColorRole.ButtonText: QPalette.ColorRole.Button,
               QPalette.ColorRole.PlaceholderText: QPalette.ColorRole.Base}


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() * (1 - t) + b.red() * t), round(a.green() * (1 - t) + b.green() * t),
                  round(a.blue() * (1 - t) + b.blue() * t))


def _distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def with_readable_disabled(palette: QPalette) -> QPalette:
    """A copy of ``palette`` where each disabled foreground sits halfway to its background.

    Only roles whose disabled colour is (nearly) the active one are changed, so a palette
    that already dims disabled controls is left as it is.
    """
    out = QPalette(palette)
    active, disabled = QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled
    for role in _ROLES:
        fg = palette.color(active, role)
        if _distance(palette.color(disabled, role), fg) > 60:
            continue
        bg = palette.color(active, _BACKGROUND[role])
        out.setColor(disabled, role, _mix(fg, bg, 0.55))
    return out

"""Disabled controls look disabled in a dark palette too."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

from studio.palette import with_readable_disabled


def _dark(disabled_like_active: bool) -> QPalette:
    palette = QPalette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive, QPalette.ColorGroup.Disabled):
        palette.setColor(group, QPalette.ColorRole.Window, QColor("#2b2b2b"))
        palette.setColor(group, QPalette.ColorRole.Base, QColor("#1e1e1e"))
        palette.setColor(group, QPalette.ColorRole.Button, QColor("#333333"))
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            palette.setColor(group, role, QColor("#e0e0e0"))
    if not disabled_like_active:
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#707070"))
    return palette


def test_disabled_text_moves_towards_the_background(qapp):
    fixed = with_readable_disabled(_dark(True))
    active = fixed.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text)
    disabled = fixed.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    base = fixed.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Base)
    assert disabled != active
    assert abs(disabled.lightness() - base.lightness()) < abs(active.lightness() - base.lightness())


def test_a_palette_that_already_dims_is_kept(qapp):
    palette = _dark(False)
    fixed = with_readable_disabled(palette)
    assert fixed.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text) == QColor("#707070")

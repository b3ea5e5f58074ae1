"""App icons for the installers: PNGs rendered from the studio's SVG with Qt, packed into .ico and .icns."""

from __future__ import annotations

import os
import struct
from pathlib import Path

#: Sizes the Linux icon theme, Windows and macOS look for.
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
#: .icns element types that hold a PNG of the given pixel size.
_ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render_pngs(svg: Path, out_dir: Path, sizes: tuple[int, ...] = PNG_SIZES) -> dict[int, Path]:
    """Render ``svg`` to ``out_dir/<size>.png`` for each size (off screen, no display needed)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QByteArray, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QSvgRenderer needs one
    renderer = QSvgRenderer(QByteArray(svg.read_bytes()))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"{size}.png"
        if not image.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        written[size] = path
    return written


def write_ico(pngs: dict[int, Path], out: Path) -> Path:
    """A Windows .ico holding PNG images (Vista and later read PNG entries), up to 256 px."""
    entries = [(size, pngs[size].read_bytes()) for size in sorted(pngs) if size <= 256]
    header = struct.pack("<HHH", 0, 1, len(entries))
    offset = len(header) + 16 * len(entries)
    directory, blobs = b"", b""
    for size, data in entries:
        dim = 0 if size == 256 else size  # 0 means 256 in an ICONDIRENTRY
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    out.write_bytes(header + directory + blobs)
    return out


def write_icns(pngs: dict[int, Path], out: Path) -> Path:
    """A macOS .icns holding PNG elements."""
    body = b""
    for size, kind in _ICNS_TYPES.items():
        if size in pngs:
            data = pngs[size].read_bytes()
            body += kind + struct.pack(">I", len(data) + 8) + data
    out.write_bytes(b"icns" + struct.pack(">I", len(body) + 8) + body)
    return out

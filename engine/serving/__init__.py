"""Serving: deploy packages (MindSpore Serving, Triton), a local V2 endpoint, and a closed-loop load test.

Submodules import their heavy dependencies (starlette, uvicorn, onnxruntime) inside the
functions that need them, so importing this package is cheap and works without the
``serve`` extra.
"""

from __future__ import annotations

__all__: list[str] = []

"""The studio's assets (icons, sample model, desktop and MIME files), shipped as the package ``studio.resources``."""

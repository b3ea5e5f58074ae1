"""What pyproject.toml cannot say: the top-level resources/ folder ships as the package ``studio.resources``.

Everything else (metadata, dependencies, entry points) is in pyproject.toml. The assets stay
where DESIGN.md puts them (resources/ beside engine/ and studio/) and are mapped into the
package at build time, so ``importlib.resources.files("studio.resources")`` finds them in a
wheel, an editable install and the frozen app (packaging/deploy_studio.spec) alike.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["engine", "engine.*", "studio", "studio.*"]), "studio.resources"],
    package_dir={"studio.resources": "resources"},
    package_data={"studio.resources": ["*.desktop", "*.xml", "icons/*.svg", "samples/*"]},
    include_package_data=False,
)

"""The version of ptft (one place: the package, bundles and `ptft --version` read it)."""

__version__ = "0.1.0"

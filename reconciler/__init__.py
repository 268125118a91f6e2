"""reconciler: declare COR clients, brands and products in YAML; plan and apply them."""

__version__ = "0.1.0"

"""One module per solver family, each registering its demo with ``itercore._demo.demo``."""

"""Scripts that regenerate every figure: `python -m figures [name ...]` (or `make figures`)."""

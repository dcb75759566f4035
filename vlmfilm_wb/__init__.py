"""Notebook-driven workbench for vessel segmentation by flow matching with a VLM-conditioned FiLM UNet

Modules:

- `vlmfilm_wb.core`: Settings, project paths, strict typed configs, atomic writes and the errors every module raises."""

__version__ = "0.1.0"

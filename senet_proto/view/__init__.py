"""Seeing the nets: Netron, Netscope (editor, gists), Graphviz diagrams, Netscope-safety checks."""

from .netscope import check_netscope_safe

__all__ = ["check_netscope_safe"]

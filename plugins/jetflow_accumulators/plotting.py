"""The plot style of the accumulators plugin's report: matplotlib without a display, CMS style, line colours."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed), in mplhep's CMS style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    mplhep.style.use("CMS")
    return plt


def line_colors(plt, n: int) -> tuple:
    """Line colours for ``n`` curves: tab10's, then (past 10 curves) tab20's lighter shades."""
    tab20 = plt.get_cmap("tab20").colors
    return tab20[0::2] + (tab20[1::2] if n > 10 else ())

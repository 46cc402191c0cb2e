"""The kinds of N-subjettiness axes: one home for their names (kept apart from the numba kernels,
so that the plugin's options know them without importing numba)."""

from __future__ import annotations

from enum import Enum


class Axes(Enum):
    """The axes tau_N is measured from (the ``axes`` option)."""

    KT = "kt"
    """exclusive kt clustering, E-scheme recombination (FastJet contrib's ``KT_Axes``)"""
    WTA_KT = "wta_kt"
    """exclusive kt clustering, winner-take-all recombination (``WTA_KT_Axes``)"""
    ONEPASS_KT = "onepass_kt"
    """kt axes refined by the one-pass minimisation (``OnePass_KT_Axes``)"""
    ONEPASS_WTA_KT = "onepass_wta_kt"
    """WTA kt axes refined by the one-pass minimisation (``OnePass_WTA_KT_Axes``)"""

    @property
    def wta(self) -> bool:
        """Winner-take-all recombination (else E-scheme)."""
        return self in (Axes.WTA_KT, Axes.ONEPASS_WTA_KT)

    @property
    def one_pass(self) -> bool:
        """Seeds refined by the contrib's one-pass minimisation."""
        return self in (Axes.ONEPASS_KT, Axes.ONEPASS_WTA_KT)


AXES_NAMES = tuple(a.value for a in Axes)

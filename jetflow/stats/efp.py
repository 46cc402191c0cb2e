"""Energy-flow polynomials ([efp]: Komiske, Metodiev, Thaler, arXiv:1712.07124), as the `jetnet` package
computes them for its generative metrics (energyflow's ``EFPSet``, measure ``hadr``, beta = 1, unnormalised).

An EFP of a multigraph G with N vertices and edges E is a sum over every N-tuple of a jet's particles:

    EFP_G = sum_{i_1..i_N} z_{i_1} ... z_{i_N}  prod_{(k, l) in E} theta_{i_k i_l}

with z_i the particle's pT as given (JetNet's relative pT: the pT fraction) and theta_ij = sqrt(Delta y^2 +
Delta phi^2) (Delta phi wrapped; the pseudorapidity stands for y, as in `jetnet`).  A disconnected graph's EFP
is the product of its components'.  Every multigraph up to a number of edges is enumerated here (no self
loops; isomorphic graphs once), so nothing is downloaded or hard-coded: with at most 4 edges there are 36
graphs (the single vertex, 20 connected graphs with edges, 15 products of them), jetnet's FPD and KPD
features; its W1-EFP uses the 5 connected ones with 4 vertices and 4 edges.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Graph:
    """A multigraph: ``edges`` as sorted vertex pairs (repeated for a multiple edge) on vertices 0 .. n - 1."""

    n: int
    edges: tuple[tuple[int, int], ...]

    @property
    def degree(self) -> int:
        """The number of edges, d."""
        return len(self.edges)

    @property
    def connected(self) -> bool:
        return len(components(self)) == 1


def _canonical(n: int, edges) -> tuple[tuple[int, int], ...]:
    """The lexicographically smallest edge list over every relabelling of the vertices."""
    best = None
    for perm in itertools.permutations(range(n)):
        relabelled = tuple(sorted(tuple(sorted((perm[a], perm[b]))) for a, b in edges))
        if best is None or relabelled < best:
            best = relabelled
    return best


def components(graph: Graph) -> list[Graph]:
    """The connected components, each relabelled 0 .. k - 1 (an isolated vertex is its own)."""
    parent = list(range(graph.n))

    def root(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for a, b in graph.edges:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for v in range(graph.n):
        groups.setdefault(root(v), []).append(v)
    out = []
    for vertices in groups.values():
        index = {v: i for i, v in enumerate(vertices)}
        out.append(Graph(len(vertices), tuple(sorted((index[a], index[b]) for a, b in graph.edges if a in index))))
    return out


@lru_cache(maxsize=None)
def connected_graphs(d: int) -> tuple[Graph, ...]:
    """Every connected multigraph with ``d`` edges (without self loops), once per isomorphism class; ``d`` = 0:
    the single vertex."""
    if d == 0:
        return (Graph(1, ()),)
    found = {}
    for n in range(2, d + 2):  # a connected graph of d edges has at most d + 1 vertices
        pairs = list(itertools.combinations(range(n), 2))
        for edges in itertools.combinations_with_replacement(pairs, d):
            if {v for e in edges for v in e} != set(range(n)):
                continue
            graph = Graph(n, tuple(edges))
            if graph.connected:
                key = (n, _canonical(n, edges))
                found.setdefault(key, Graph(n, key[1]))
    return tuple(sorted(found.values(), key=lambda g: (g.n, g.edges)))


@lru_cache(maxsize=None)
def graphs(max_degree: int) -> tuple[tuple[Graph, ...], ...]:
    """Every EFP up to ``max_degree`` edges as the tuple of its connected factors: the single vertex, each
    connected graph with edges, and each multiset of those whose degrees sum to at most ``max_degree``
    (energyflow's ``EFPSet(("d<=", max_degree))``: 36 for 4)."""
    primes = [g for d in range(1, max_degree + 1) for g in connected_graphs(d)]
    out: list[tuple[Graph, ...]] = [(Graph(1, ()),)]
    for k in range(1, max_degree + 1):
        for factors in itertools.combinations_with_replacement(range(len(primes)), k):
            if sum(primes[i].degree for i in factors) <= max_degree:
                out.append(tuple(primes[i] for i in factors))
    return tuple(sorted(out, key=lambda fs: (sum(g.degree for g in fs), len(fs), [(g.n, g.edges) for g in fs])))


def angles(jets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``z`` ``[n, P]`` and ``theta`` ``[n, P, P]`` of jets ``[n, P, >= 3]`` in JetNet's order (eta, phi, pT);
    padded particles (pT = 0) have z = 0."""
    eta, phi, z = (np.asarray(jets[..., k], dtype=np.float64) for k in range(3))
    deta = eta[:, :, None] - eta[:, None, :]
    dphi = np.abs(phi[:, :, None] - phi[:, None, :])
    dphi = np.pi - np.abs(dphi - np.pi)  # wrapped, as energyflow's measure
    return z, np.sqrt(deta**2 + dphi**2)


def _connected_efp(graph: Graph, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """One connected graph's EFP of every jet, by an einsum over its vertices."""
    if graph.n == 1:
        return z.sum(axis=1)
    letters = "abcdefghij"[: graph.n]
    operands, terms = [], []
    for v in range(graph.n):
        operands.append(z)
        terms.append("n" + letters[v])
    for a, b in graph.edges:
        operands.append(theta)
        terms.append("n" + letters[a] + letters[b])
    return np.einsum(",".join(terms) + "->n", *operands, optimize="greedy")


def efps(jets: np.ndarray, max_degree: int = 4, batch: int = 2048) -> np.ndarray:
    """The EFPs of :func:`graphs` (``max_degree``) of jets ``[n, P, >= 3]`` (eta, phi, pT): ``[n, n_graphs]``."""
    jets = np.asarray(jets)
    catalogue = graphs(max_degree)
    primes = list(dict.fromkeys(g for factors in catalogue for g in factors))
    out = np.empty((len(jets), len(catalogue)))
    for start in range(0, len(jets), batch):
        z, theta = angles(jets[start:start + batch])
        values = {g: _connected_efp(g, z, theta) for g in primes}
        for k, factors in enumerate(catalogue):
            out[start:start + batch, k] = np.prod([values[g] for g in factors], axis=0)
    return out


def prime_efps(jets: np.ndarray, n: int = 4, d: int = 4) -> np.ndarray:
    """The connected EFPs with ``n`` vertices and ``d`` edges (`jetnet`'s W1-EFP set: 5 for n = d = 4)."""
    chosen = [g for g in connected_graphs(d) if g.n == n]
    z, theta = angles(np.asarray(jets))
    return np.stack([_connected_efp(g, z, theta) for g in chosen], axis=1)

"""The structure the design promises: layers without cycles, no string coupling between the core
and the built-in plugins, hooks documented, modules of one job."""

from __future__ import annotations

import ast
import inspect
import shutil
from pathlib import Path

import numpy as np
import pytest

import jetflow
from jetflow.core.manager import BUILTIN_PLUGINS, builtin_name

from conftest import REPO

CORE = REPO / "jetflow"


def core_modules() -> dict[str, Path]:
    """``{dotted module name: path}`` of every module of the jetflow package."""
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(path: Path, package: str) -> set[str]:
    """Every module an import statement anywhere in the file names (function bodies and TYPE_CHECKING included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = core_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = {m for m in imports_of(path, package) if m in modules and m != name}
    return graph


def test_no_import_cycle_inside_jetflow():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


LAYERS = {
    # a module of this layer ... may import from these layers only
    "jetflow.core": {"jetflow.core", "jetflow.version"},
    "jetflow.stats": {"jetflow.stats"},
    "jetflow.formats": {"jetflow.formats", "jetflow.core.errors", "jetflow.core.atomic"},
    "jetflow.physics": set(),
    "jetflow.running": {"jetflow.running", "jetflow.core", "jetflow.formats", "jetflow.version"},
    "jetflow.frontends": {"jetflow.frontends", "jetflow.core", "jetflow.running", "jetflow.version"},
    "jetflow.__main__": {"jetflow.frontends"},  # python -m jetflow
}


def test_layers_import_only_downwards():
    def layer(module):
        return next((name for name in LAYERS if module == name or module.startswith(name + ".")), module)

    wrong = []
    for module, targets in import_graph().items():
        if module in ("jetflow", "jetflow.version"):
            continue
        allowed = LAYERS[layer(module)]
        wrong += [f"{module} -> {t}" for t in sorted(targets) if not any(t == a or t.startswith(a + ".") for a in allowed)]
    assert not wrong, "imports against the layers (docs/design.md): " + ", ".join(wrong)


def test_the_core_imports_no_builtin_plugin():
    for name, path in core_modules().items():
        plugins = {m for m in imports_of(path, name) if m.split(".")[0] in BUILTIN_PLUGINS}
        assert not plugins, f"{name} imports the built-in plugin(s) {sorted(plugins)}"


def _code_strings(path: Path) -> set[str]:
    """String constants of the code, docstrings left out (f-strings' literal parts included)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}


def builtin_sections_and_outputs() -> set[str]:
    """The built-ins' section names and the names of what they accumulate (from a real run's output)."""
    import jetflow_accumulators.names as names
    import jetflow_weights

    sections = {builtin_name(m) for m in BUILTIN_PLUGINS}
    outputs = {v for k, v in vars(names).items() if k.isupper()} | {jetflow_weights.SPECTRUM, jetflow_weights.OUTSIDE}
    return sections | outputs


def test_no_core_code_names_a_builtin_section_or_output():
    forbidden = builtin_sections_and_outputs()
    assert {"selection", "inference", "roc", "hists", "reweight_spectrum"} <= forbidden
    found = {}
    for name, path in core_modules().items():
        hits = {s for s in _code_strings(path) if s.strip(" .:") in forbidden}
        if hits:
            found[name] = sorted(hits)
    assert not found, f"the core names built-in plugins' sections or outputs: {found}"


OWNERS = ["clustering", "selection", "weights", "images", "substructure", "accumulators", "inference"]
"""The built-ins with a config section."""


@pytest.fixture(scope="module")
def renamed_copies(tmp_path_factory):
    """Every built-in that owns a config section, copied under another name, as a third party would."""
    tmp = tmp_path_factory.mktemp("renamed")
    copies = {}
    for name in OWNERS:
        source = REPO / "plugins" / f"jetflow_{name}" / "__init__.py"
        copy = tmp / f"my_{name}.py"
        shutil.copy(source, copy)
        copies[name] = copy
    return copies


def _study_config(generated, names: dict[str, str]) -> dict:
    return {
        "datasets": {
            "wprime": {"files": [str(generated["wprime"])], "label": "signal", "xsec": 2.0},
            "qcd": {"files": [str(generated["qcd"])], "label": "background", "xsec": 50.0},
        },
        names["clustering"]: {"source": "towers", "max_jets": 1},
        names["selection"]: {"windows": {"pt": [200, 400], "tau21": [None, 0.95]}},
        names["weights"]: {"luminosity": 3.0},
        names["images"]: {"npix": 15},
        names["substructure"]: {"axes": "kt"},
        names["accumulators"]: {"roc": {"discriminants": {"mass": "likelihood", "tau21": "lower"},
                                        "combinations": [["mass", "tau21"]]},
                                "average_image": "image"},
        "run": {"progress": False, "chunksize": 300},
    }


def test_renamed_copies_of_the_builtins_run_the_same(generated, renamed_copies, tmp_path):
    """Nothing in the core is keyed by a built-in's name: disable every built-in, register copies
    under other names with their sections named after the copies, and get the same result."""
    builtin = jetflow.run(_study_config(generated, {n: n for n in OWNERS}))
    renamed = {n: f"my_{n}" for n in OWNERS}
    copies = [str(renamed_copies[n]) for n in OWNERS]
    result = jetflow.run(_study_config(generated, renamed), plugins=copies, disable=OWNERS, out=tmp_path / "r.coffea")
    assert not set(OWNERS) & set(result.config) and set(renamed.values()) <= set(result.config)
    for ds in ("wprime", "qcd"):
        a, b = builtin[ds], result[ds]
        assert [s.replace("selection:", "my_selection:") for s in a["cutflow"].steps] == b["cutflow"].steps
        assert list(a["cutflow"].counts.values()) == list(b["cutflow"].counts.values())
        np.testing.assert_allclose(list(a["cutflow"].sumw.values()), list(b["cutflow"].sumw.values()), rtol=1e-12)
        for column, h in a["hists"].items():
            np.testing.assert_allclose(h.values(flow=True), b["hists"][column].values(flow=True), rtol=1e-12)
    for name, roc in builtin.combined("roc").items():
        assert roc.summary() == pytest.approx(result.combined("roc")[name].summary(), rel=1e-12)
    # the report is drawn by the copy of the accumulators plugin the result was made with
    from jetflow.frontends.report import make_report

    files, parts = make_report(jetflow.load(tmp_path / "r.coffea"), tmp_path / "report")
    assert (tmp_path / "report" / "roc.png") in files and len(parts) == 2


def test_hooks_are_documented():
    """Every hook says when it is called, documents each parameter, and says what it returns."""
    from jetflow.core import hookspecs
    from jetflow.core.manager import hook_names

    for name in hook_names():
        spec = getattr(hookspecs, name)
        doc = inspect.cleandoc(spec.__doc__ or "")
        assert "\nCalled " in doc, f"{name}: say when it is called ('Called ...')"
        assert "\nReturns\n-------\n" in doc, f"{name}: a Returns section"
        params = list(inspect.signature(spec).parameters)
        if params:
            assert "\nParameters\n----------\n" in doc, f"{name}: a Parameters section"
            section = doc.split("\nParameters\n----------\n", 1)[1].split("\nReturns\n", 1)[0]
            documented = [line.split()[0] for line in section.splitlines() if line and not line.startswith(" ")]
            assert documented == params, f"{name}: parameters documented {documented}, has {params}"


def test_docs_hook_reference_is_generated_from_the_hookspecs():
    from jetflow.frontends.hookdoc import render

    text = (REPO / "docs" / "hooks.md").read_text()
    assert text == render(), "docs/hooks.md is stale: python -m jetflow.frontends.hookdoc > docs/hooks.md"


def test_docs_format_reference_is_generated_from_the_sources():
    from jetflow.frontends.formatdoc import render

    text = (REPO / "docs" / "formats.md").read_text()
    assert text == render(), "docs/formats.md is stale: python -m jetflow.frontends.formatdoc > docs/formats.md"
    assert "| `toptagging` | jets |" in text and "### Layout and mapping (`jetflow_formats.delphes`)" in text


NUMBA_KERNELS: set[str] = set()
"""Modules allowed over the size limit: numba kernels that must stay together (none today)."""



def test_modules_are_of_one_job_size():
    big = {}
    for path in [*CORE.rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        lines = len(path.read_text().splitlines())
        if lines > 420 and str(path.relative_to(REPO)) not in NUMBA_KERNELS:
            big[str(path.relative_to(REPO))] = lines
    assert not big, f"modules over ~400 lines: {big}"


def test_docs_cite_only_the_repository():
    """Code and docs cite docs/design.md and docs/references.md, not the founding brief outside the repository."""
    offenders = []
    for path in [*CORE.rglob("*.py"), *(REPO / "plugins").rglob("*.py"), *(REPO / "docs").glob("*.md"),
                 REPO / "README.md", *(REPO / "plugins").rglob("*.yaml")]:
        if path.name == "references.md":
            continue  # the one page that maps the keys to the issues' seed numbers
        text = path.read_text()
        if "DESIGN.md" in text or "seed 00" in text.lower() or "seeds/" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"cite docs/references.md instead of the seeds or DESIGN.md: {offenders}"
    references = (REPO / "docs" / "references.md").read_text()
    for key in ("jet-images", "jet-response", "lbn", "dl-hep", "lagan"):
        assert f"[{key}]" in references

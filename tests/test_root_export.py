"""``jetflow export-root``: a real result's histograms and cut-flows in a ROOT file, read back with uproot."""

from __future__ import annotations

import copy
from pathlib import Path

import hist
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

import jetflow
from jetflow.core import atomic
from jetflow.frontends import root_export
from jetflow.frontends.cli import cli

DATASETS = {"wprime": "wprime", "qcd-pt.300": "qcd_pt_300"}
"""Dataset -> its directory in the ROOT file (the second one needs the naming rule)."""


@pytest.fixture(scope="module")
def saved(generated, tmp_path_factory):
    """A real run on the session's Pythia samples, saved; weights are not 1 (xsec x lumi / events)."""
    tmp = tmp_path_factory.mktemp("root_export")
    cfg = {
        "datasets": {
            "wprime": {"files": [str(generated["wprime"])], "label": "signal", "xsec": 2.0},
            "qcd-pt.300": {"files": [str(generated["qcd"])], "label": "background", "xsec": 50.0},
        },
        "clustering": {"source": "towers"},
        "selection": {"windows": {"pt": [200, 400], "mass": [20, 200]}},
        "run": {"progress": False, "chunksize": 300},
    }
    result = jetflow.run(cfg, out=tmp / "result.coffea")
    return {"result": result, "path": tmp / "result.coffea", "tmp": tmp}


@pytest.fixture(scope="module")
def exported(saved):
    out = saved["tmp"] / "result.root"
    res = CliRunner().invoke(cli, ["export-root", str(saved["path"]), str(out)])
    assert res.exit_code == 0, res.output
    return {"out": out, "output": res.output}


def _same_axes(read, h):
    """Same bins, the same ends; inner edges equal to rounding (ROOT keeps a regular axis as nbins, min, max)."""
    for axis_read, axis in zip(read.axes, h.axes, strict=True):
        edges = axis_read.edges()
        assert len(edges) == len(axis.edges) and (edges[0], edges[-1]) == (axis.edges[0], axis.edges[-1])
        np.testing.assert_allclose(edges, axis.edges, rtol=1e-13, atol=1e-12)
        if isinstance(axis, hist.axis.Variable):
            np.testing.assert_array_equal(edges, axis.edges)


def test_every_histogram_matches_the_result(saved, exported):
    result = jetflow.load(saved["path"])
    with uproot.open(exported["out"]) as f:
        in_file = {k.split(";")[0] for k, cls in f.classnames().items() if cls.startswith("TH")}
        expected = set()
        for ds, folder in DATASETS.items():
            hists = result[ds]["hists"]
            assert {"mass", "pt", "tau21"} <= set(hists)
            for column, h in hists.items():
                one = h[{"dataset": ds, "label": sum}]  # this dataset, both labels
                read = f[f"{folder}/hists/{column}"]
                np.testing.assert_allclose(read.values(flow=True), one.values(flow=True), rtol=1e-12, atol=0)
                np.testing.assert_allclose(read.variances(flow=True), one.variances(flow=True), rtol=1e-12, atol=0)
                _same_axes(read, one)
                assert read.member("fTitle") == f"{ds}/hists/{column}"
                expected.add(f"{folder}/hists/{column}")
            # the weights are not 1, so sums of squared weights are not the sums of weights
            mass = f[f"{folder}/hists/mass"]
            assert mass.values().sum() > 0 and not np.allclose(mass.variances(), mass.values())
            spectrum = result[ds]["reweight_spectrum"][{"label": sum}]
            np.testing.assert_allclose(f[f"{folder}/reweight_spectrum"].variances(flow=True),
                                       spectrum.variances(flow=True), rtol=1e-12, atol=0)
            expected |= {f"{folder}/reweight_spectrum", f"{folder}/cutflow", f"{folder}/cutflow_jets"}
        assert in_file == expected  # nothing missing, nothing else


def test_cutflows_match_the_result(saved, exported):
    result = jetflow.load(saved["path"])
    with uproot.open(exported["out"]) as f:
        for ds, folder in DATASETS.items():
            cf = result[ds]["cutflow"]
            assert cf.steps == ["all", "selection:pt", "selection:mass"]
            weighted, jets = f[f"{folder}/cutflow"], f[f"{folder}/cutflow_jets"]
            assert weighted.axis().labels() == cf.steps == jets.axis().labels()
            np.testing.assert_allclose(weighted.values(), [cf.sumw[s] for s in cf.steps], rtol=1e-12)
            np.testing.assert_allclose(weighted.variances(), [cf.sumw2[s] for s in cf.steps], rtol=1e-12)
            np.testing.assert_array_equal(jets.values(), [cf.counts[s] for s in cf.steps])
            assert jets.values()[0] > jets.values()[-1] > 0


def test_the_command_says_what_it_wrote(saved, exported):
    out = exported["output"]
    assert f"wrote {exported['out']}" in out
    assert "qcd_pt_300/hists/mass  TH1D 100 bins, with sumw2  (from qcd-pt.300/hists/mass)" in out
    assert "wprime/cutflow  TH1D 3 labelled bins" in out
    assert "left out, not histograms or cut-flows: EventCount x2" in out
    assert "not written" not in out
    assert not list(saved["tmp"].glob("*.part"))


def test_what_root_cannot_hold_is_named_not_dropped(saved, tmp_path):
    result = copy.deepcopy(saved["result"])
    extra = {}
    # 2-D with the accumulators' category axes: written as a TH2D, variable edges kept
    h2 = hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True), hist.axis.IntCategory([0, 1], name="label"),
                   hist.axis.Variable([0, 50, 120, 300], name="mass"), hist.axis.Regular(4, 200, 400, name="pt"),
                   storage=hist.storage.Weight())
    rng = np.random.default_rng(3)
    h2.fill(dataset="wprime", label=1, mass=rng.uniform(0, 350, 500), pt=rng.uniform(150, 450, 500),
            weight=rng.uniform(0.1, 2.0, 500))
    extra["mass vs pt"] = h2
    extra["four_d"] = hist.Hist(*(hist.axis.Regular(2, 0, 1, name=n) for n in "abcd"))
    syst = hist.Hist(hist.axis.StrCategory(["nominal", "up"], name="syst"), hist.axis.Regular(3, 0, 3, name="x"))
    syst.fill(syst=["nominal", "up"], x=[1, 2])
    extra["syst"] = syst
    extra["profile"] = hist.Hist(hist.axis.Regular(2, 0, 1), hist.axis.Regular(2, 0, 1), storage=hist.storage.Mean())
    extra["a-b"] = hist.Hist(hist.axis.Regular(2, 0, 1))
    extra["a.b"] = hist.Hist(hist.axis.Regular(2, 0, 1))
    result.output["wprime"]["extra"] = extra
    path = jetflow.save(result, tmp_path / "extra.coffea")

    res = CliRunner().invoke(cli, ["export-root", str(path), str(tmp_path / "extra.root")])
    assert res.exit_code == 0, res.output
    refused = res.output.split("not written (4):\n", 1)[1]
    assert "wprime/extra/four_d: 4 numeric axes" in refused
    assert "wprime/extra/syst: category axis 'syst' has entries in 2 categories (nominal, up)" in refused
    assert "wprime/extra/profile: uproot cannot write it" in refused
    assert "wprime/extra/a.b: its ROOT name wprime/extra/a_b is taken by wprime/extra/a-b" in refused
    with uproot.open(tmp_path / "extra.root") as f:
        read = f["wprime/extra/mass_vs_pt"]
        assert f.classnames()["wprime/extra/mass_vs_pt;1"] == "TH2D"
        one = h2[{"dataset": "wprime", "label": 1}]
        np.testing.assert_allclose(read.values(flow=True), one.values(flow=True), rtol=1e-12)
        np.testing.assert_allclose(read.variances(flow=True), one.variances(flow=True), rtol=1e-12)
        _same_axes(read, one)
        assert "wprime/extra/four_d" not in f and "wprime/extra/syst" not in f


def test_the_file_is_renamed_into_place(saved, tmp_path, monkeypatch):
    out = tmp_path / "r.root"
    moves = []
    real_replace = atomic.os.replace

    def replace(src, dst):
        moves.append((str(src), str(dst), uproot.open(src).keys() != []))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    root_export.export_root(saved["result"], out)
    ((src, dst, complete),) = moves
    assert dst == str(out) and complete
    assert Path(src).parent == tmp_path and Path(src).name.startswith(".") and src.endswith(".part.r.root")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.root"]


def test_a_failed_export_leaves_the_old_file_and_no_part(saved, tmp_path, monkeypatch):
    out = tmp_path / "r.root"
    out.write_bytes(b"the previous export")
    written = []
    real_setitem = uproot.writing.writable.WritableDirectory.__setitem__

    def setitem(self, name, obj):
        if len(written) == 3:
            raise KeyboardInterrupt  # killed half way
        written.append(name)
        real_setitem(self, name, obj)

    monkeypatch.setattr(uproot.writing.writable.WritableDirectory, "__setitem__", setitem)
    with pytest.raises(KeyboardInterrupt):
        root_export.export_root(saved["result"], out)
    assert len(written) == 3
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.root"]


def test_bad_input_names_the_file(tmp_path):
    from coffea.util import save

    runner = CliRunner()
    missing = tmp_path / "nope.coffea"
    res = runner.invoke(cli, ["export-root", str(missing), str(tmp_path / "o.root")])
    assert res.exit_code == 2 and f"result file {missing} does not exist" in res.output
    other = tmp_path / "other.coffea"
    save({"a": 1}, str(other))
    res = runner.invoke(cli, ["export-root", str(other), str(tmp_path / "o.root")])
    assert res.exit_code == 2 and f"file {other} is not a jetflow result" in res.output
    garbage = tmp_path / "garbage.coffea"
    garbage.write_text("not a pickle")
    res = runner.invoke(cli, ["export-root", str(garbage), str(tmp_path / "o.root")])
    assert res.exit_code == 2 and f"result file {garbage} cannot be read" in res.output
    assert "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.coffea", "other.coffea"]


def test_an_output_folder_that_does_not_exist_is_refused(saved, tmp_path):
    res = CliRunner().invoke(cli, ["export-root", str(saved["path"]), str(tmp_path / "no" / "r.root")])
    assert res.exit_code == 2
    assert f"output {tmp_path / 'no' / 'r.root'}: the folder {tmp_path / 'no'} does not exist" in res.output

"""Weights, the accumulators plugin, exports and the report on generated W'/QCD samples."""

from __future__ import annotations

import numpy as np
import pytest

import jetflow
from jetflow.formats.export import read


@pytest.fixture(scope="module")
def study(generated, tmp_path_factory):
    """Pass 1 and pass 2 (signal pT reweighted to QCD) of a small study, with every output on."""
    tmp = tmp_path_factory.mktemp("study")
    cfg = {
        "datasets": {
            "wprime": {"files": [str(generated["wprime"])], "label": "signal", "xsec": 2.0},
            "qcd": {"files": [str(generated["qcd"])], "label": "background", "xsec": 500.0},
        },
        "clustering": {"source": "towers"},
        "selection": {"windows": {"pt": [250, 300], "mass": [65, 95], "tau21": [None, 0.9]}},
        "weights": {"luminosity": 10.0, "pt_reweight": {"bins": 10, "start": 250, "stop": 300}},
        "accumulators": {
            "roc": {"discriminants": {"mass": "likelihood", "tau21": "lower", "delta_r": "likelihood"},
                    "combinations": [["mass", "tau21"]]},
            "average_image": "image",
            "correlations": ["tau21"],
            "ado": [["tau21", "image_tau21"]],
            "export": {"dir": str(tmp / "export1")},
        },
        "run": {"progress": False, "chunksize": 200},
    }
    cfg["accumulators"]["roc"]["discriminants"]["image_tau21"] = "lower"
    first = jetflow.run(cfg, out=tmp / "pass1.coffea")
    cfg2 = dict(cfg, weights=dict(cfg["weights"], pt_reweight=dict(cfg["weights"]["pt_reweight"], from_result=str(tmp / "pass1.coffea"))))
    cfg2["accumulators"] = dict(cfg["accumulators"], export={"dir": str(tmp / "export2")})
    second = jetflow.run(cfg2, out=tmp / "pass2.coffea")
    return {"cfg": cfg, "cfg2": cfg2, "first": first, "second": second, "tmp": tmp}


def test_reweighted_signal_spectrum_has_background_shape(study):
    before = study["first"].combined("reweight_spectrum").values()
    after = study["second"].combined("reweight_spectrum").values()
    b, s0, s1 = before[0], before[1], after[1]
    assert not np.allclose(s0 / s0.sum(), b / b.sum(), rtol=0.05)  # it needed reweighting
    np.testing.assert_allclose(s1 / s1.sum(), b / b.sum(), rtol=1e-9)
    np.testing.assert_allclose(after[0], b, rtol=1e-12)  # background untouched
    # the same weights reach the histograms and the export
    h = study["second"].combined("hists")["pt"]
    sig = h[{"dataset": sum, "label": 1}].values()[25:30]  # 10 GeV bins 250-300
    bkg = h[{"dataset": sum, "label": 0}].values()[25:30]
    np.testing.assert_allclose(sig / sig.sum(), bkg / bkg.sum(), rtol=1e-9)
    exp = read(study["tmp"] / "export2")
    w_sig = exp["weight"][exp["label"] == 1]
    assert w_sig.sum() == pytest.approx(s1.sum(), rel=1e-9)


def test_xsec_normalisation(study):
    exp = read(study["tmp"] / "export1")
    lumi = 10.0
    for ds, xsec in (("wprime", 2.0), ("qcd", 500.0)):
        sel = exp["dataset"] == ds
        # generated events have genWeight 1: each jet carries xsec * lumi / N_events
        n_events = study["first"][ds]["events"].events
        np.testing.assert_allclose(exp["weight_xsec"][sel], xsec * lumi / n_events, rtol=1e-6)
        assert study["first"].meta["sumw_gen"][ds] == pytest.approx(n_events)


def test_maxchunks_keeps_normalisation(study, generated):
    cfg = dict(study["cfg"])
    cfg["accumulators"] = {"histograms": False}
    res = jetflow.run(cfg, maxchunks=1)
    for ds in ("wprime", "qcd"):
        processed = res[ds]["events"]
        assert processed.chunks == 1 and processed.events < 600  # one chunk, not the whole sample
        assert res.meta["sumw_gen"][ds] == processed.sumw_gen == processed.events


def test_cutflow_and_late_window(study):
    cf = study["first"]["wprime"]["cutflow"]
    assert cf.steps == ["all", "selection:pt", "selection:mass", "selection:tau21"]
    counts = [cf.counts[s] for s in cf.steps]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 50
    exp = read(study["tmp"] / "export1")
    assert (exp["tau21"] < 0.9).all()
    assert ((exp["pt"] > 250) & (exp["pt"] < 300) & (exp["mass"] > 65) & (exp["mass"] < 95)).all()
    # the export holds exactly the selected jets
    total = sum(study["first"][ds]["cutflow"].counts["selection:tau21"] for ds in ("wprime", "qcd"))
    assert len(exp["weight"]) == total == study["first"].combined("export").rows


def test_export_shards(study):
    shards = sorted((study["tmp"] / "export1").glob("*"))
    assert shards and all(p.suffix == ".parquet" and not p.name.startswith(".") for p in shards)
    n_chunks = sum(study["first"][ds]["events"].chunks for ds in ("wprime", "qcd"))
    assert len(shards) == n_chunks  # one shard per chunk
    exp = read(study["first"])  # the result knows its shards
    assert exp["image"].shape[1:] == (25, 25, 1) and exp["image"].dtype == np.float32
    assert set(np.unique(exp["dataset"])) == {"wprime", "qcd"}


def test_outputs_independent_of_chunking(study):
    cfg = dict(study["cfg"])
    cfg["accumulators"] = {k: v for k, v in cfg["accumulators"].items() if k != "export"}
    other = jetflow.run(cfg, chunksize=350)
    a, b = study["first"], other
    for name, roc in a.combined("roc").items():
        np.testing.assert_allclose(roc.sumw, b.combined("roc")[name].sumw, rtol=1e-9, atol=1e-15)
        assert roc.summary() == pytest.approx(b.combined("roc")[name].summary(), rel=1e-6)
    np.testing.assert_allclose(a.combined("average_image").sum, b.combined("average_image").sum, rtol=1e-9)
    assert a.combined("ado")["tau21|image_tau21"].value() == pytest.approx(b.combined("ado")["tau21|image_tau21"].value())


def test_study_physics_sanity(study):
    rocs = study["second"].combined("roc")
    s = {k: v.summary() for k, v in rocs.items()}
    assert s["tau21"]["auc"] > 0.7  # tau21 separates W from QCD
    assert study["second"].combined("ado")["tau21|image_tau21"].value() > 0.8  # image tau21 orders like tau21
    corr = study["second"].combined("correlation").correlation("tau21")
    assert np.isfinite(corr).all() and np.abs(corr).max() > 0.2


def test_report(study, tmp_path):
    from jetflow.frontends.report import make_report

    files, parts = make_report(study["second"], tmp_path / "report")
    names = {p.name for p in files}
    assert {"roc.png", "summary.md", "summary.csv", "average_images.png", "correlation_tau21.png", "cutflow.md",
            "dist_tau21.png", "report.md"} <= names
    assert [p.title for p in parts] == ["Cut-flows", "Discriminants, images and distributions"]
    index = (tmp_path / "report" / "report.md").read_text()
    assert "![ROC curves](roc.png)" in index and "| selection:mass |" in index
    import csv

    rows = list(csv.DictReader(open(tmp_path / "report" / "summary.csv")))
    rocs = study["second"].combined("roc")
    for row in rows:
        assert float(row["auc"]) == pytest.approx(rocs[row["discriminant"]].summary()["auc"], rel=1e-5)
    assert "mass+tau21" in {r["discriminant"] for r in rows}


def test_bad_output_configs(study):
    cfg = dict(study["cfg"])
    cfg["accumulators"] = {"roc": {"discriminants": {"no_such_column": "higher"}}}
    with pytest.raises(jetflow.JetflowError, match="no_such_column"):
        jetflow.run(cfg, maxchunks=1)
    cfg["accumulators"] = {"ado": [["tau21", "mass"]], "roc": {"discriminants": {"tau21": "lower", "mass": "likelihood"}}}
    with pytest.raises(jetflow.JetflowError, match="accumulators.ado.*higher or lower"):
        jetflow.run(cfg, maxchunks=1)


def test_reweighting_result_is_read_on_the_client_only(study, tmp_path):
    """The first pass's result is read once, before any chunk; a missing one fails before processing."""
    from jetflow.core.engine import Engine

    engine = Engine.build(study["cfg2"])
    spectrum = engine.prepared["weights"]
    assert set(spectrum) == {"edges", "ratio", "seen"}
    assert "weights" in engine.to_data()["prepared"]  # shipped to the workers with the config
    missing = dict(study["cfg2"], weights={"pt_reweight": {"from_result": str(tmp_path / "nope.coffea")}})
    with pytest.raises(jetflow.InputError, match="nope.coffea does not exist"):
        Engine.build(missing)


def test_export_shards_carry_their_format_and_a_newer_format_is_refused(tmp_path):
    """The per-jet export is a stable format (docs/design.md): any Parquet reader sees the columns and the image
    shape; the layout's version is in the metadata, and jetflow's reader refuses a version it does not know."""
    import pyarrow.parquet as pq

    from jetflow.formats.export import FORMAT_KEY, FORMAT_VERSION, read, write_shard

    images = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 1)
    write_shard(tmp_path / "a.parquet", {"image": images, "pt": np.array([300.0, 410.0]), "label": np.array([1, 0], np.int8)})
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.schema.metadata[FORMAT_KEY.encode()] == str(FORMAT_VERSION).encode()
    assert table.schema.metadata[b"jetflow.shape.image"] == b"[3, 3, 1]"
    assert table.column("pt").to_pylist() == [300.0, 410.0]
    np.testing.assert_array_equal(np.asarray(table.column("image").to_pylist()[1]), images[1].reshape(-1))
    np.testing.assert_array_equal(read(tmp_path)["image"], images)

    newer = table.replace_schema_metadata({**table.schema.metadata, FORMAT_KEY.encode(): b"2"})
    pq.write_table(newer, tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b.parquet: format 2 is newer than this jetflow reads \(1\)"):
        read(tmp_path)

"""The accuracy figures (lth_tf/frontends/figures.py) of `report` and `compare`: their structure,
read from the matplotlib objects (never pixels). No TensorFlow."""

from __future__ import annotations

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D

from lth_tf.core import winner as W
from lth_tf.frontends import figures
from lth_tf.frontends.compare import aggregate as A
from lth_tf.frontends.compare import write
from lth_tf.frontends.report import accuracy_panel

SPARSITY = [1 - 0.8**r for r in range(8)]


def _run_summary(seed: int = 0):
    acc = [0.81, 0.815, 0.812, 0.81, 0.805, 0.80, 0.79, 0.76]
    rounds = [{"round": r, "sparsity": s, "val_acc": a + seed / 1000, "test_acc": a - seed / 500}
              for r, (s, a) in enumerate(zip(SPARSITY, acc))]
    controls = [{"kind": k, "round": r, "sparsity": SPARSITY[r], "val_acc": v, "test_acc": v}
                for k, base in (("random_reinit", 0.78), ("random_mask", 0.74))
                for r, v in ((3, base), (7, base - 0.1))]
    return {"status": "finished", "rounds": rounds, "controls": controls,
            "dense": {"val_acc": rounds[0]["val_acc"], "test_acc": rounds[0]["test_acc"]}, "num_classes": 7}


def _axes(fig):
    return fig.axes[0]


def _by_gid(ax, gid):
    return [a for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]


def test_a_runs_figure_has_a_log_axis_of_weights_remaining_and_names_everything():
    summary = _run_summary()
    decision = W.decide(summary["rounds"], 0.0, 7, planned_rounds=7)
    fig = figures.build(accuracy_panel(summary, decision, "Lottery run x", "rewind init"))
    ax = _axes(fig)
    assert ax.get_xscale() == "log"
    left, right = ax.get_xlim()
    assert left > 100 and right < 100 * 0.8**7  # 100% on the left, every round on the axis
    assert "weights remaining" in ax.get_xlabel() and "test accuracy" in ax.get_ylabel()
    assert fig._suptitle.get_text() == "Lottery run x" and ax.get_title() == "rewind init"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "100" and "51.2" in ticks  # the rounds' own values, as the papers label them
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "dense ± 1 point" in legend and any(t.startswith("dense: 81.00%") for t in legend)
    assert "random reinit control" in legend and "random mask control" in legend
    assert any(t.startswith("winning ticket (") for t in legend)
    # the band: dense ± 1 point across the whole axis
    (band,) = _by_gid(ax, figures.DENSE_BAND)
    assert isinstance(band, PolyCollection)
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(80.0) and ys.max() == pytest.approx(82.0)
    # every control its own marker and colour
    controls = [a for a in ax.lines if str(a.get_gid()).startswith("control:")]
    assert len(controls) == 2
    assert len({c.get_marker() for c in controls}) == 2 and len({c.get_color() for c in controls}) == 2
    # the ticket: a star at its round (round 3 is the sparsest matching on validation)
    (star,) = _by_gid(ax, figures.TICKET)
    assert isinstance(star, Line2D) and star.get_marker() == "*"
    assert star.get_xdata()[0] == pytest.approx(100 * 0.8**3)
    assert star.get_ydata()[0] == pytest.approx(81.0)


def test_the_compare_figure_has_seed_bands_and_one_entry_per_control(tmp_path):
    runs = [A.Run(f"{rw}{seed}", {"prune.rewind": rw}, seed, _run_summary(seed), 7)
            for rw in ("init", "lr") for seed in (0, 1, 2)]
    settings = [A.aggregate(s) for s in A.group(runs)]
    fig = figures.build(write.panel(settings))
    ax = _axes(fig)
    assert ax.get_xscale() == "log" and "3 seeds each" in fig._suptitle.get_text()
    for s in settings:
        assert _by_gid(ax, f"band:{s.label}"), s.label  # mean ± std over seeds
        assert _by_gid(ax, f"rounds:{s.label}")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for s in settings:
        for kind in ("random reinit", "random mask"):
            assert f"{s.label}: {kind} control" in legend
    controls = [a for a in ax.lines if str(a.get_gid()).startswith("control:")]
    assert len(controls) == 4 and len({(c.get_marker(), c.get_color()) for c in controls}) == 4
    assert len({c.get_marker() for c in controls}) == 2  # a marker per kind, a colour per setting
    assert len(_by_gid(ax, figures.TICKET)) == 2  # each setting's ticket
    assert len(_by_gid(ax, figures.DENSE_BAND)) == 1  # shared round 0: one dense line and band
    paths = figures.save(fig, [tmp_path / "c.png", tmp_path / "c.svg"])
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and b"<svg" in paths[1].read_bytes()[:400]


def test_ticks_are_thinned_but_keep_dense_and_the_sparsest():
    xs = [100 * 0.8**r for r in range(21)]
    ticks = figures.tick_values(xs)
    assert ticks[0] == 100 and ticks[-1] == pytest.approx(xs[-1], rel=1e-5)
    assert len(ticks) <= figures.MAX_TICKS + 2 and ticks == sorted(ticks, reverse=True)


def test_the_settings_controls_sit_side_by_side_and_the_subtitle_says_which_have_tickets():
    """The Cora compare of 2 settings x 3 seeds drew both settings' controls on one spot, and
    promised a ★ for each setting when neither had a ticket."""
    runs = [A.Run(f"{kd}{seed}", {"distill.enabled": kd}, seed, _run_summary(seed), 7)
            for kd in ("false", "true") for seed in (0, 1, 2)]
    settings = [A.aggregate(s) for s in A.group(runs)]
    ax = _axes(figures.build(write.panel(settings)))
    for kind in ("random_reinit", "random_mask"):
        xs = [a.get_xdata()[-1] for a in ax.lines if str(a.get_gid()).endswith(f":{kind}")]
        assert len(xs) == 2 and xs[1] / xs[0] == pytest.approx(figures.DODGE)
        assert all(x > ax.get_xlim()[1] for x in xs)  # both inside the axis
    assert ax.get_title().startswith("★: each setting's winning ticket")
    for s in settings[1:]:
        s.decision = None
    assert "none for distill.enabled=true" in _axes(figures.build(write.panel(settings))).get_title()
    settings[0].decision = None
    title = _axes(figures.build(write.panel(settings))).get_title()
    assert title.startswith("no winning ticket in any setting") and "★" not in title
    assert all(len(line) <= figures.SUBTITLE_CHARS for line in title.splitlines())

"""Widgets of the run screen."""

from tui.widgets.acc_chart import AccuracyChart
from tui.widgets.curves import CurvesPanel
from tui.widgets.layer_panel import LayerBars
from tui.widgets.progress import RoundProgress
from tui.widgets.rounds_table import RoundsTable

__all__ = ["AccuracyChart", "CurvesPanel", "LayerBars", "RoundProgress", "RoundsTable"]

"""Per-layer sparsity of one round: every prunable layer, a bar and a percentage."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.state import RoundInfo

_PERCENT_W = 9  # the space before the bar and " 100.0%" after it
_MIN_BAR = 6


class LayerBars(Widget):
    """Lives in a scrolling container; its height is one line per layer."""

    DEFAULT_CSS = """
    LayerBars { height: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fractions: dict[str, float] = {}
        self.note = "no round selected"

    def show(self, info: RoundInfo | None) -> None:
        if info is None:
            self.fractions, self.note = {}, "no round yet"
        elif not info.finished:
            self.fractions = {}
            self.note = (
                f"round {info.round} is training (target {100 * info.target_sparsity:.1f}%);\n"
                "its layers appear when it ends"
            )
        elif not info.layer_sparsity:
            self.fractions, self.note = {}, f"round {info.round} has no layer sparsity"
        else:
            self.fractions, self.note = dict(info.layer_sparsity), ""
        self.refresh(layout=True)

    def render(self) -> Text:
        if not self.fractions:
            return Text(self.note, style="dim")
        width = max(self.size.width, 30)
        # Names before bars: a ResNet layer name ("stage2_block1_shortcut_conv", 27)
        # stays whole in the 42 columns of the wide layout; the bar takes the rest.
        name_w = min(max(len(n) for n in self.fractions), max(8, width - _PERCENT_W - _MIN_BAR))
        bar_w = max(_MIN_BAR, width - name_w - _PERCENT_W)
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, (name, frac) in enumerate(self.fractions.items()):
            frac = min(max(float(frac or 0.0), 0.0), 1.0)
            filled = round(frac * bar_w)
            label = name if len(name) <= name_w else name[: name_w - 1] + "…"
            if i:
                out.append("\n")
            out.append(f"{label:<{name_w}} ")
            out.append("█" * filled, style="magenta")
            out.append("░" * (bar_w - filled), style="grey37")
            out.append(f" {100 * frac:5.1f}%")
        return out

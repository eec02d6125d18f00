"""The start screen: pick a preset and a few common settings, or open a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Static, Switch
from textual.widgets.option_list import Option

from lth_tf.core import config as C
from lth_tf.core import schedule
from lth_tf.core.errors import LthError
from lth_tf.storage import rundir
from tui.screens.layout import is_compact

# Form fields: input id -> dotted config key.
FIELDS = {
    "set-rounds": "prune.rounds",
    "set-rate": "prune.rate",
    "set-rewind": "prune.rewind",
    "set-alpha": "distill.alpha",
    "set-temperature": "distill.temperature",
}
HELP = (
    "Step mode: round 0 (dense) trains at once, then the run waits.\n"
    "  n next round · c continue to the end · p wait after this round\n"
    "  e export the selected round · q stop (the run stays resumable)\n"
    "The same settings run again resume after the last finished round."
)
BOOLS = {"true": True, "1": True, "yes": True, "on": True,
         "false": False, "0": False, "no": False, "off": False}


class StartScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start run"),
        Binding("ctrl+o", "open_run", "Open run dir"),
    ]

    def __init__(
        self,
        overrides: list[str] | tuple[str, ...] = (),
        out: str = "checkpoints",
        data_dir: str | None = None,
        preset: str | None = None,
        error: str | None = None,
        config: str | Path | None = None,
    ) -> None:
        """`config`: a TOML file (--config) layered over the picked preset, under the form."""
        super().__init__()
        # --set values of fields on the form go into the form (so a bad one can
        # be seen and fixed there); the rest are applied as they are.
        self.form_values: dict[str, str] = {}
        self.overrides: list[str] = []
        for item in overrides:
            key, _, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if key in FIELDS.values() or (key == "distill.enabled" and value.lower() in BOOLS):
                self.form_values[key] = value
            else:
                self.overrides.append(item)
        self.out, self.data_dir, self.config = out, data_dir, config
        self.initial_preset = preset
        self.initial_error = error
        self.preset: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="start-top"):
            options = [
                Option(Text.assemble((name, "bold"), "\n", (C.preset_description(name), "dim")), id=name)
                for name in C.preset_names()
            ]
            yield OptionList(*options, id="presets")
            with Vertical(id="settings"):
                with Grid(id="form"):
                    yield Label("Rounds")
                    yield Input(id="set-rounds", type="integer")
                    yield Label("Rate")
                    yield Input(id="set-rate", type="number", tooltip="fraction of remaining weights pruned per round")
                    yield Label("Rewind")
                    yield Input(id="set-rewind", placeholder="init | step:K | lr | finetune")
                    yield Label("KD")
                    yield Switch(id="set-kd")
                    yield Label("KD alpha")
                    yield Input(id="set-alpha", type="number")
                    yield Label("KD T")
                    yield Input(id="set-temperature", type="number")
                    yield Label("Out dir")
                    yield Input(self.out, id="out")
                    yield Label("Data dir")
                    yield Input(self.data_dir or "", id="data-dir", placeholder="$LTH_DATA_DIR or download")
                with Horizontal(id="start-buttons"):
                    yield Button("Start, step by step", id="start", variant="primary")
                    yield Static("", id="plan")
                yield Static("", id="start-error")
                yield Static(HELP, id="start-help")
        with Horizontal(id="open-run"):
            yield Input(placeholder="path of a run directory, e.g. checkpoints/smoke-0123456789",
                        id="run-path")
            yield Button("Open run", id="open")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "lth-tui"
        self.sub_title = "new lottery-ticket run"
        self.query_one("#presets").border_title = "Preset"
        self.query_one("#settings").border_title = "Settings"
        self.query_one("#open-run").border_title = "Or follow an existing run"
        presets = C.preset_names()
        first = self.initial_preset if self.initial_preset in presets else ("smoke" if "smoke" in presets else presets[0])
        option_list = self.query_one(OptionList)
        option_list.highlighted = presets.index(first)
        self.load_preset(first)
        option_list.focus()
        if self.initial_error:
            self.show_error(self.initial_error)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(is_compact(event.size.width, event.size.height), "compact")

    # -- form --------------------------------------------------------------------------
    def load_preset(self, name: str) -> None:
        """Fill the form with the preset's values."""
        self.preset = name
        try:
            exp = C.resolve(name, self.config)
        except LthError as e:
            self.show_error(str(e))
            return
        self.query_one("#set-rounds", Input).value = str(exp.prune.rounds)
        self.query_one("#set-rate", Input).value = str(exp.prune.rate)
        self.query_one("#set-rewind", Input).value = exp.prune.rewind
        self.query_one("#set-kd", Switch).value = exp.distill.enabled
        self.query_one("#set-alpha", Input).value = str(exp.distill.alpha)
        self.query_one("#set-temperature", Input).value = str(exp.distill.temperature)
        for fid, key in FIELDS.items():
            if key in self.form_values:
                self.query_one("#" + fid, Input).value = self.form_values[key]
        if "distill.enabled" in self.form_values:
            self.query_one("#set-kd", Switch).value = BOOLS[self.form_values["distill.enabled"].lower()]
        self.show_error("")
        self.update_plan()

    def form_overrides(self) -> list[str]:
        items = [f"{key}={self.query_one('#' + fid, Input).value.strip()}" for fid, key in FIELDS.items()]
        items.append(f"distill.enabled={str(self.query_one('#set-kd', Switch).value).lower()}")
        return self.overrides + items

    def experiment(self) -> C.Experiment:
        """The settings as an Experiment; LthError names what is wrong."""
        if not self.preset:
            raise LthError("pick a preset in the list on the left")
        return C.resolve(self.preset, self.config, self.form_overrides())

    def update_plan(self) -> None:
        try:
            exp = self.experiment()
        except LthError:
            self.query_one("#plan", Static).update("")
            return
        rounds = exp.planned_rounds
        final = schedule.final_sparsity(exp.prune.rate, exp.prune.rounds, exp.prune.rate_schedule)
        self.query_one("#plan", Static).update(
            f"{rounds} rounds → {100 * final:.1f}% sparse · {exp.run_name()}"
        )

    def show_error(self, text: str) -> None:
        self.query_one("#start-error", Static).update(Text(text, style="bold red") if text else "")

    @on(OptionList.OptionHighlighted, "#presets")
    def preset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.preset:
            self.load_preset(event.option.id)

    @on(OptionList.OptionSelected, "#presets")
    def preset_selected(self) -> None:
        self.query_one("#set-rounds", Input).focus()

    @on(Input.Changed)
    @on(Switch.Changed)
    def settings_changed(self, event) -> None:
        if getattr(event, "input", None) is not None and event.input.id == "run-path":
            return
        try:
            self.experiment()
        except LthError as e:
            self.show_error(str(e))
        else:
            self.show_error("")
        self.update_plan()

    # -- actions -----------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        try:
            exp = self.experiment()
        except LthError as e:
            self.show_error(str(e))
            self.notify(str(e), title="Check the settings", severity="error")
            return
        out = self.query_one("#out", Input).value.strip() or "checkpoints"
        data_dir = self.query_one("#data-dir", Input).value.strip() or None
        if data_dir and not Path(data_dir).expanduser().is_dir():
            msg = f"data dir not found: {data_dir}; give a folder like ../shared/data, or leave it empty"
            self.show_error(msg)
            self.notify(msg, severity="error")
            return
        from tui.screens.run import RunScreen

        self.app.push_screen(RunScreen(exp=exp, out=out, data_dir=data_dir))

    @on(Button.Pressed, "#open")
    @on(Input.Submitted, "#run-path")
    def action_open_run(self) -> None:
        raw = self.query_one("#run-path", Input).value.strip()
        if not raw:
            self.query_one("#run-path", Input).focus()
            self.notify("type the path of a run directory first", severity="warning")
            return
        try:
            run_dir = rundir.existing(raw)
        except LthError as e:
            self.show_error(str(e))
            self.notify(str(e), severity="error")
            return
        from tui.screens.run import RunScreen

        self.app.push_screen(RunScreen(attach=run_dir))

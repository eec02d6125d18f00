"""Regenerate the guide's results page from benchmarks/results/*.json.

    python benchmarks/make_table.py          # rewrites docs/results.md between the markers

`table()` gives one row per result; benchmarks/results_page.py lays them out by topic.

Only full (non --quick) result files are used; a missing one is listed as "not run".
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results_page import page
from benchmarks.table_efficiency import efficiency_rows, structured_rows
from benchmarks.table_format import ROOT, load_range, load_result, pct, ran_where, reach, ticket

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def table() -> str:
    lines = ["| benchmark | headline | target | met | ran |", "|---|---|---|---|---|"]
    cora = load_result("cora_lottery")
    if cora:
        h = cora["headline"]
        configs = cora["configs"]
        tickets = {n: ticket(c["rounds"], h["rounds"]) for n, c in configs.items()}
        sparsity = {n: (t["sparsity"] if t else 0.0) for n, t in tickets.items()}
        # the best configuration is chosen on validation, as the tickets are
        best = max(configs, key=lambda n: (sparsity[n], configs[n]["rounds"][-1]["val_mean"]))
        classic = max((n for n in configs if n.startswith("rewind_init")), key=sparsity.get, default=None)
        dense = configs[best]["rounds"][0]["test_mean"]
        lines.append(
            f"| cora_lottery ({h['seeds']} seeds, {h['rounds']} rounds) | winning ticket (mean val within "
            f"1 point of dense) {reach(tickets[best])} sparse ({best}), test {pct(tickets[best]['test_mean'])} "
            f"vs dense {pct(dense)} | ≥ 98.5% | {'yes' if sparsity[best] >= 0.985 else 'no'} | {ran_where(cora)} |"
        )
        t = tickets.get(classic)
        lines.append(
            f"| cora_lottery, classic ticket | winning ticket {reach(t)} sparse ({classic})"
            + (f", test {pct(t['test_mean'])}" if t else "")
            + f" | ≥ 95% | {'yes' if t and t['sparsity'] >= 0.95 else 'no'} | same run |"
        )
    else:
        lines.append("| cora_lottery | not run | | | |")
    over = load_result("overhead")
    if over:
        h = over["headline"]
        lines.append(
            f"| overhead | ours/plain time per epoch: ResNet-18 w16 {h['ratio_resnet18_w16']:.3f}, "
            f"GCN {h['ratio_gcn_cora']:.3f} | ≤ 1.10 | {'yes' if h['met'] else 'no'} | {ran_where(over)} |"
        )
    else:
        lines.append("| overhead | not run | | | |")
    speed = load_result("speed")
    if speed:
        h = speed["headline"]
        lo, hi = h["ratio_resnet18_w16_range"]
        others = ", ".join(f"{k.removeprefix('ratio_')} {v:.2f}x" for k, v in h.items()
                           if k.startswith("ratio_") and not k.startswith("ratio_resnet18_w16") and v)
        lines.append(
            f"| speed ({h['repetitions']} paired reps) | lth-tf defaults / plain Keras fit, ResNet-18 w16: "
            f"{h['ratio_resnet18_w16']:.2f}x ({lo:.2f}-{hi:.2f}); {others} | ≥ 1.5x | "
            f"{'yes' if h['met'] else 'no'} | {ran_where(speed)} |"
        )
    else:
        lines.append("| speed | not run | | | |")
    acc = load_result("speed_accuracy")
    if acc:
        cells = [f"{name} {100 * r['old_mean']:.1f} → {100 * r['new_mean']:.1f}% "
                 f"(± {100 * max(r['old_std'], r['new_std']):.1f}, {len(r['seeds'])} seeds)"
                 for name, r in acc["results"].items()]
        met = all(r["within_noise"] is not False for r in acc["results"].values())
        lines.append(
            f"| speed_accuracy | dense test accuracy, old → new defaults: {'; '.join(cells)} | "
            f"within seed spread | {'yes' if met else 'no'} | {ran_where(acc)} |"
        )
    lines += speed_kind_rows()
    size = load_result("export_size")
    if size:
        h = size["headline"]
        lines.append(
            f"| export_size | GCN ticket at {pct(h['at_sparsity'], 1)} sparse: SavedModel gzip / lower "
            f"bound {h['size_ratio']:.2f}, compact ticket / bound {h['size_ratio_compact']:.2f} | "
            f"report | – | {ran_where(size)} |"
        )
    else:
        lines.append("| export_size | not run | | | |")
    lines += efficiency_rows()
    cifar = load_result("cifar_resnet18_cpu")
    if cifar:
        h = cifar["headline"]
        lines.append(
            f"| cifar_resnet18_cpu ({h['seeds']} seed) | {pct(h['final_sparsity'])} sparse: "
            f"{h['delta_vs_dense']:+.2f} points vs dense ({pct(h['dense_test'])} → "
            f"{pct(h['ticket_test'])}; random reinit {pct(h['random_reinit_test'])}) | "
            f"~+2 points (reference, full scale) | {'yes' if h['delta_vs_dense'] >= 0 else 'no'} | "
            f"{ran_where(cifar)} |"
        )
    else:
        lines.append("| cifar_resnet18_cpu | not run | | | |")
    lines += own_data_rows()
    lines += cheaper_tickets_rows()
    lines += sweep_scaling_rows()
    lines += structured_rows()
    lines += distribute_rows()
    if cora:
        lines += ["", "Cora GCN, mean test accuracy over seeds per round (± std):", ""]
        configs = cora["configs"]
        names = list(configs)
        lines.append("| round | sparsity | " + " | ".join(names) + " |")
        lines.append("|---:|---:|" + "---:|" * len(names))
        n = min(len(configs[k]["rounds"]) for k in names)
        for r in range(n):
            row = configs[names[0]]["rounds"][r]
            cells = [f"{100 * configs[k]['rounds'][r]['test_mean']:.1f} ± {100 * configs[k]['rounds'][r]['test_std']:.1f}"
                     for k in names]
            lines.append(f"| {r} | {pct(row['sparsity'], 2)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_kind_rows() -> list[str]:
    """Rows of speed.py, speed_accuracy.py and round_phases.py run per CPU kind (speed_amx.json, ...)."""
    rows = []
    for kind in ("amx", "avx512", "avx2"):
        acc, ph = (load_result(f"{n}_{kind}") for n in ("speed_accuracy", "round_phases"))
        for name, label in ((f"speed_{kind}", f"speed, {kind}"),
                            (f"speed_{kind}_resnet_quiet", f"speed, {kind}, ResNet-18 w16 at a lower load")):
            res = load_result(name)
            if res:
                rows += speed_rows(res, label)
        if acc:
            h = acc["headline"]
            cells = []
            if "chosen_mean" in h:
                d = acc.get("dense") or {}
                paired = (f" (paired difference {100 * d['paired_diff_mean']:+.1f} ± {100 * d['paired_diff_std']:.1f} "
                          f"points)" if d.get("paired_diff_mean") is not None else "")
                cells.append(f"dense round, {h['seeds']} seeds: chosen {pct(h['chosen_mean'])} ± "
                             f"{100 * h['chosen_std']:.1f}, float32 {pct(h['float32_mean'])} ± "
                             f"{100 * h['float32_std']:.1f}{paired}")
            imp = h.get("imp")
            if imp:
                accs = "; ".join(f"r{r} {pct(a['chosen'])} vs {pct(a['float32'])}" for r, a in imp["test_acc"].items())
                largest = max((r["largest_layer_count_difference"] for r in (acc.get("imp") or {}).get("rounds", [])),
                              default=0)
                cells.append(f"IMP {imp['rounds']} rounds, 1 seed (chosen vs float32): {accs}; kept weights per "
                             f"round {'equal' if imp['totals_equal'] else 'DIFFER'} in total, per layer "
                             f"{'equal' if imp['per_layer_counts_equal'] else f'not equal (global ranking of differently trained weights; up to {largest} weights apart in a layer)'}")
            met = {True: "yes", False: "no", None: "–"}[h.get("within_noise")]
            rows.append(f"| speed_accuracy, {kind} (cifar10-resnet18-cpu, {h['chosen'].get('precision')}) | "
                        f"{'; '.join(cells)} | within seed spread | {met} | "
                        f"{ran_where(acc, load_range(v for r in acc['runs'] for v in (r['loadavg_before'], r['loadavg_after'])))} |")
        if ph:
            m = ph["headline"]["median_seconds"]
            cell = "; ".join(
                f"{p} {m[f'{p}_autotune']['outside_epochs']:.0f} s with tf.data autotune → "
                f"{m[f'{p}_lth_tf']['outside_epochs']:.0f} s without (epochs {m[f'{p}_lth_tf']['epochs']:.0f} s)"
                for p in ("float32", "mixed_bfloat16") if m.get(f"{p}_autotune") and m.get(f"{p}_lth_tf"))
            rows.append(f"| round_phases, {kind} ({ph['headline']['epochs']} epochs, "
                        f"{ph['headline']['train_subset']} images) | a round's seconds outside its epochs: {cell} | "
                        f"report | – | {ran_where(ph)} |")
    return rows + step_profile_rows()


def step_profile_rows() -> list[str]:
    """The row of benchmarks/step_profile.py: where a float32 ResNet-18 w16 step's time goes."""
    res = load_result("step_profile")
    if not res:
        return []
    h, shapes = res["headline"], res["per_shape"]
    split = ", ".join(f"{k} {pct(v, 0)}" for k, v in h["step_cpu_split"].items() if v >= 0.005)
    convs = sorted((r["share_of_peak_per_cpu_second"], k) for k, r in shapes.items()
                   if r.get("kind", "conv") == "conv" and r.get("share_of_peak_per_cpu_second"))
    if not convs:
        return []
    return [(f"| step_profile (ResNet-18 w16, float32, batch {h['batch']}) | a train step at "
            f"{pct(h['step_share_of_peak_per_cpu_second'], 0)} of the float32 matmul peak per CPU-second; its "
            f"counted convolutions alone {pct(h['convs_share_of_peak_per_cpu_second'], 0)}; the step's CPU time: "
            f"{split}; convolution shapes from {pct(convs[0][0], 0)} ({convs[0][1]}) to "
            f"{pct(convs[-1][0], 0)} ({convs[-1][1]}) | ≥ 70% | "
            f"{'yes' if h['step_share_of_peak_per_cpu_second'] >= 0.7 else 'no'} | {ran_where(res)} |")]


def speed_rows(sp: dict, label: str) -> list[str]:
    """The two rows of one speed.py result: ratios, and GFLOP/s against the matmul peak."""
    rows = []
    h = sp["headline"]
    chosen = ", ".join(f"{k} {v}" for k, v in h["chosen_resnet18_w16"].items() if k in (
        "precision", "onednn", "jit_compile"))
    lo, hi = h["chosen_vs_f32_resnet18_w16_range"] or (None, None)
    others = ", ".join(f"{f} {v:.2f}x" for f, v in h["chosen_vs_f32"].items() if f != "resnet18_w16" and v)
    vs_keras = ", ".join(f"{k.removeprefix('ratio_')} {v:.2f}x" for k, v in h.items()
                         if k.startswith("ratio_") and not k.endswith("_range") and v)
    g = h["gflops_resnet18_w16"]
    share = h["f32_share_of_peak_resnet18_w16"]
    cores = ", ".join(f"{k} {v:.1f}" for k, v in h["cores_used_resnet18_w16"].items() if v)
    target = f"≥ {h['target_chosen_vs_f32']}x" if h.get("target_chosen_vs_f32") else "report"
    judged = h.get("wall_clock_judged") or {"chosen_vs_f32": True, "f32_share_of_peak": True}
    rows.append(
        f"| {label} ({h['repetitions']} paired reps) | ResNet-18 w16, lth-tf's choice ({chosen}) / "
        f"float32 defaults: {h['chosen_vs_f32_resnet18_w16']:.2f}x ({lo:.2f}-{hi:.2f}){'; ' + others if others else ''}; "
        f"lth-tf / plain Keras fit: {vs_keras}{cpu_clock_cell(h)} | {target} | "
        f"{verdict(h, 'met_chosen_vs_f32', judged['chosen_vs_f32'])} | {ran_where(sp, speed_load(sp))} |"
    )
    cpu_share = h.get("f32_share_of_peak_per_cpu_second_resnet18_w16")
    per_core = (f"; per CPU-second: float32 training {h['gflops_per_cpu_second_resnet18_w16']['f32']:.0f}, "
                f"matmul {h['peak_gflops_per_core_second_f32']:.0f} (bfloat16 "
                f"{h['peak_gflops_per_core_second_bf16']:.0f}) GFLOP per core-second: {pct(cpu_share, 0)}"
                if cpu_share is not None else "")
    rows.append(
        f"| {label}: GFLOP/s | ResNet-18 w16 training (6 x MACs x images/s): float32 "
        f"{g.get('f32') or 0:.0f}, lth-tf's choice {g.get('lth_tf') or 0:.0f}, plain Keras "
        f"{g.get('keras') or 0:.0f}; 4096² matmul float32 {h['peak_gflops_f32']:.0f}, bfloat16 "
        f"{h['peak_gflops_bf16']:.0f}: float32 training at {pct(share, 0)} of the float32 peak; cores used "
        f"{cores}{per_core} | ≥ 70% | {verdict(h, 'met_f32_share_of_peak', judged['f32_share_of_peak'])} "
        f"| same run |"
    )
    return rows


def cpu_clock_cell(h: dict) -> str:
    """speed.py's ratios per CPU-second of each worker (robust to other processes' time-slicing)."""
    if h.get("chosen_vs_f32_resnet18_w16_per_cpu_second") is None:
        return ""
    lo, hi = h["chosen_vs_f32_resnet18_w16_per_cpu_second_range"]
    others = ", ".join(f"{f} {v:.2f}x" for f, v in h["chosen_vs_f32_per_cpu_second"].items()
                       if f != "resnet18_w16" and v)
    keras = ", ".join(f"{f} {v:.2f}x" for f, v in h["lth_tf_vs_keras_per_cpu_second"].items() if v)
    return (f"; per CPU-second: choice / float32 ResNet-18 w16 {h['chosen_vs_f32_resnet18_w16_per_cpu_second']:.2f}x "
            f"({lo:.2f}-{hi:.2f}){', ' + others if others else ''}; lth-tf / plain Keras {keras}")


def verdict(h: dict, key: str, judged: bool) -> str:
    """yes / no on the wall clock; when the workers lacked the cores, the CPU-clock verdict, said so."""
    if judged and h.get(key) is not None:
        return "yes" if h[key] else "no"
    cpu = h.get(f"{key}_per_cpu_second")
    if cpu is None:
        return "–"
    return f"wall clock not judged (workers lacked the cores); per CPU-second {'yes' if cpu else 'no'}"


def speed_load(sp: dict) -> tuple[float, float] | None:
    """The load averages speed.py saw: before, after, and at the end of every worker."""
    c = sp["contention"]
    per_worker = [v for fam in c["loadavg_per_worker"].values() for vals in fam.values() for v in vals]
    return load_range([c["loadavg_before"], c["loadavg_after"], *per_worker])


def own_data_rows() -> list[str]:
    """Rows for models and data outside the reference project (issue: your own model and data)."""
    rows = []
    cite = load_result("citeseer_lottery")
    if cite:
        h = cite["headline"]
        lr = cite["settings"]["lr_rewind"]["rounds"]
        worst = min(r["test_mean"] for r in lr[1:]) - h["dense_test_mean"]
        init_t = ticket(cite["settings"]["rewind_init"]["rounds"], h["rounds"])
        lr_t = ticket(lr, h["rounds"])
        rows.append(
            f"| citeseer_lottery ({h['seeds']} seeds, {h['rounds']} rounds) | dense "
            f"{pct(h['dense_test_mean'])} ± {100 * h['dense_test_std']:.1f}; winning ticket (mean val within "
            f"1 point) {reach(init_t, digits=1)} sparse rewinding to init, {reach(lr_t, digits=1)} with lr "
            f"rewinding (whose test mean stays within {-100 * worst:.1f} points to {pct(lr[-1]['sparsity'], 1)}) "
            f"| dense ≈ 70.3% (Kipf) | {'yes' if h['dense_test_mean'] >= 0.693 else 'no'} | {ran_where(cite)} |"
        )
    own = load_result("own_model")
    if own:
        h = own["headline"]
        rows.append(
            f"| own_model (MobileNetV2 α0.35 via the Python API, {h['train_images']} CIFAR images, "
            f"{h['epochs_per_round']} epochs/round) | {pct(h['final_sparsity'])} sparse: ticket "
            f"{pct(h['ticket_test'])} vs dense {pct(h['dense_test'])}, random reinit "
            f"{pct(h['random_reinit_test'])} | report | – | {ran_where(own)} |"
        )
    rows += keras3_ticket_rows()
    return rows


def keras3_ticket_rows() -> list[str]:
    """The row of benchmarks/keras3_ticket.py: examples/keras3_ticket.py, a Keras 3 model in and out."""
    res = load_result("keras3_ticket")
    if not res:
        return ["| keras3_ticket | not run | | | |"]
    h = res["headline"]
    n = res.get("neighbours", {})
    per_round = ", ".join(
        f"round {r['round']} ({pct(r['sparsity'], 0)} sparse) {pct(r['test_acc'])}"
        + (f" vs reinit {pct(r['random_reinit_test_acc'])}" if r.get("random_reinit_test_acc") is not None else "")
        for r in res["rounds"]
    )
    cpu = f" ({h['cpu_minutes']:.1f} CPU-min)" if h.get("cpu_minutes") is not None else ""
    row = (
        f"| keras3_ticket (examples/keras3_ticket.py: Keras 3 MobileNetV2 α0.35 in, Keras 3 ticket out; "
        f"{h['train_images']} CIFAR images, {h['epochs_per_round']} epochs/round) | test accuracy by round: {per_round}; "
        f"the ticket as a Keras 3 .keras, reloaded with equal predictions (Keras 3 test accuracy "
        f"{pct(h['ticket_test_keras3'])}); {h['wall_minutes']:.1f} min wall{cpu} on {res['machine'].get('cpu') or 'CPU'} "
        f"(load average {n.get('load_average_1min_mean')} while it ran) | report | – | {ran_where(res)} |"
    )
    return [row]


CHEAPER_LABELS = {"early_bird": "early-bird IMP", "one_shot": "one-shot", "schedule": "cubic rate schedule"}


def cheaper_tickets_rows() -> list[str]:
    """One row per cheaper method against plain IMP (issue: cheaper tickets)."""
    res = load_result("cheaper_tickets")
    if not res:
        return ["| cheaper_tickets | not run | | | |"]
    rows = []
    for preset, h in res["headline"].items():
        seeds = f"{h['seeds']} seed{'s' if h['seeds'] > 1 else ''}"
        reused = res.get("presets", {}).get(preset, {}).get("reused")
        # Presets may come from different runs of the script: each row names its own.
        where = ran_where({**res, **h.get("measured", {})})
        for method, x in h["methods"].items():
            if method == "early_bird":
                label = f"early-bird IMP (eb_distance {h['eb_distance']})"
            elif method == "early_bird_lr":
                label = f"early-bird IMP with rewind=lr (eb_distance {h['eb_lr_distance']})"
            elif method == "schedule":
                label = f"cubic rate schedule, {h['schedule']['rounds']} rounds"
            else:
                label = CHEAPER_LABELS.get(method, method.replace("early_bird@", "early-bird at eb_distance "))
            # Reused tickets were timed in another run (another machine load): no time ratio then.
            time = "" if reused else f", {x['time_ratio']:.1f}x less time"
            spread = f" ± {x['delta_points_std']:.2f}" if h["seeds"] > 1 else ""  # no spread from one seed
            rows.append(
                f"| cheaper_tickets, {preset} ({seeds}, {pct(h['sparsity'])} sparse) | {label}: "
                f"{x['ratio_examples']:.1f}x fewer examples, {x['ratio_flops']:.1f}x fewer FLOPs"
                f"{time} than plain IMP; test {pct(x['test_mean'])} vs "
                f"{pct(h['plain_test_mean'])} ({x['delta_points']:+.2f}{spread} points) "
                f"| ≥ 3x less compute, within 0.5 points | {'yes' if x['met'] else 'no'} | {where} |"
            )
    return rows


def sweep_scaling_rows() -> list[str]:
    """Rows of benchmarks/sweep_scaling.py: one Cora sweep under three engines."""
    res = load_result("sweep_scaling")
    if not res:
        return ["| sweep_scaling | not run | | | |"]
    h = res["headline"]
    row = (
        f"| sweep_scaling (cora-gcn, {h['seeds']} seeds x {h['settings']} settings, {h['rounds']} rounds of "
        f"{h['epochs']} epochs) | wall time --jobs 1 {h['seconds_jobs1']:.0f} s, --jobs 2 {h['seconds_jobs2']:.0f} s "
        f"({h['speedup_jobs2']:.2f}x), Ray local 2 CPUs {h['seconds_ray2']:.0f} s ({h['speedup_ray2']:.2f}x); "
        f"accuracies {'identical' if h['same_accuracies'] else 'DIFFER'} across engines | report | – | {ran_where(res)} |"
    )
    return [row]


def distribute_rows() -> list[str]:
    """Rows of benchmarks/distribute.py: ResNet-18 w16 samples/s, default vs mirrored:2."""
    res = load_result("distribute")
    if not res:
        return ["| distribute | not run | | | |"]
    h = res["headline"]
    lo, hi = h["ratio_range"]
    row = (
        f"| distribute (ResNet-18 w16, {h['repetitions']} paired reps) | samples/s default "
        f"{h['samples_per_second_default']:.0f}, mirrored on 2 logical CPUs {h['samples_per_second_mirrored2']:.0f}: "
        f"median paired ratio {h['ratio_mirrored2_over_default']:.2f} ({lo:.2f}-{hi:.2f}), per CPU-second "
        f"{h['ratio_per_cpu_second']:.2f} (cores used, median: mirrored "
        f"{statistics.median(h['cpu_use']['mirrored:2']):.2f}, default {statistics.median(h['cpu_use']['default']):.2f}) "
        f"| report | – | {ran_where(res)} |"
    )
    return [row]


PAGE = ROOT / "docs" / "results.md"


def main() -> int:
    text = PAGE.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"docs/results.md lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{BEGIN}\n{page(table().splitlines())}\n{END}{tail}", encoding="utf-8")
    print("docs/results.md regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

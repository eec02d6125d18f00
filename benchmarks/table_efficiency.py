"""Results rows (docs/results.md) of the export and structure benchmarks: sparse/narrow/tflite exports,
structured pruning, and faster tickets (weights vs channels vs refill with served latency)."""

from __future__ import annotations

from benchmarks.table_format import load_range, load_result, pct, ran_where, reach, ticket


def efficiency_rows() -> list[str]:
    """Rows of benchmarks/efficiency.py: sparse export size over the bound, latency vs dense."""
    eff = load_result("efficiency")
    if not eff:
        return ["| efficiency | not run | | | |"]
    h = eff["headline"]
    resnet = ", ".join(f"{pct(float(s), 0)} {r:.2f}" for s, r in h["size_ratio_resnet18_w64"].items())
    gcn = h["size_ratio_gcn"]
    size = (
        f"| efficiency, size | sparse SavedModel variables/ over the bound: ResNet-18 w64 {resnet}; "
        f"GCN tickets {min(gcn.values()):.2f}-{max(gcn.values()):.2f} ({pct(float(min(gcn)), 0)}-"
        f"{pct(float(max(gcn)), 1)} sparse) | ≤ 1.2 | {'yes' if h['within_1_2x'] else 'no'} | {ran_where(eff)} |"
    )
    rows = [size]
    cells = []
    for r in eff["latency"]:
        v = r["vs_dense"]
        batch = r["batch"] if isinstance(r["batch"], int) else "graph"
        cells.append(f"{r['model']} {pct(r['sparsity'], 0)} b{batch}: sparse {v['sparse']:.2f}x, "
                     f"rebuild {v['sparse_rebuild']:.2f}x")
    rows.append(f"| efficiency, latency | median time per call / dense export: {'; '.join(cells)} | "
                f"report | – | same run |")
    return rows + narrow_rows(eff) + tflite_rows() + litert_sparse_rows() + faster_tickets_rows() + regroup_rows()


def narrow_rows(eff: dict) -> list[str]:
    """Narrowed export (channel pruning) latency over dense: efficiency.json's, else efficiency_narrow.json's."""
    res = eff if eff.get("narrow_latency") else load_result("efficiency_narrow")
    if not res:
        return ["| efficiency, narrow latency | not run | | | |"]
    cells = []
    for r in res["narrow_latency"]:
        batch = r["batch"] if isinstance(r["batch"], int) else "graph"
        macs = r["costs"]["narrow"]["macs"] / r["costs"]["dense"]["macs"]
        cells.append(f"{r['model']} {pct(r['channels_removed'], 0)} b{batch}: {r['vs_dense']['narrow']:.2f}x "
                     f"(MACs {macs:.2f}x)")
    where = "same run" if res is eff else ran_where(res)
    return [(f"| efficiency, narrow latency (channels removed) | median time per call of the narrow export / "
             f"dense export: {'; '.join(cells)} | report | – | {where} |")]


def tflite_rows() -> list[str]:
    """benchmarks/efficiency.py --only tflite: sparse-stored .tflite over dense .tflite, XNNPACK."""
    res = load_result("efficiency_tflite")
    if not res:
        return ["| efficiency, tflite latency | not run | | | |"]
    h = res["headline"]
    cells = "; ".join(f"{k.replace(' batch ', ' b')} {v:.2f}x (CPU {h['cpu_sparse_over_dense'][k]:.2f}x)"
                      for k, v in h["sparse_over_dense"].items())
    size = ", ".join(f"{k} {v:.2f}x" for k, v in h["file_size_sparse_over_dense"].items())
    return [(f"| efficiency, tflite (XNNPACK) | median paired ratio, sparse-stored / dense .tflite: {cells}; "
             f"file size {size} | report | – | {ran_where(res)} |")]


LITERT_LABELS = {"ticket_zeros": "zeros stored dense", "ticket_sparse": "stored sparse (lth-tf export)",
                 "ticket_sparse_latest": "+ latest features", "ticket_sparse_compiled": "CompiledModel",
                 "ticket_sparse_forced": "AVX check forced off (diagnostic)"}


def litert_sparse_rows() -> list[str]:
    """benchmarks/litert_sparse.py: a MobileNetV2 ticket through LiteRT, with and without XNNPACK's sparse path."""
    res = load_result("litert_sparse")
    if not res:
        return ["| litert_sparse | not run | | | |"]
    h = res["headline"]
    cells = []
    for key, ratios in h["paired_over_dense"].items():
        graph, threads = key.split()
        ran = h.get("sparse_inference_ran", {}).get(graph, {})
        parts = ", ".join(f"{LITERT_LABELS.get(k, k)} {v:.2f}x" + (" (SpMM ran)" if ran.get(k) else "")
                          for k, v in ratios.items() if k != "dense")
        row = next((r for r in res["rows"] if f"{r['graph']} {r['threads']}t" == key), {})
        lo, hi = row.get("paired_quartiles", {}).get("ticket_sparse", [float("nan")] * 2)
        cells.append(f"{graph} padding, {threads.rstrip('t')} thread(s), dense {h['median_us'][key]['dense']:.0f} µs: "
                     f"{parts} (stored sparse, quartiles of the paired ratio {lo:.2f}-{hi:.2f})")
    acc = h["tflite_test_acc"]["keras"]
    return [(f"| litert_sparse (MobileNetV2 α0.35 32x32, 1x1 convolutions {pct(h['one_by_one_kernel_zeros'], 1)} "
             f"pruned, LiteRT {res['versions']['ai_edge_litert']}, batch 1) | median paired ratio to the dense "
             f".tflite: {'; '.join(cells)}; test accuracy (.tflite) dense {pct(acc['dense'])}, ticket "
             f"{pct(acc['ticket'])} | report | – | "
             f"{ran_where(res, load_range(res['load_average_1_5_15min'].values()))} |")]


def structured_rows() -> list[str]:
    """Rows of benchmarks/structured.py: channels vs weights pruning, at each one's winning ticket."""
    rows = []
    for name in ("structured", "structured_cifar10-resnet18-cpu"):
        res = load_result(name)
        if not res:
            continue
        for preset, p in res["presets"].items():
            cells = []
            for structure, r in p["structures"].items():
                t = ticket(r["rounds"], p["rounds"])
                if t is None:
                    cells.append(f"{structure}: no round within 1 point")
                    continue
                extra = f", {reach(t, 'channels_removed', 1)} of channels" if structure == "channels" else ""
                cells.append(f"{structure}: {reach(t, digits=1)} of weights{extra}, "
                             f"{reach(t, 'flops_removed', 1)} of inference FLOPs"
                             + (" (the last round planned; the limit was not reached)" if t["at_least"] else ""))
            n = len(next(iter(p["structures"].values()))["seeds"])
            seeds = f"{n} seed{'s' if n != 1 else ''}"
            rows.append(f"| structured ({preset}, {seeds}, {p['rounds']} rounds of {pct(p['rate'], 0)}) "
                        f"| removed at the winning ticket (mean val within 1 point of dense): {'; '.join(cells)} "
                        f"| report | – | {ran_where(res)} |")
    return rows or ["| structured | not run | | | |"]


FASTER_WORKLOADS = ("resnet18", "conv4", "cora")


def faster_tickets_rows() -> list[str]:
    """Rows of benchmarks/faster_tickets.py, one per workload: each structure's winning ticket
    (1-point rule on mean validation accuracy) and the served latency of seed 0's export of it
    against the dense round 0's, timed side by side (round 1 when no round matched)."""
    rows = []
    for name in FASTER_WORKLOADS:
        res = load_result(f"faster_tickets_{name}")
        if not res:
            continue
        w = res["workloads"][name]
        cells = []
        for structure, r in w["structures"].items():
            t = ticket(r["rounds"], w["rounds"][structure])
            dense = r["rounds"][0]["test_mean"]
            if t is None:
                first = r["rounds"][1]
                acc = (f"no round within 1 point (round 1, {pct(first.get('channels_removed') or first['sparsity'], 0)} "
                       f"removed: test {100 * (first['test_mean'] - dense):+.1f} points)")
            else:
                what = "channels" if structure != "weights" else "weights"
                acc = (f"{reach(t, 'channels_removed' if structure != 'weights' else 'sparsity', 1)} of {what}, "
                       f"test {100 * (t['test_mean'] - dense):+.1f} points")
            lat = r.get("latency") or {}
            if "batch_1" in lat:
                speed = f"b1 {lat['batch_1']['ticket_over_dense']:.2f}x, b256 {lat['batch_256']['ticket_over_dense']:.2f}x"
            elif "ticket_over_dense" in lat:
                speed = f"sparse features {lat['ticket_over_dense']:.2f}x"
            else:
                speed = "not timed"
            cells.append(f"{structure}: {acc}, latency{'' if lat.get('matching', True) else ' (round 1)'} {speed}")
        seeds = len(w["seeds"])
        target, met = ("refill within 1 point at ≤ 0.5x (b256), ≤ 0.75x (b1)", _met_resnet(w)) if name == "resnet18" \
            else (("served with sparse features ≤ 0.5x", _met_graph(w)) if name == "cora" else ("–", "–"))
        sets = ", ".join([s for s in w["sets"] if s != "prune.controls="]  # no controls ran
                         + [f"channels and refill with {s}" for s in w.get("structured_sets", [])])
        rows.append(f"| faster_tickets ({name}, {seeds} seed{'s' if seeds != 1 else ''}, rounds of {pct(w['rate'], 0)}"
                    f"{'; ' + sets if sets else ''}) | winning ticket of each structure and its export's median latency / the dense "
                    f"export's: {'; '.join(cells)} | {target} | {met} | {ran_where(res)} |")
    return rows


def _met_resnet(w: dict) -> str:
    r = w["structures"]["refill"]
    lat = r.get("latency") or {}
    ok = (r["ticket_round"] is not None and lat.get("matching")
          and lat["batch_256"]["ticket_over_dense"] <= 0.5 and lat["batch_1"]["ticket_over_dense"] <= 0.75)
    return "yes" if ok else "no"


def _met_graph(w: dict) -> str:
    lats = [(s.get("latency") or {}).get("ticket_over_dense") for s in w["structures"].values()]
    return "yes" if lats and all(v is not None and v <= 0.5 for v in lats) else "no"


def regroup_rows() -> list[str]:
    """The row of benchmarks/regroup_kernels.py: IMP-Regroup's best case (a grouped convolution,
    1/G of the MACs) and a split into G convolutions, against the dense one, per stage shape."""
    res = load_result("regroup_kernels")
    if not res:
        return []
    cells = []
    for batch in ("b256", "b1"):
        rows = {k: v for k, v in res["table"].items() if k.endswith(batch)}
        for how in ("groups 2", "groups 4", "split 4"):
            ratios = [r[how]["over_dense"] for r in rows.values() if how in r]
            if ratios:
                cells.append(f"{batch} {how} {min(ratios):.2f}-{max(ratios):.2f}x")
    return [(f"| regroup_kernels (ResNet-18 w16's 3x3 shapes, forward) | time / the dense convolution "
            f"(ideal 0.5x for 2 groups, 0.25x for 4): {'; '.join(cells)} | report | – | {ran_where(res)} |")]

"""Results rows (docs/results.md) of issue 12's benchmarks: sparse/narrow/tflite exports and structured pruning."""

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
    return rows + narrow_rows(eff) + tflite_rows() + litert_sparse_rows()


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

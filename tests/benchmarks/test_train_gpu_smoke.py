"""benchmarks.train_gpu: the FLOP formula on a hand-computed case, and the tiny preset on CPU (one
step of each workload, in this process) writing a report of the documented structure. The CUDA
test runs the 1b preset briefly (skipped without a CUDA device)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.mfu import Arch, datasheet_tflops, step_flops
from benchmarks.train_gpu import PRESETS, TARGETS, WORKLOADS, device_kind, main


def test_step_flops_known_answer():
    """d = 4, f = 8, L = 2, 2 heads of dim 2 (d_attn = 4), 1 KV head (d_kv = 2), V = 10.
    Per layer: q 4*4 + o 4*4 + k 4*2 + v 4*2 + gate, up, down 3*4*8 = 16 + 16 + 8 + 8 + 96 = 144,
    N_dec = 2 * 144 = 288. One row of T = 3 positions (P = 3), logits at P_head = 2 of them:
      dense      6 * 288 * 3          = 5184
      head       6 * 4 * 10 * 2       =  480
      attention  6 * 2 * 4 * 1 * 3 * 4 =  576   (6 L d_attn R T (T + 1))
    F = 6240."""
    arch = Arch(hidden=4, intermediate=8, layers=2, heads=2, kv_heads=1, vocab=10)
    assert arch.decoder_matmul_params() == 288
    assert step_flops(arch, rows=1, width=3, head_positions=2) == 6240
    # all parameters: embedding 10 * 4 (tied) + 288 + RMSNorm weights (2 * 2 + 1) * 4 = 348
    assert arch.parameters() == 348
    assert Arch(4, 8, 2, 2, 1, 10, tie_embeddings=False).parameters() == 388


@pytest.mark.parametrize(
    "name, kind, tflops",
    [
        ("NVIDIA H100 80GB HBM3", "cuda-h100", 989.4),  # SXM
        ("NVIDIA H100 PCIe", "cuda-h100", 756.0),
        ("NVIDIA H200", "cuda-h200", 989.4),
        ("NVIDIA A100-SXM4-80GB", "cuda-a100", 312.0),
        ("NVIDIA GeForce RTX 3090", "cuda-geforce-rtx-3090", None),  # unknown: measured only
    ],
)
def test_device_lookup(name, kind, tflops):
    """The result file's device kind and the datasheet peak, from the CUDA device name."""
    import torch

    assert device_kind(torch.device("cuda"), name) == kind
    assert datasheet_tflops(name)[1] == tflops


def _check_report(report: dict, preset: str, cuda: bool) -> None:
    arch = PRESETS[preset].arch
    assert report["benchmark"] == "train_gpu" and report["preset"] == preset
    assert report["flop_formula"].startswith("F = 6 N_dec P")
    assert report["ceiling"]["tflops"] > 0
    assert {"machine", "config", "versions", "git_commit", "seed"} <= set(report)
    rows = {r["workload"]: r for r in report["rows"]}
    assert list(rows) == list(WORKLOADS)
    for name, r in rows.items():
        assert "error" not in r, r.get("error")
        assert r["parameters"] == report["parameters"] == arch.parameters()
        assert math.isfinite(r["loss"]) and r["step_s"] > 0 and r["tflops"] > 0
        full = r["step"] == "plain"
        assert r["head_positions"] == (r["positions"] if full else r["n_response_tokens"])
        assert r["flops_per_step"] == step_flops(arch, r["rows"], r["width"], r["head_positions"])
        assert r["mfu_measured"] == pytest.approx(r["tflops"] / report["ceiling"]["tflops"])
        assert (r["peak_mib"] is not None) == cuda, name
    # the fixed-length batch has no padding: every position is a useful token
    p = PRESETS[preset]
    for name in ("plain", "ours_mixed", "ours_bf16"):
        assert rows[name]["positions"] == rows[name]["n_pair_tokens"] == p.prompts * p.k * p.seq
    assert rows["ragged_prefix_shared"]["positions"] < rows["ragged_padded"]["positions"]
    assert [(t["target"], t["workload"]) for t in report["targets"]] == [t[:2] for t in TARGETS]
    for t in report["targets"]:
        assert t["pass"] in (True, False, None)
        assert (t["pass"] is None) == (t["value"] is None)


def test_tiny_preset_on_cpu(tmp_path):
    report = main(
        [
            *("--preset", "tiny", "--device", "cpu", "--same-process"),
            *("--warmup", "0", "--repeats", "1", "--out", str(tmp_path)),
        ]
    )
    on_disk = json.loads((tmp_path / "train-cpu-tiny.json").read_text())
    assert on_disk["device_kind"] == "cpu" and on_disk["ceiling"]["datasheet_tflops"] is None
    _check_report(on_disk, "tiny", cuda=False)
    assert on_disk["rows"] == json.loads(json.dumps(report["rows"]))


def test_auto_without_cuda_skips(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "auto"]) == {}
    assert capsys.readouterr().out.strip() == "no CUDA device: skipped"


@pytest.mark.gpu
@pytest.mark.slow
def test_1b_preset_on_cuda(tmp_path):
    report = main(
        [
            *("--preset", "1b", "--device", "cuda", "--same-process"),
            *("--warmup", "1", "--repeats", "2", "--out", str(tmp_path)),
        ]
    )
    assert report["device_kind"].startswith("cuda")
    _check_report(report, "1b", cuda=True)

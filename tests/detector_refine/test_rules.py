"""The anomaly rule and the candidate choice, on hand-made numbers."""

from __future__ import annotations

import torch

from dd_detector_refine.anomaly import anomaly_columns, anomaly_mask
from dd_detector_refine.selection import choose_candidate, dissimilarity


def test_anomaly_mask_flags_wrong_argmax_or_low_confidence():
    probs = torch.tensor([
        [0.90, 0.05, 0.05],  # label 0, confident: fine
        [0.45, 0.40, 0.15],  # label 0, argmax right but p = 0.45 < β
        [0.20, 0.70, 0.10],  # label 0, argmax wrong
        [0.10, 0.10, 0.80],  # label 2, confident: fine
        [0.34, 0.33, 0.33],  # label 1, argmax wrong and low
    ])
    classes = torch.tensor([0, 0, 0, 2, 1])
    assert anomaly_mask(probs, classes, beta=0.5).tolist() == [False, True, True, False, True]
    assert anomaly_mask(probs, classes, beta=0.0).tolist() == [False, False, True, False, True]
    cols = anomaly_columns(probs, classes, beta=0.5)
    assert torch.allclose(cols["detector_confidence"], torch.tensor([0.90, 0.45, 0.20, 0.80, 0.33]))
    assert cols["detector_agrees"].tolist() == [1, 1, 0, 1, 0] and cols["anomalous"].tolist() == [0, 1, 1, 0, 1]


def _unit(*rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_topk_picks_confidence_at_k1_and_the_diverse_candidate_at_k2():
    qualified = _unit([1.0, 0.0, 0.0])
    # candidate 0: most confident but a near-duplicate of the qualified image; 1: diverse; 2: invalid
    feats = _unit([0.99, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    conf = torch.tensor([0.95, 0.80, 0.99])
    valid = torch.tensor([True, True, False])
    div = dissimilarity(feats, qualified)
    assert div[0] < 0.01 and abs(div[1] - 1) < 1e-6
    assert choose_candidate(conf, valid, div, "topk", top_k=1) == 0
    assert choose_candidate(conf, valid, div, "topk", top_k=2) == 1
    assert choose_candidate(conf, valid, div, "topk", top_k=3) == 1  # the invalid one never wins
    assert choose_candidate(conf, valid, div, "weighted", top_k=1, diversity_weight=1.0) == 1
    assert choose_candidate(conf, valid, div, "weighted", top_k=1, diversity_weight=0.0) == 0
    assert choose_candidate(conf, torch.zeros(3, dtype=torch.bool), div, "topk", top_k=2) is None


def test_dissimilarity_is_to_the_nearest_qualified_image_and_one_without_any():
    qualified = _unit([1.0, 0.0], [0.0, 1.0])
    feats = _unit([1.0, 1.0], [-1.0, 0.0])
    div = dissimilarity(feats, qualified)
    assert torch.allclose(div, torch.tensor([1 - 2 ** -0.5, 1.0]), atol=1e-6)
    assert dissimilarity(feats, qualified[:0]).tolist() == [1.0, 1.0]


def test_a_bf16_detector_gives_float_probabilities_close_to_fp32():
    from dd_detector_refine.detector import Detector

    from ddcore import build_model

    torch.manual_seed(0)
    net = build_model("convnet-w8", 1, 10, (8, 8)).eval()
    x = torch.randn(5, 1, 8, 8)
    fp32, bf16 = Detector(net, "fp32").probabilities(x), Detector(net, "bf16", precision="bf16").probabilities(x)
    assert bf16.dtype == torch.float32 and torch.allclose(bf16.sum(1), torch.ones(5))
    assert not torch.equal(fp32, bf16) and (fp32 - bf16).abs().max() < 0.05
    assert Detector(net, "bf16", precision="bf16").features(x).dtype == torch.float32

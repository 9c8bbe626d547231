#!/usr/bin/env python3
"""Reproduce kiosk/data/models/papertype.tflite (+ papertype.json) from data this script generates.

No TensorFlow: the network is a small multilayer perceptron on the features of
``kiosk.extract.papertype.features`` (thumbnail, layout grids and profiles, leader/checkbox/red-ink
evidence), trained with numpy (Adam, cross-entropy, dropout, L2), and written as a LiteRT flatbuffer with the
TFLite schema bindings that ship inside ``ai-edge-litert`` (FULLY_CONNECTED + RELU, FULLY_CONNECTED,
SOFTMAX; float32). The input standardisation is folded into the first layer, so the kiosk feeds raw features.

Data: ``kiosk.synth.papers.generate`` renders the four kinds (ID card photos and scans, filled application
forms from the form definitions and generic forms, decisions and certificates with motto, title, seal and
signature, other papers: text pages, letters, receipts, texture photos) with augmentation (rotation,
perspective, blur, lighting, noise, JPEG, greyscale). The held-apart evaluation set uses other seeds, other
typefaces and other body sentences than training.

    .venv/bin/python scripts/train_papertype.py                 # full run (about 15 min on one core)
    .venv/bin/python scripts/train_papertype.py --per-class 60 --heldout 20 --out /tmp/pt   # quick check

Run it with OMP_THREAD_LIMIT=1 on a shared machine; it uses one core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np

from kiosk.extract.papertype import FEATURE_VERSION, KINDS, feature_size, features
from kiosk.synth.papers import HELDOUT_FONTS, TRAIN_FONTS, generate

ROOT = Path(__file__).resolve().parent.parent


def sample_seed(base: int, split: str, kind: str, i: int) -> int:
    digest = hashlib.sha256(f"{base}/{split}/{kind}/{i}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def make_set(n: int, split: str, base_seed: int, *, heldout: bool) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    t0 = time.time()
    for ki, kind in enumerate(KINDS):
        for i in range(n):
            rng = random.Random(sample_seed(base_seed, split, kind, i))
            xs.append(features(generate(kind, rng, heldout=heldout)))
            ys.append(ki)
        print(f"  {split}: {kind} x {n} ({time.time() - t0:.0f} s)", flush=True)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64)


# --- model --------------------------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_mlp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    hidden: int,
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    l2: float = 1e-4,
    dropout: float = 0.3,
    in_dropout: float = 0.1,
    batch: int = 64,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)
    sd = np.maximum(x.std(axis=0), 1e-2)
    xn = (x - mu) / sd
    n, d = xn.shape
    k = len(KINDS)
    p = {
        "w1": rng.normal(0, np.sqrt(2 / d), (d, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)).astype(np.float32),
        "b2": np.zeros(k, np.float32),
    }
    m = {key: np.zeros_like(v) for key, v in p.items()}
    v2 = {key: np.zeros_like(v) for key, v in p.items()}
    step = 0
    onehot = np.eye(k, dtype=np.float32)[y]
    for epoch in range(epochs):
        order = rng.permutation(n)
        loss_sum = 0.0
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            xb = xn[idx] * (rng.random((len(idx), d)) >= in_dropout) / (1 - in_dropout)
            h_pre = xb @ p["w1"] + p["b1"]
            h = np.maximum(h_pre, 0)
            mask = (rng.random(h.shape) >= dropout) / (1 - dropout)
            hd = h * mask
            prob = softmax(hd @ p["w2"] + p["b2"])
            loss_sum += float(-np.log(np.maximum(prob[np.arange(len(idx)), y[idx]], 1e-9)).sum())
            g_logits = (prob - onehot[idx]) / len(idx)
            grads = {"w2": hd.T @ g_logits + l2 * p["w2"], "b2": g_logits.sum(axis=0)}
            g_h = (g_logits @ p["w2"].T) * mask * (h_pre > 0)
            grads["w1"] = xb.T @ g_h + l2 * p["w1"]
            grads["b1"] = g_h.sum(axis=0)
            step += 1
            for key in p:
                m[key] = 0.9 * m[key] + 0.1 * grads[key]
                v2[key] = 0.999 * v2[key] + 0.001 * grads[key] ** 2
                mh = m[key] / (1 - 0.9**step)
                vh = v2[key] / (1 - 0.999**step)
                p[key] -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        if epoch % 10 == 0 or epoch == epochs - 1:
            acc = float((predict_raw(p, xn) == y).mean())
            print(f"  epoch {epoch:3d} loss {loss_sum / n:.4f} train acc {acc:.4f}", flush=True)
    # fold the standardisation into layer 1: W1' x + b1' == W1 ((x - mu) / sd) + b1
    w1 = p["w1"] / sd[:, None]
    b1 = p["b1"] - (mu / sd) @ p["w1"]
    return {"w1": w1.astype(np.float32), "b1": b1.astype(np.float32), "w2": p["w2"], "b2": p["b2"]}


def predict_raw(p: dict[str, np.ndarray], xn: np.ndarray) -> np.ndarray:
    return np.argmax(np.maximum(xn @ p["w1"] + p["b1"], 0) @ p["w2"] + p["b2"], axis=1)


def forward(p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return softmax(np.maximum(x @ p["w1"] + p["b1"], 0) @ p["w2"] + p["b2"])


# --- LiteRT flatbuffer ----------------------------------------------------------------------------------


def tflite_bytes(p: dict[str, np.ndarray], description: str) -> bytes:
    """A LiteRT (TFLite schema v3) model: input [1, d] -> FC + RELU -> FC -> SOFTMAX -> output [1, k]."""
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.tools import flatbuffer_utils

    d, hidden = p["w1"].shape
    k = p["w2"].shape[1]
    model = s.ModelT()
    model.version = 3
    model.description = description.encode()
    buffers = [s.BufferT()]  # buffer 0: the empty sentinel

    def buffer(arr: np.ndarray) -> int:
        b = s.BufferT()
        b.data = np.frombuffer(np.ascontiguousarray(arr, dtype=np.float32).tobytes(), dtype=np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    tensors = []

    def tensor(name: str, shape: list[int], buf: int = 0) -> int:
        t = s.TensorT()
        t.name = name.encode()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = s.TensorType.FLOAT32
        t.buffer = buf
        tensors.append(t)
        return len(tensors) - 1

    t_in = tensor("features", [1, d])
    t_w1 = tensor("dense1/weights", [hidden, d], buffer(p["w1"].T))
    t_b1 = tensor("dense1/bias", [hidden], buffer(p["b1"]))
    t_h = tensor("dense1/relu", [1, hidden])
    t_w2 = tensor("dense2/weights", [k, hidden], buffer(p["w2"].T))
    t_b2 = tensor("dense2/bias", [k], buffer(p["b2"]))
    t_logits = tensor("logits", [1, k])
    t_out = tensor("probabilities", [1, k])

    codes = []
    for op in (s.BuiltinOperator.FULLY_CONNECTED, s.BuiltinOperator.SOFTMAX):
        c = s.OperatorCodeT()
        c.builtinCode = op
        c.deprecatedBuiltinCode = op
        c.version = 1
        codes.append(c)

    def fc(inp: int, w: int, b: int, out: int, act: int) -> s.OperatorT:
        op = s.OperatorT()
        op.opcodeIndex = 0
        op.inputs = np.array([inp, w, b], dtype=np.int32)
        op.outputs = np.array([out], dtype=np.int32)
        op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
        opt = s.FullyConnectedOptionsT()
        opt.fusedActivationFunction = act
        op.builtinOptions = opt
        return op

    sm = s.OperatorT()
    sm.opcodeIndex = 1
    sm.inputs = np.array([t_logits], dtype=np.int32)
    sm.outputs = np.array([t_out], dtype=np.int32)
    sm.builtinOptionsType = s.BuiltinOptions.SoftmaxOptions
    smo = s.SoftmaxOptionsT()
    smo.beta = 1.0
    sm.builtinOptions = smo

    sg = s.SubGraphT()
    sg.name = b"main"
    sg.tensors = tensors
    sg.inputs = np.array([t_in], dtype=np.int32)
    sg.outputs = np.array([t_out], dtype=np.int32)
    sg.operators = [
        fc(t_in, t_w1, t_b1, t_h, s.ActivationFunctionType.RELU),
        fc(t_h, t_w2, t_b2, t_logits, s.ActivationFunctionType.NONE),
        sm,
    ]
    model.subgraphs = [sg]
    model.operatorCodes = codes
    model.buffers = buffers
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for row in x:
        it.set_tensor(inp["index"], row.reshape(1, -1).astype(np.float32))
        it.invoke()
        res.append(np.array(it.get_tensor(out["index"])[0]))
    return np.stack(res)


def confusion(y: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    cm = np.zeros((len(KINDS), len(KINDS)), np.int64)
    for a, b in zip(y, pred, strict=True):
        cm[a, b] += 1
    return cm.tolist()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=600, help="training images per kind")
    ap.add_argument("--heldout", type=int, default=150, help="held-apart images per kind")
    ap.add_argument("--seed", type=int, default=20251125)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "kiosk" / "data" / "models")
    ap.add_argument("--cache", type=Path, default=None, help="reuse/store generated features (.npz)")
    args = ap.parse_args(argv)

    t0 = time.time()
    if args.cache and args.cache.exists():
        data = np.load(args.cache)
        xtr, ytr, xte, yte = data["xtr"], data["ytr"], data["xte"], data["yte"]
        print(f"features from {args.cache}")
    else:
        print("generating training data", flush=True)
        xtr, ytr = make_set(args.per_class, "train", args.seed, heldout=False)
        print("generating held-apart data", flush=True)
        xte, yte = make_set(args.heldout, "heldout", args.seed, heldout=True)
        if args.cache:
            np.savez_compressed(args.cache, xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    gen_s = time.time() - t0
    assert xtr.shape[1] == feature_size()
    print("training", flush=True)
    params = train_mlp(xtr, ytr, hidden=args.hidden, epochs=args.epochs, seed=args.seed)
    prob = forward(params, xte)
    pred = prob.argmax(axis=1)
    acc = float((pred == yte).mean())
    per_kind = {k: float((pred[yte == i] == i).mean()) for i, k in enumerate(KINDS)}
    print(f"held-apart accuracy {acc:.4f} {per_kind}")

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "papertype.tflite"
    model_path.write_bytes(tflite_bytes(params, "kiosk paper-type MLP (scripts/train_papertype.py)"))
    lite = run_tflite(model_path, xte)
    max_diff = float(np.abs(lite - prob).max())
    lite_acc = float((lite.argmax(axis=1) == yte).mean())
    print(f"LiteRT check: max |p_litert - p_numpy| = {max_diff:.2e}, accuracy {lite_acc:.4f}")
    info = {
        "labels": list(KINDS),
        "input": {
            "name": "features",
            "shape": [1, int(xtr.shape[1])],
            "dtype": "float32",
            "feature_version": FEATURE_VERSION,
            "description": "kiosk.extract.papertype.features(image): 32x32 thumbnail, ink grids and "
            "profiles, leader/checkbox/red-ink evidence, colour and edge statistics",
        },
        "feature_version": FEATURE_VERSION,
        "output": {"name": "probabilities", "shape": [1, len(KINDS)]},
        "network": f"dense {xtr.shape[1]}->{args.hidden} relu, dense {args.hidden}->{len(KINDS)}, softmax "
        f"(float32; input standardisation folded into layer 1)",
        "training": {
            "script": "scripts/train_papertype.py",
            "seed": args.seed,
            "per_class": args.per_class,
            "epochs": args.epochs,
            "data": "synthetic, generated by kiosk.synth.papers.generate: ID-card fronts/backs photographed "
            "on textures or scanned; application forms (the three form definitions with random values "
            "and generic dotted-line forms with checkboxes); decisions (agency block, motto, title, "
            "'Về việc', seal, signature) and certificates (frame, emblem, seal); other papers (plain "
            "text pages, letters, receipts, texture photos); augmentation: flat, flatbed scan "
            "(rotation, blur, noise, greyscale, JPEG) or camera photo (perspective, lighting, "
            "sideways pages)",
            "fonts": list(TRAIN_FONTS),
        },
        "evaluation": {
            "heldout_per_class": args.heldout,
            "heldout_fonts": list(HELDOUT_FONTS),
            "heldout_note": "other seeds, typefaces and body sentences than training",
            "accuracy": round(acc, 4),
            "per_kind_recall": {k: round(v, 4) for k, v in per_kind.items()},
            "confusion": {"rows_true_cols_predicted": list(KINDS), "matrix": confusion(yte, pred)},
            "litert_accuracy": round(lite_acc, 4),
            "litert_max_abs_diff": max_diff,
        },
        "generation_seconds": round(gen_s, 1),
    }
    (args.out / "papertype.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes) and papertype.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

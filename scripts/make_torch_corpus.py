"""Export a corpus of real PyTorch models to ONNX, each with an input and torch's own output.

Usage (in a venv with torch, torchvision, timm, transformers, onnx, onnxscript; not .venv):
    python scripts/make_torch_corpus.py [OUT] [--models NAME ...] [--timeout S] [--list]

Writes OUT/<name>/model.onnx, input_<i>.npy, expected_<i>.npy and meta.json (default OUT:
corpora/torch). Weights are random under a fixed seed (``torch.manual_seed(0)``); nothing
is downloaded (``weights=None``, ``weights_backbone=None``, Hugging Face models built from
small configs). Models run in eval mode. Most use the classic TorchScript exporter
(``dynamo=False``) at opset 17; the ``*_dynamo18`` / ``*_dynamo20`` entries use the dynamo
exporter at that opset. Each model is exported in its own child process (a crash or a hang
costs one entry); OUT/summary.json records what was written and why the others failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "corpora" / "torch"

IMAGE = (1, 3, 224, 224)

#: name -> (family, builder key, exporter, opset)
MODELS: dict[str, tuple[str, str, str, int]] = {
    "resnet18": ("torchvision", "resnet18", "classic", 17),
    "resnet50": ("torchvision", "resnet50", "classic", 17),
    "mobilenet_v3_large": ("torchvision", "mobilenet_v3_large", "classic", 17),
    "efficientnet_b0": ("torchvision", "efficientnet_b0", "classic", 17),
    "convnext_tiny": ("torchvision", "convnext_tiny", "classic", 17),
    "vit_b_16": ("torchvision", "vit_b_16", "classic", 17),
    "swin_t": ("torchvision", "swin_t", "classic", 17),
    "densenet121": ("torchvision", "densenet121", "classic", 17),
    "deeplabv3_mobilenet_v3_large": ("torchvision", "deeplabv3_mobilenet_v3_large", "classic", 17),
    "ssdlite320_mobilenet_v3_large": ("detection", "ssdlite320_mobilenet_v3_large", "classic", 17),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("detection", "fasterrcnn_mobilenet_v3_large_320_fpn", "classic", 17),
    "deit_tiny_patch16_224": ("timm", "deit_tiny_patch16_224", "classic", 17),
    "efficientformer_l1": ("timm", "efficientformer_l1", "classic", 17),
    "bert": ("transformers", "bert", "classic", 17),
    "gpt2": ("transformers", "gpt2", "classic", 17),
    "distilbert": ("transformers", "distilbert", "classic", 17),
    "t5": ("transformers", "t5", "classic", 17),
    "clip": ("transformers", "clip", "classic", 17),
    "resnet18_dynamo18": ("torchvision", "resnet18", "dynamo", 18),
    "mobilenet_v3_large_dynamo18": ("torchvision", "mobilenet_v3_large", "dynamo", 18),
    "vit_b_16_dynamo18": ("torchvision", "vit_b_16", "dynamo", 18),
    "deit_tiny_patch16_224_dynamo20": ("timm", "deit_tiny_patch16_224", "dynamo", 20),
    "bert_dynamo18": ("transformers", "bert", "dynamo", 18),
    "gpt2_dynamo20": ("transformers", "gpt2", "dynamo", 20),
    # More op coverage: ceil_mode pooling, channel shuffle, SE blocks, bilinear upsampling,
    # TF-style SAME padding, MobileViT unfolding, RMSNorm and rotary embeddings, Conv1d and
    # GroupNorm on audio, an encoder-decoder.
    "squeezenet1_0": ("torchvision", "squeezenet1_0", "classic", 17),
    "googlenet": ("torchvision", "googlenet", "classic", 17),
    "shufflenet_v2_x0_5": ("torchvision", "shufflenet_v2_x0_5", "classic", 17),
    "regnet_y_400mf": ("torchvision", "regnet_y_400mf", "classic", 17),
    "mnasnet0_5": ("torchvision", "mnasnet0_5", "classic", 17),
    "lraspp_mobilenet_v3_large": ("torchvision", "lraspp_mobilenet_v3_large", "classic", 17),
    "tf_efficientnet_b0": ("timm", "tf_efficientnet_b0", "classic", 17),
    "mobilevit_xxs": ("timm", "mobilevit_xxs", "classic", 17),
    "levit_128s": ("timm", "levit_128s", "classic", 17),
    "llama": ("transformers", "llama", "classic", 17),
    "roberta": ("transformers", "roberta", "classic", 17),
    "bart": ("transformers", "bart", "classic", 17),
    "wav2vec2": ("transformers", "wav2vec2", "classic", 17),
    "whisper_encoder": ("transformers", "whisper_encoder", "classic", 17),
    "llama_dynamo18": ("transformers", "llama", "dynamo", 18),
    "convnext_tiny_dynamo18": ("torchvision", "convnext_tiny", "dynamo", 18),
    "swin_t_dynamo20": ("torchvision", "swin_t", "dynamo", 20),
    "efficientnet_b0_dynamo20": ("torchvision", "efficientnet_b0", "dynamo", 20),
    "deeplabv3_mobilenet_v3_large_dynamo18": ("torchvision", "deeplabv3_mobilenet_v3_large", "dynamo", 18),
    "efficientformer_l1_dynamo18": ("timm", "efficientformer_l1", "dynamo", 18),
    # (T5 through the dynamo exporter fails inside torch.export: "Cannot view a tensor with
    # shape [1, 16, 4, 32] and strides (2048, 32, 512, 1)", torch 2.14 / transformers 5.24.)
    "clip_dynamo18": ("transformers", "clip", "dynamo", 18),
    "distilbert_dynamo20": ("transformers", "distilbert", "dynamo", 20),
    "whisper_encoder_dynamo20": ("transformers", "whisper_encoder", "dynamo", 20),
    # Small enough (< 1 MB) to live in tests/data/torch_small for make test.
    "resnet_tiny": ("small", "resnet_tiny", "classic", 17),
    "bert_tiny": ("small", "bert_tiny", "classic", 17),
    "gpt2_tiny": ("small", "gpt2_tiny", "classic", 17),
}


def _image(shape=IMAGE, seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _calibrated(model, image):
    """``model`` in eval mode, its BatchNorm statistics measured on ``image`` first.

    Freshly initialised BatchNorm layers (mean 0, variance 1) do not normalise, and in
    deep depthwise networks (MobileNetV3, EfficientNet) the activations then shrink to
    1e-10 and below: every output would match anything within an absolute tolerance.
    One forward pass in training mode (BatchNorm layers only) sets real statistics; a
    batch of two, as a 1x1 map in a batch of one has no variance. Weight matrices left at
    zero by an initialiser (ViT's head) get small random values, so no output is all 0.
    """
    import torch

    model.eval()
    for p in model.parameters():
        if p.dim() >= 2 and not p.detach().any():  # ViT zero-initialises its head: outputs all 0
            with torch.no_grad():
                p.normal_(0.0, 0.02)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: this one batch's statistics
        m.train()
    if norms:
        with torch.no_grad():
            model(torch.from_numpy(image))
    for m in norms:
        var = m.running_var
        var[~torch.isfinite(var) | (var <= 0)] = 1.0
        m.eval()
    return model


def _tokens(batch: int = 1, length: int = 16, vocab: int = 1000):  # noqa: D103
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, (batch, length), dtype=np.int64)
    mask = np.ones((batch, length), np.int64)
    mask[:, -3:] = 0  # padding at the end exercises the attention-mask arithmetic
    return ids, mask


def build(family: str, key: str):
    """The eval-mode module, its named numpy inputs and output names."""
    import torch

    torch.manual_seed(0)
    if family == "torchvision":
        import torchvision

        segmentation = key.startswith(("deeplab", "lraspp"))
        kwargs = {"weights_backbone": None} if segmentation else {}
        if key == "googlenet":
            kwargs = {"aux_logits": False, "init_weights": True}
        model = torchvision.models.get_model(key, weights=None, **kwargs)
        if segmentation:
            model = _FirstOutput(model, "out")
        return _calibrated(model, _image((2, *IMAGE[1:]), seed=1)), {"input": _image()}, ["output"]
    if family == "detection":
        import torchvision

        # Random weights score every box low: keep them all, so the outputs are not empty.
        thresh = {"score_thresh": 0.0} if key.startswith("ssd") else {"box_score_thresh": 0.0}
        model = torchvision.models.get_model(key, weights=None, weights_backbone=None, **thresh)
        model = _Detection(model)
        return _calibrated(model, _image((2, 3, 320, 320), seed=1)), {"input": _image((1, 3, 320, 320))}, \
            ["boxes", "scores", "labels"]
    if family == "timm":
        import timm

        model = timm.create_model(key, pretrained=False)
        return _calibrated(model, _image((2, *IMAGE[1:]), seed=1)), {"input": _image()}, ["output"]
    if family == "transformers":
        return _hf(key)
    if family == "small":
        return _small(key)
    raise ValueError(family)


def _small(key: str):
    """Width-reduced real building blocks: torchvision's ResNet stem and BasicBlocks, BERT, GPT-2."""
    import torch
    import transformers as tf
    from torchvision.models.resnet import BasicBlock

    if key == "resnet_tiny":
        down = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1, 2, bias=False), torch.nn.BatchNorm2d(32))
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 7, 2, 3, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(inplace=True),
            torch.nn.MaxPool2d(3, 2, 1), BasicBlock(16, 16), BasicBlock(16, 32, 2, down),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
        shape = (1, 3, 64, 64)
        return _calibrated(model, _image((2, *shape[1:]), seed=1)), {"input": _image(shape)}, ["output"]
    ids, mask = _tokens(length=12, vocab=200)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if key == "bert_tiny":
        cfg = tf.BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64)
        return _HF(tf.BertModel(cfg), ("last_hidden_state",)).eval(), feeds, ["last_hidden_state"]
    if key == "gpt2_tiny":
        cfg = tf.GPT2Config(vocab_size=200, n_positions=64, n_embd=32, n_layer=2, n_head=2, use_cache=False)
        return _HF(tf.GPT2LMHeadModel(cfg), ("logits",)).eval(), feeds, ["logits"]
    raise ValueError(key)


def _hf(key: str):
    import transformers as tf

    ids, mask = _tokens()
    feeds = {"input_ids": ids, "attention_mask": mask}
    if key == "bert":
        cfg = tf.BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=256, max_position_embeddings=64)
        return _HF(tf.BertModel(cfg), ("last_hidden_state", "pooler_output")).eval(), feeds, ["last_hidden_state", "pooler_output"]
    if key == "gpt2":
        cfg = tf.GPT2Config(vocab_size=1000, n_positions=64, n_embd=128, n_layer=2, n_head=2, use_cache=False)
        return _HF(tf.GPT2LMHeadModel(cfg), ("logits",)).eval(), feeds, ["logits"]
    if key == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=1000, dim=128, n_layers=2, n_heads=2, hidden_dim=256, max_position_embeddings=64)
        return _HF(tf.DistilBertModel(cfg), ("last_hidden_state",)).eval(), feeds, ["last_hidden_state"]
    if key == "t5":
        cfg = tf.T5Config(vocab_size=1000, d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4,
                          decoder_start_token_id=0, use_cache=False)
        dec = ids[:, :8].copy()
        feeds = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}
        return _HF(tf.T5Model(cfg), ("last_hidden_state",)).eval(), feeds, ["last_hidden_state"]
    if key == "clip":
        text = tf.CLIPTextConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=2, max_position_embeddings=32)
        vision = tf.CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                                     image_size=64, patch_size=16)
        cfg = tf.CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32)
        feeds = {"input_ids": ids, "attention_mask": mask, "pixel_values": _image((2, 3, 64, 64))}
        return _HF(tf.CLIPModel(cfg), ("logits_per_image", "text_embeds", "image_embeds")).eval(), feeds, \
            ["logits_per_image", "text_embeds", "image_embeds"]
    if key == "llama":
        cfg = tf.LlamaConfig(vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False)
        return _HF(tf.LlamaForCausalLM(cfg), ("logits",)).eval(), feeds, ["logits"]
    if key == "roberta":
        cfg = tf.RobertaConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=256, max_position_embeddings=66)
        return _HF(tf.RobertaModel(cfg), ("last_hidden_state",)).eval(), feeds, ["last_hidden_state"]
    if key == "bart":
        cfg = tf.BartConfig(vocab_size=1000, d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=256, decoder_ffn_dim=256,
                            max_position_embeddings=64, use_cache=False)
        feeds = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": ids[:, :8].copy()}
        return _HF(tf.BartModel(cfg), ("last_hidden_state",)).eval(), feeds, ["last_hidden_state"]
    if key == "wav2vec2":
        cfg = tf.Wav2Vec2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                                conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=32)
        audio = _image((1, 4000))
        return _HF(tf.Wav2Vec2ForCTC(cfg), ("logits",)).eval(), {"input_values": audio}, ["logits"]
    if key == "whisper_encoder":
        cfg = tf.WhisperConfig(vocab_size=1000, num_mel_bins=16, d_model=64, encoder_layers=2, encoder_attention_heads=2,
                               decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
                               max_source_positions=50, max_target_positions=32, pad_token_id=1, bos_token_id=0,
                               eos_token_id=2, decoder_start_token_id=0)
        features = _image((1, 16, 100))
        return _HF(tf.WhisperModel(cfg).get_encoder(), ("last_hidden_state",)).eval(), {"input_features": features}, \
            ["last_hidden_state"]
    raise ValueError(key)


def _FirstOutput(model, key):  # noqa: N802 - behaves as a class
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)[key]

    return FirstOutput()


def _Detection(model):  # noqa: N802
    import torch

    class Detection(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            out = self.model(list(x.unbind(0)) if x.shape[0] > 1 else [x[0]])[0]  # the first image's boxes
            return out["boxes"], out["scores"], out["labels"]

    return Detection()


def _HF(model, names):  # noqa: N802
    import torch

    class HF(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            keys = ("input_ids", "attention_mask", "decoder_input_ids", "pixel_values", "input_values", "input_features")
            given = dict(zip(self.arg_names, args))
            out = self.model(**{k: v for k, v in given.items() if k in keys}, return_dict=True)
            return tuple(out[n] for n in names)

    return HF()


def export_one(name: str, out_dir: Path) -> dict:
    """Build, run and export one model into ``out_dir`` (in this process)."""
    import numpy as np
    import torch

    family, key, exporter, opset = MODELS[name]
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    model, feeds, out_names = build(family, key)
    if family in ("transformers", "small") and key != "resnet_tiny":
        model.arg_names = list(feeds)  # the wrapper passes positional tensors on by name
    tensors = tuple(torch.from_numpy(v) for v in feeds.values())
    with torch.no_grad():
        expected = model(*tensors)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    for p in model.parameters():
        p.requires_grad_(True)
    t0 = time.perf_counter()
    # Not under no_grad: there nn.MultiheadAttention takes its fused fast path
    # (aten::_native_multi_head_attention), which the classic exporter cannot export.
    if exporter == "classic":
        torch.onnx.export(model, tensors, str(onnx_path), dynamo=False, opset_version=opset,
                          input_names=list(feeds), output_names=out_names)
    else:
        torch.onnx.export(model, tensors, str(onnx_path), dynamo=True, opset_version=opset,
                          input_names=list(feeds), output_names=out_names, external_data=False)
    seconds = time.perf_counter() - t0
    meta = {"name": name, "family": family, "model": key, "exporter": exporter, "opset": opset,
            "torch": torch.__version__, "export_seconds": round(seconds, 2), "inputs": [], "outputs": []}
    for i, (feed_name, value) in enumerate(feeds.items()):
        np.save(out_dir / f"input_{i}.npy", value)
        meta["inputs"].append({"name": feed_name, "file": f"input_{i}.npy", "shape": list(value.shape), "dtype": str(value.dtype)})
    for i, (out_name, value) in enumerate(zip(out_names, expected)):
        array = value.detach().numpy()
        np.save(out_dir / f"expected_{i}.npy", array)
        meta["outputs"].append({"name": out_name, "file": f"expected_{i}.npy", "shape": list(array.shape), "dtype": str(array.dtype)})
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", nargs="*", default=None, help="names to export (default: all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    parser.add_argument("--list", action="store_true", help="print the model names and exit")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.list:
        print("\n".join(MODELS))
        return 0
    if args.one:
        meta = export_one(args.one, args.out / args.one)
        print("META " + json.dumps(meta))
        return 0
    names = args.models or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; --list shows them")
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for name in names:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, __file__, str(args.out), "--one", name], capture_output=True,
                                  text=True, timeout=args.timeout)
            ok = proc.returncode == 0 and (args.out / name / "meta.json").exists()
            error = "" if ok else (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        except subprocess.TimeoutExpired:
            ok, error = False, f"timed out after {args.timeout:.0f} s"
        summary[name] = {"ok": ok, "error": error, "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name:40s} {'written' if ok else 'FAILED: ' + error[:200]}  ({summary[name]['seconds']} s)", flush=True)
        summary_path.write_text(json.dumps(summary, indent=1))
    done = sum(1 for n in names if summary[n]["ok"])
    print(f"{done}/{len(names)} models exported to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

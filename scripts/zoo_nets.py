"""Network builders for the zoo corpus (scripts/make_zoo_corpus.py): mindcv, mindyolo and two transformers.

Runs inside the zoo venv (MindSpore 2.10 + numpy<2 + mindcv + mindyolo), never in the
project's .venv.

BERT-base and GPT-2 are small MindSpore ``nn.Cell`` re-implementations that follow the
structure of Hugging Face's (and so mindnlp's) BertModel and GPT2Model, written with
``mindspore.mint`` ops as mindnlp 0.5 does: mindnlp 0.5.1 pins ``mindspore<=2.7.0`` and pulls
in transformers, accelerate, diffusers and a torch-compatible layer, and does not import on
MindSpore 2.10. The YOLO networks are built by mindyolo from the layer tables of its own
configs (configs/yolov3/yolov3.yaml, yolov4/yolov4.yaml, yolov5/yolov5n.yaml,
yolov8/yolov8n.yaml in the mindyolo repository), which its wheel does not ship.
"""

from __future__ import annotations

import math

# --- mindcv ---------------------------------------------------------------------------------

# name -> (family, image size): the smallest variant of each mindcv family, at its own size.
MINDCV = {
    "resnet50": ("ResNet", 224), "resnet18": ("ResNet", 224), "resnext50_32x4d": ("ResNeXt", 224),
    "res2net50": ("Res2Net", 224), "skresnet18": ("SKNet", 224), "densenet121": ("DenseNet", 224),
    "googlenet": ("GoogLeNet", 224), "inception_v3": ("Inception", 299), "inception_v4": ("Inception", 299),
    "xception": ("Xception", 299), "vgg11": ("VGG", 224), "squeezenet1_0": ("SqueezeNet", 224),
    "shufflenet_v1_g3_05": ("ShuffleNet v1", 224), "shufflenet_v2_x0_5": ("ShuffleNet v2", 224),
    "mobilenet_v1_025": ("MobileNet v1", 224), "mobilenet_v2_035_96": ("MobileNet v2", 96),
    "mobilenet_v3_small_075": ("MobileNet v3", 224), "mnasnet_050": ("MnasNet", 224),
    "ghostnet_050": ("GhostNet", 224), "efficientnet_b0": ("EfficientNet", 224), "mixnet_s": ("MixNet", 224),
    "regnet_x_200mf": ("RegNet", 224), "rexnet_09": ("ReXNet", 224), "dpn92": ("DPN", 224),
    "hrnet_w32": ("HRNet", 224), "convnext_tiny": ("ConvNeXt", 224), "convnextv2_atto": ("ConvNeXt v2", 224),
    "vit_b_32_224": ("ViT", 224), "swin_tiny": ("Swin", 224),
    "pit_ti": ("PiT", 224), "pvt_v2_b0": ("PVT v2", 224), "crossvit_9": ("CrossViT", 240),
    "xcit_tiny_12_p16_224": ("XCiT", 224), "visformer_tiny": ("Visformer", 224),
    "mobilevit_xx_small": ("MobileViT", 256), "poolformer_s12": ("PoolFormer", 224),
    "edgenext_xx_small": ("EdgeNeXt", 256), "mlp_mixer_s_p32": ("MLP-Mixer", 224),
}

# More mindcv families, written only with --all (the 2-core corpus run stays near an hour).
MINDCV_EXTRA = {
    "resnetv2_50": ("ResNetV2", 224), "seresnet18": ("SENet", 224), "resnest14": ("ResNeSt", 224),
    "BiT_resnet50": ("BiT", 224), "repvgg_a0": ("RepVGG", 224), "nasnet_a_4x1056": ("NASNet", 224),
    "pnasnet": ("PNASNet", 331), "swinv2_tiny_window8": ("Swin v2", 256), "pvt_tiny": ("PVT", 224),
    "cait_xxs24_224": ("CaiT", 224), "coat_lite_tiny": ("CoaT", 224), "convit_tiny": ("ConViT", 224),
    "cmt_tiny": ("CMT", 160), "halonet_50t": ("HaloNet", 256), "volo_d1": ("VOLO", 224),
    "repmlp_t224": ("RepMLP", 224),
}


def mindcv_net(name: str):
    import mindcv

    if name in TINY:
        return randomize(TINY[name][1]())
    if name.startswith("rexnet"):
        _shim_rexnet_init()
    return mindcv.create_model(name, pretrained=False, num_classes=1000)


def _shim_rexnet_init() -> None:
    """mindcv 0.3.0's ReXNet reshapes a lazily initialized tensor, which MindSpore 2.10 refuses
    ("Tensor ... is uninitialized"); give its module an initializer that materializes first."""
    import types

    import mindspore.common.initializer as init
    import mindcv.models.rexnet as rexnet

    proxy = types.SimpleNamespace(**{k: getattr(init, k) for k in dir(init) if not k.startswith("_")})
    proxy.initializer = lambda *args, **kwargs: init.initializer(*args, **kwargs).init_data()
    rexnet.init = proxy


def _tiny_vit():
    from mindcv.models.vit import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=10)


def _tiny_mobilenet_v3():
    from mindcv.models.mobilenetv3 import MobileNetV3

    return MobileNetV3(arch="small", alpha=0.35, num_classes=10)


def _tiny_shufflenet_v2():
    import mindcv

    return mindcv.create_model("shufflenet_v2_x0_5", pretrained=False, num_classes=10)


def randomize(net, seed: int = 0):
    """Give every parameter a seeded random value of healthy scale, batch-norm statistics included.

    mindcv's initializers (zero-init residual gammas, 0.01-std heads) leave these narrow
    networks with outputs near 1e-8, which no tolerance could judge; weights get
    N(0, 1/fan_in), norm scales U(0.5, 1.5), shifts and means N(0, 0.1), variances U(0.5, 1.5).
    """
    import numpy as np

    import mindspore as ms

    rng = np.random.default_rng(seed)
    for param in net.get_parameters():
        shape, name = tuple(param.shape), param.name
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("beta", "moving_mean", "bias") or len(shape) < 2:
            value = rng.normal(0.0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        param.set_data(ms.Tensor(value.astype(np.float32)))
    return net


# Small mindcv networks (narrow, 10 classes, small images) copied into tests/data/zoo for make test.
TINY = {
    "tiny_vit": ("ViT", _tiny_vit, 32), "tiny_mobilenet_v3": ("MobileNet v3", _tiny_mobilenet_v3, 64),
    "tiny_shufflenet_v2": ("ShuffleNet v2", _tiny_shufflenet_v2, 64),
}


# --- mindyolo -------------------------------------------------------------------------------

def _conv(c, k=1, s=1, act=""):
    return ["ConvNormAct", [c, k, s] + ([act] if act else [])]


def _yolov3():
    backbone = [[-1, 1, *_conv(32, 3, 1)], [-1, 1, *_conv(64, 3, 2)], [-1, 1, "Bottleneck", [64]],
                [-1, 1, *_conv(128, 3, 2)], [-1, 2, "Bottleneck", [128]], [-1, 1, *_conv(256, 3, 2)],
                [-1, 8, "Bottleneck", [256]], [-1, 1, *_conv(512, 3, 2)], [-1, 8, "Bottleneck", [512]],
                [-1, 1, *_conv(1024, 3, 2)], [-1, 4, "Bottleneck", [1024]]]
    head = [[-1, 1, "Bottleneck", [1024, False]], [-1, 1, *_conv(512)], [-1, 1, *_conv(1024, 3)],
            [-1, 1, *_conv(512)], [-1, 1, *_conv(1024, 3)], [-2, 1, *_conv(256)],
            [-1, 1, "Upsample", [None, 2, "nearest"]], [[-1, 8], 1, "Concat", [1]],
            [-1, 1, "Bottleneck", [512, False]], [-1, 1, "Bottleneck", [512, False]], [-1, 1, *_conv(256)],
            [-1, 1, *_conv(512, 3)], [-2, 1, *_conv(128)], [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]], [-1, 1, "Bottleneck", [256, False]], [-1, 2, "Bottleneck", [256, False]],
            [[27, 22, 15], 1, "YOLOv3Head", ["nc", "anchors", "stride"]]]
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
    return dict(model_name="yolov3", depth_multiple=1.0, width_multiple=1.0, stride=[8, 16, 32],
                anchors=anchors, backbone=backbone, head=head)


def _yolov4():
    m, lk = "act=nn.Mish()", "act=nn.LeakyReLU(0.1)"
    c = lambda ch, k=1, s=1, a=m: ["ConvNormAct", [ch, k, s, a]]  # noqa: E731
    backbone = [
        [-1, 1, *c(32, 3)], [-1, 1, *c(64, 3, 2)], [-1, 1, *c(64)], [-1, 1, "Bottleneck", [64, m]], [-1, 1, *c(64)],
        [1, 1, *c(64)], [[-2, -1], 1, "Concat", [1]], [-1, 1, *c(64)], [-1, 1, *c(128, 3, 2)], [-1, 1, *c(64)],
        [-1, 2, "Residualblock", [64, m]], [-1, 1, *c(64)], [8, 1, *c(64)], [[-2, -1], 1, "Concat", [1]],
        [-1, 1, *c(128)], [-1, 1, *c(256, 3, 2)], [-1, 1, *c(128)], [-1, 8, "Residualblock", [128, m]],
        [-1, 1, *c(128)], [15, 1, *c(128)], [[-2, -1], 1, "Concat", [1]], [-1, 1, *c(256)], [-1, 1, *c(512, 3, 2)],
        [-1, 1, *c(256)], [-1, 8, "Residualblock", [256, m]], [-1, 1, *c(256)], [22, 1, *c(256)],
        [[-2, -1], 1, "Concat", [1]], [-1, 1, *c(512)], [-1, 1, *c(1024, 3, 2)], [-1, 1, *c(512)],
        [-1, 4, "Residualblock", [512, m]], [-1, 1, *c(512)], [29, 1, *c(512)], [[-2, -1], 1, "Concat", [1]],
        [-1, 1, *c(1024)]]
    head = [
        [-1, 1, "Bottleneck", [1024, False, lk]], [-1, 1, *c(512, a=lk)], [-1, 1, "nn.MaxPool2d", [5, 1, "same"]],
        [-2, 1, "nn.MaxPool2d", [9, 1, "same"]], [-3, 1, "nn.MaxPool2d", [13, 1, "same"]],
        [[-1, -2, -3, -4], 1, "Concat", [1]], [-1, 1, *c(512, a=lk)], [-1, 1, *c(1024, 3, a=lk)],
        [-1, 1, *c(512, a=lk)], [-1, 1, *c(256, a=lk)], [-1, 1, "Upsample", [None, 2, "nearest"]],
        [28, 1, *c(256, a=lk)], [[-2, -1], 1, "Concat", [1]], [-1, 2, "Bottleneck", [512, False, lk]],
        [-1, 1, *c(256, a=lk)], [-1, 1, *c(128, 3, a=lk)], [-1, 1, "Upsample", [None, 2, "nearest"]],
        [21, 1, *c(128, a=lk)], [[-2, -1], 1, "Concat", [1]], [-1, 2, "Bottleneck", [256, False, lk]],
        [-1, 1, *c(128, a=lk)], [-1, 1, *c(256, 3, a=lk)], [-2, 1, *c(256, 3, 2, a=lk)], [[-1, -9], 1, "Concat", [1]],
        [-1, 2, "Bottleneck", [512, False, lk]], [-1, 1, *c(256, a=lk)], [-1, 1, *c(512, 3, a=lk)],
        [-2, 1, *c(512, 3, 2, a=lk)], [[-1, -20], 1, "Concat", [1]], [-1, 3, "Bottleneck", [1024, False, lk]],
        [[-1, -4, -9], 1, "YOLOv4Head", ["nc", "anchors"]]]
    anchors = [[142, 110], [192, 243], [459, 401], [36, 75], [76, 55], [72, 146], [12, 16], [19, 36], [40, 28]]
    return dict(model_name="yolov4", depth_multiple=1.0, width_multiple=1.0, stride=[32, 16, 8],
                anchors=anchors, backbone=backbone, head=head)


def _yolov5n():
    backbone = [[-1, 1, "ConvNormAct", [64, 6, 2, 2]], [-1, 1, *_conv(128, 3, 2)], [-1, 3, "C3", [128]],
                [-1, 1, *_conv(256, 3, 2)], [-1, 6, "C3", [256]], [-1, 1, *_conv(512, 3, 2)], [-1, 9, "C3", [512]],
                [-1, 1, *_conv(1024, 3, 2)], [-1, 3, "C3", [1024]], [-1, 1, "SPPF", [1024, 5]]]
    head = [[-1, 1, *_conv(512)], [-1, 1, "Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]],
            [-1, 3, "C3", [512, False]], [-1, 1, *_conv(256)], [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]], [-1, 3, "C3", [256, False]], [-1, 1, *_conv(256, 3, 2)],
            [[-1, 14], 1, "Concat", [1]], [-1, 3, "C3", [512, False]], [-1, 1, *_conv(512, 3, 2)],
            [[-1, 10], 1, "Concat", [1]], [-1, 3, "C3", [1024, False]],
            [[17, 20, 23], 1, "YOLOv5Head", ["nc", "anchors", "stride"]]]
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
    return dict(model_name="yolov5", depth_multiple=0.33, width_multiple=0.25, stride=[8, 16, 32],
                anchors=anchors, backbone=backbone, head=head)


def _yolov8n():
    backbone = [[-1, 1, *_conv(64, 3, 2)], [-1, 1, *_conv(128, 3, 2)], [-1, 3, "C2f", [128, True]],
                [-1, 1, *_conv(256, 3, 2)], [-1, 6, "C2f", [256, True]], [-1, 1, *_conv(512, 3, 2)],
                [-1, 6, "C2f", [512, True]], [-1, 1, *_conv(1024, 3, 2)], [-1, 3, "C2f", [1024, True]],
                [-1, 1, "SPPF", [1024, 5]]]
    head = [[-1, 1, "Upsample", [None, 2, "nearest"]], [[-1, 6], 1, "Concat", [1]], [-1, 3, "C2f", [512]],
            [-1, 1, "Upsample", [None, 2, "nearest"]], [[-1, 4], 1, "Concat", [1]], [-1, 3, "C2f", [256]],
            [-1, 1, *_conv(256, 3, 2)], [[-1, 12], 1, "Concat", [1]], [-1, 3, "C2f", [512]],
            [-1, 1, *_conv(512, 3, 2)], [[-1, 9], 1, "Concat", [1]], [-1, 3, "C2f", [1024]],
            [[15, 18, 21], 1, "YOLOv8Head", ["nc", "reg_max", "stride"]]]
    return dict(model_name="yolov8", nc=80, reg_max=16, depth_multiple=0.33, width_multiple=0.25,
                stride=[8, 16, 32], backbone=backbone, head=head)


# name -> (family, config builder, image size)
MINDYOLO = {
    "yolov3_darknet53": ("YOLOv3", _yolov3, 256), "yolov4_cspdarknet53": ("YOLOv4", _yolov4, 256),
    "yolov5n": ("YOLOv5", _yolov5n, 256), "yolov8n": ("YOLOv8", _yolov8n, 256),
}


def mindyolo_net(name: str):
    from mindyolo.models import create_model
    from mindyolo.utils.config import Config

    cfg = Config(MINDYOLO[name][1]())
    return create_model(model_name=cfg.model_name, model_cfg=cfg, num_classes=80)


# --- transformers (Hugging Face structure, mindspore.mint ops) ------------------------------

def transformer_nets():
    """Define BertModel and GPT2Model cells lazily (MindSpore is imported only in the child)."""
    import mindspore as ms
    from mindspore import mint, nn, ops

    class BertSelfAttention(nn.Cell):
        def __init__(self, hidden, heads):
            super().__init__()
            self.heads, self.size = heads, hidden // heads
            self.query, self.key, self.value = (mint.nn.Linear(hidden, hidden) for _ in range(3))

        def split(self, x):
            b, s, _ = x.shape
            return x.view(b, s, self.heads, self.size).permute(0, 2, 1, 3)

        def construct(self, x, mask):
            q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
            scores = mint.matmul(q, mint.transpose(k, -1, -2)) / math.sqrt(self.size) + mask
            ctx = mint.matmul(mint.nn.functional.softmax(scores, dim=-1), v).permute(0, 2, 1, 3)
            b, s = ctx.shape[0], ctx.shape[1]
            return ctx.reshape(b, s, self.heads * self.size)

    class BertLayer(nn.Cell):
        def __init__(self, hidden, heads, inner):
            super().__init__()
            self.attention = BertSelfAttention(hidden, heads)
            self.attn_out = mint.nn.Linear(hidden, hidden)
            self.attn_norm = nn.LayerNorm((hidden,), epsilon=1e-12)
            self.intermediate = mint.nn.Linear(hidden, inner)
            self.output = mint.nn.Linear(inner, hidden)
            self.out_norm = nn.LayerNorm((hidden,), epsilon=1e-12)

        def construct(self, x, mask):
            x = self.attn_norm(self.attn_out(self.attention(x, mask)) + x)
            h = ops.gelu(self.intermediate(x), approximate="none")  # BERT's exact (erf) GELU
            return self.out_norm(self.output(h) + x)

    class BertModel(nn.Cell):
        """bert-base-uncased: 12 layers, 768 hidden, 12 heads; returns (sequence, pooled)."""

        def __init__(self, vocab=30522, hidden=768, layers=12, heads=12, inner=3072, positions=512):
            super().__init__()
            self.word = mint.nn.Embedding(vocab, hidden)
            self.position = mint.nn.Embedding(positions, hidden)
            self.token_type = mint.nn.Embedding(2, hidden)
            self.norm = nn.LayerNorm((hidden,), epsilon=1e-12)
            self.layers = nn.CellList([BertLayer(hidden, heads, inner) for _ in range(layers)])
            self.pooler = mint.nn.Linear(hidden, hidden)

        def construct(self, input_ids, attention_mask):
            s = input_ids.shape[1]
            pos = mint.arange(s).unsqueeze(0)
            x = self.norm(self.word(input_ids) + self.position(pos) + self.token_type(mint.zeros_like(input_ids)))
            mask = (1.0 - attention_mask[:, None, None, :].to(ms.float32)) * -10000.0
            for layer in self.layers:
                x = layer(x, mask)
            pooled = mint.tanh(self.pooler(x[:, 0]))
            return x, pooled

    class GPT2Attention(nn.Cell):
        def __init__(self, hidden, heads, positions):
            super().__init__()
            self.heads, self.size = heads, hidden // heads
            self.c_attn = mint.nn.Linear(hidden, 3 * hidden)
            self.c_proj = mint.nn.Linear(hidden, hidden)
            import numpy as np

            self.bias = ms.Tensor(np.tril(np.ones((positions, positions), np.bool_))[None, None])

        def construct(self, x):
            b, s, h = x.shape
            q, k, v = mint.split(self.c_attn(x), h, dim=2)
            q, k, v = (t.view(b, s, self.heads, self.size).permute(0, 2, 1, 3) for t in (q, k, v))
            w = mint.matmul(q, mint.transpose(k, -1, -2)) / math.sqrt(self.size)
            causal = self.bias[:, :, :s, :s]
            w = mint.where(causal, w, ms.Tensor(-3.4028234663852886e38, ms.float32))
            a = mint.matmul(mint.nn.functional.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(b, s, h)
            return self.c_proj(a)

    class GPT2Block(nn.Cell):
        def __init__(self, hidden, heads, positions):
            super().__init__()
            self.ln_1 = nn.LayerNorm((hidden,), epsilon=1e-5)
            self.attn = GPT2Attention(hidden, heads, positions)
            self.ln_2 = nn.LayerNorm((hidden,), epsilon=1e-5)
            self.c_fc = mint.nn.Linear(hidden, 4 * hidden)
            self.c_proj = mint.nn.Linear(4 * hidden, hidden)

        def construct(self, x):
            x = x + self.attn(self.ln_1(x))
            h = ops.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")  # gelu_new
            return x + self.c_proj(h)

    class GPT2Model(nn.Cell):
        """gpt2 (124M): 12 layers, 768 hidden, 12 heads; returns the last hidden state."""

        def __init__(self, vocab=50257, hidden=768, layers=12, heads=12, positions=1024):
            super().__init__()
            self.wte = mint.nn.Embedding(vocab, hidden)
            self.wpe = mint.nn.Embedding(positions, hidden)
            self.h = nn.CellList([GPT2Block(hidden, heads, positions) for _ in range(layers)])
            self.ln_f = nn.LayerNorm((hidden,), epsilon=1e-5)

        def construct(self, input_ids):
            s = input_ids.shape[1]
            x = self.wte(input_ids) + self.wpe(mint.arange(s).unsqueeze(0))
            for block in self.h:
                x = block(x)
            return self.ln_f(x)

    return {"bert_base": BertModel, "gpt2": GPT2Model}


# name -> (family, sequence length)
TRANSFORMERS = {"bert_base": ("BERT", 32), "gpt2": ("GPT-2", 32)}

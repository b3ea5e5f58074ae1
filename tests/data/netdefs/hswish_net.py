"""A small Cell with HSwish and ELU, which MindSpore 2.10's own ONNX export does not support (dstudio export --net tests)."""

import mindspore.nn as nn


class HSwishNet(nn.Cell):
    """conv3 -> HSwish -> global mean -> dense -> ELU."""

    def __init__(self, channels=3, width=8, classes=5):
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 3, pad_mode="same", has_bias=True)
        self.act = nn.HSwish()
        self.fc = nn.Dense(width, classes)
        self.elu = nn.ELU()

    def construct(self, x):
        x = self.act(self.conv(x))
        x = x.mean(axis=(2, 3))
        return self.elu(self.fc(x))

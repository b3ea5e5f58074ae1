"""LeNet-5 as a MindSpore Cell, for dstudio export --net tests (parameter names match tests/data/mindspore/lenet5)."""

import mindspore.nn as nn


class LeNet5(nn.Cell):
    """conv5-relu-maxpool x2, then dense 120/84/num_classes."""

    def __init__(self, num_classes=10, channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, pad_mode="valid", has_bias=True)
        self.conv2 = nn.Conv2d(6, 16, 5, pad_mode="valid", has_bias=True)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Dense(16 * 5 * 5, 120)
        self.fc2 = nn.Dense(120, 84)
        self.fc3 = nn.Dense(84, num_classes)

    def construct(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)

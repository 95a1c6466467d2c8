"""The 3D students' image encoders: (C, H, W) float images in [0, 1] -> a feature vector.

    nature: three strided convolutions and a 512-unit layer (the Nature-DQN shape, as CleanRL's Atari and SB3's
            CnnPolicy); the default, and the encoder of every published 3D student.
    impala: IMPALA's residual CNN (Espeholt et al. 2018; the Procgen baselines' and CleanRL's procgen encoder):
            three stages of a 3x3 convolution (16, 32, 32 channels), a 3x3 max-pool of stride 2 and two residual
            blocks, then a 256-unit layer. It learns PutNext's teacher closer offline at about 8x the compute
            (docs/worlds.md, "A deeper encoder").

    build(name, channels, height, width)   # -> (nn.Sequential, number of features)
"""
import torch
import torch.nn as nn

NAMES = ("nature", "impala")


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


def nature(channels):
    return nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
        nn.Flatten(),
    ), 512


def impala(channels, widths=(16, 32, 32)):
    layers = []
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1),
                   ResidualBlock(width), ResidualBlock(width)]
        channels = width
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten()), 256


def build(name, channels, height, width):
    """The encoder `name` for images of (channels, height, width): its layers, ending in a ReLU'd linear layer,
    and its number of output features."""
    if name not in NAMES:
        raise ValueError(f"unknown pixel encoder {name!r}; known: {', '.join(NAMES)}")
    conv, features = {"nature": nature, "impala": impala}[name](channels)
    with torch.no_grad():
        flat = conv(torch.zeros(1, channels, height, width)).shape[1]
    conv.append(nn.Linear(flat, features))
    conv.append(nn.ReLU())
    return conv, features

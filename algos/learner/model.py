"""The student: a CNN over what it sees + MLP actor and critic heads (optional LSTM core). Encoder "grid": three
3x3 convolutions over the (W, H, 4) memory map (the official student); "pixels": a CNN over an (H, W, 3) RGB
image, for the 3D worlds (pixel_encoder: the Nature-DQN shape, as CleanRL's and SB3's CnnPolicy, or IMPALA's
residual CNN; algos/learner/pixel_encoders.py); "grid" with egocentric=True:
the map turned and centred on the agent (algos/learner/egocentric.py), a 3x3 convolution, then its 5x5 cells
around the agent at full resolution beside two more over the max-pooled window (4x coarser at the end). The LSTM
core's output goes to the heads alone (the official) or added to its input features (residual)."""
import torch
import torch.nn as nn
from torch.distributions import Categorical

from algos.learner import pixel_encoders
from algos.learner.egocentric import egocentric as turn_to_agent, window_size


class ActorCritic(nn.Module):
    def __init__(self, obs_shape, n_actions=7, recurrent=False, hidden=64, lstm_size=256, precision="fp32",
                 encoder="grid", lstm_residual=False, egocentric=False, frame_channels=4, pixel_encoder="nature"):
        super().__init__()
        w, h, c = obs_shape
        self.obs_shape, self.n_actions, self.recurrent = tuple(obs_shape), n_actions, recurrent
        # residual core: the heads see the LSTM's output plus the FC features of this step's observation, so the
        # image reaches them even while the LSTM has learnt nothing (docs/worlds.md: the plain core does not fit)
        self.lstm_residual = recurrent and lstm_residual
        # bf16: every forward pass runs under autocast (weights, gradients and the optimizer stay fp32); the outputs
        # are fp32 whatever the precision, so losses, sampling and log-probabilities never see bfloat16
        self.autocast_dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
        self.encoder = encoder
        self.egocentric, self.frame_channels = egocentric and encoder == "grid", frame_channels
        if encoder == "pixels":  # (H, W, 3 x frames) uint8 -> a CNN (algos/learner/pixel_encoders.py) -> features
            self.conv, features = pixel_encoders.build(pixel_encoder, c, w, h)
        elif self.egocentric:
            side = window_size(w, h)
            self.near = nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU())
            self.far = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Flatten())
            features = 16 * 25 + 64 * (side // 2 // 2) ** 2
        else:
            self.conv = nn.Sequential(
                nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                nn.Flatten(),
            )
            features = 64 * w * h
        if recurrent:
            self.fc = nn.Sequential(nn.Linear(features, lstm_size), nn.ReLU())
            self.lstm = nn.LSTM(lstm_size, lstm_size, num_layers=2)
            features = lstm_size
        self.actor = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))
        self.critic = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def initial_state(self, batch, device=None):
        """Zero LSTM state (h, c), each (layers, batch, size); None for the feed-forward student."""
        if not self.recurrent:
            return None
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def features(self, obs):
        # (B, W, H, C) uint8 -> (B, C, W, H) float (pixels: scaled to [0, 1])
        if self.egocentric:
            x = self.near(turn_to_agent(obs, self.frame_channels).permute(0, 3, 1, 2).float())
            r = x.shape[-1] // 2  # the agent's cell
            return torch.cat([x[:, :, r - 2:r + 3, r - 2:r + 3].flatten(1), self.far(x)], dim=1)
        x = obs.permute(0, 3, 1, 2).float()
        return self.conv(x / 255.0 if self.encoder == "pixels" else x)

    def forward(self, obs, state=None, starts=None):
        """obs (B, W, H, C) for one step, or (T, B, W, H, C) sequences when recurrent.
        starts marks steps that begin an episode (state reset before them). Returns logits, value, state (fp32)."""
        if self.autocast_dtype is None:
            return self._forward(obs, state, starts)
        with torch.autocast(obs.device.type, dtype=self.autocast_dtype):
            logits, value, state = self._forward(obs, state, starts)
        state = None if state is None else tuple(s.float() for s in state)
        return logits.float(), value.float(), state

    def _forward(self, obs, state, starts):
        if not self.recurrent:
            x = self.features(obs)
            return self.actor(x), self.critic(x).squeeze(-1), None
        seq = obs.dim() == 5
        if not seq:
            obs = obs.unsqueeze(0)
            starts = None if starts is None else starts.unsqueeze(0)
        t, b = obs.shape[:2]
        x = self.fc(self.features(obs.reshape(t * b, *obs.shape[2:]))).view(t, b, -1)
        if state is None:
            state = self.initial_state(b, obs.device)
        h, c = state
        outs = []
        for i, j in self.segments(starts, t):  # no episode starts inside a segment: the LSTM runs it in one call
            if starts is not None:
                keep = (1.0 - starts[i].float()).view(1, b, 1)
                h, c = h * keep, c * keep
            out, (h, c) = self.lstm(x[i:j], (h, c))
            outs.append(out)
        out = torch.cat(outs)
        x = (out + x if self.lstm_residual else out).view(t * b, -1)
        logits, value = self.actor(x), self.critic(x).squeeze(-1)
        if not seq:
            return logits, value, (h, c)
        return logits.view(t, b, -1), value.view(t, b), (h, c)

    @staticmethod
    def segments(starts, t):
        """[(i, j)]: the steps 0..t cut where any sequence begins an episode (at i > 0), so the state is reset only
        at a segment's first step; one segment when nothing starts (a sequence of one env has one per episode)."""
        if starts is None:
            return [(0, t)]
        cuts = [0] + [int(i) for i in torch.nonzero(starts.reshape(t, -1).any(dim=1)).flatten() if i > 0] + [t]
        return list(zip(cuts[:-1], cuts[1:]))

    @staticmethod
    def distribution(logits):
        return Categorical(logits=logits)

"""PyTorch twin of the HyperNoise models, for timing against the Rust ones on the same GPU.

The same networks as shared/src: the prompt encoder and FiLM U-Net of the one-step generator
g(z, c) = z + v(z, 0, c) (generator/), its LoRA adapters as the noise hypernetwork f(z, c)
(generator/layers.rs, hypernet/), the learned reward r(x, c) (reward/model.rs) and fit's
objective. They load the repository's safetensors files as they are: parameters are named like
the Rust modules' paths, so a file's tensor names are the state_dict's keys, except that burn
stores linear weights (in, out) where torch uses (out, in) (transposed on load) and calls
GroupNorm's affine parameters gamma and beta (torch: weight and bias).
"""

import json
import struct

import torch
import torch.nn.functional as F
from torch import nn

MAX_TOKENS = 12  # token slots per prompt (shared/src/text)
TIME_FREQS = 16  # sinusoidal time features (generator/unet.rs)
GROUP_NORM_EPS = 1e-5  # burn's GroupNorm default, as torch's
GROUP_NORM_NAMES = {"gamma": "weight", "beta": "bias"}  # burn's names -> torch's
DTYPES = {"F32": torch.float32, "F16": torch.float16}  # f16: the browser's copies


class ComposedGroupNorm(nn.GroupNorm):
    """GroupNorm computed op by op as burn 0.22 does (burn-nn's `group_norm`: mean, subtract,
    square, mean, add, sqrt, divide, then the affine), where torch runs one fused kernel each
    way: what that fusion is worth, measured on the twin (`bench.py --group-norm composed`)."""

    def forward(self, x):
        b, c = x.shape[:2]
        h = x.reshape(b, self.num_groups, -1)
        h = h - h.mean(2, keepdim=True)
        h = h / (h.square().mean(2, keepdim=True) + self.eps).sqrt()
        affine = (1, c) + (1,) * (x.dim() - 2)
        return h.reshape(x.shape) * self.weight.reshape(affine) + self.bias.reshape(affine)


# the GroupNorm the models are built with (bench.py swaps in ComposedGroupNorm)
GroupNorm = nn.GroupNorm


def read_safetensors(path):
    """(tensors as f32 by name, metadata) of a safetensors file."""
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        a, b = (8 + n + o for o in info["data_offsets"])
        flat = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[info["dtype"]])
        tensors[name] = flat.reshape(info["shape"]).float()
    return tensors, metadata


def read_model(path, kind):
    """Tensors and architecture config of a HyperNoise weights file of `kind`."""
    tensors, metadata = read_safetensors(path)
    found = metadata.get("hypernoise.kind")
    if found != kind:
        raise ValueError(f"{path} holds a '{found}' model, not a '{kind}'")
    return tensors, json.loads(metadata["hypernoise.config"])


class Lora(nn.Module):
    """A low-rank update's down and up projections (filled on load) and its scale alpha / r."""

    def __init__(self, lora, down, up):
        super().__init__()
        self.down = nn.Parameter(torch.empty(down))
        self.up = nn.Parameter(torch.empty(up))
        self.scale = lora["alpha"] / lora["rank"]


class Dense(nn.Module):
    """Linear layer W x + b with an optional LoRA adapter: + (alpha / r) B A x when `hyper`."""

    def __init__(self, d_in, d_out, lora=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.bias = nn.Parameter(torch.empty(d_out))
        self.lora = None if lora is None else Lora(lora, (lora["rank"], d_in), (d_out, lora["rank"]))

    def forward(self, x, hyper=False):
        y = F.linear(x, self.weight, self.bias)
        if hyper and self.lora is not None:
            y = y + F.linear(F.linear(x, self.lora.down), self.lora.up) * self.lora.scale
        return y


class Conv(nn.Module):
    """Square convolution with "same" padding (before striding) and an optional LoRA adapter,
    applied as one convolution whose kernel adds scale * up @ down (the Rust model's form)."""

    def __init__(self, cin, cout, kernel, stride=1, lora=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.empty(cout))
        self.stride, self.padding = stride, kernel // 2
        self.lora = None if lora is None else Lora(lora, (lora["rank"], cin, kernel, kernel), (cout, lora["rank"], 1, 1))

    def delta(self):
        up, down = self.lora.up.flatten(1), self.lora.down.flatten(1)
        return (up @ down * self.lora.scale).view_as(self.weight)

    def forward(self, x, hyper=False):
        weight = self.weight + self.delta() if hyper and self.lora is not None else self.weight
        return F.conv2d(x, weight, self.bias, self.stride, self.padding)

    def forward_output(self, x, hyper=False):
        """The U-Net's output layer: the hypernetwork's output is its LoRA branch alone."""
        if not hyper:
            return self.forward(x)
        if self.lora is None:
            raise ValueError("the noise hypernetwork needs adapters")
        return F.conv2d(x, self.delta(), None, self.stride, self.padding)


class PromptEncoder(nn.Module):
    """Token + position embeddings, flattened (word order carries meaning), then an MLP."""

    def __init__(self, vocab, token_dim, out_dim, lora=None):
        super().__init__()
        self.tokens = nn.Embedding(vocab, token_dim)
        self.positions = nn.Parameter(torch.empty(MAX_TOKENS, token_dim))
        self.fc1 = Dense(MAX_TOKENS * token_dim, out_dim, lora)
        self.fc2 = Dense(out_dim, out_dim, lora)

    def forward(self, tokens, hyper=False):
        e = self.tokens(tokens) + self.positions
        return self.fc2(F.silu(self.fc1(e.flatten(1), hyper)), hyper)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t in [0, 1] (frequencies 1 .. 1000, geometric), then an MLP."""

    def __init__(self, emb_dim, lora=None):
        super().__init__()
        freqs = 1000.0 ** (torch.arange(TIME_FREQS, dtype=torch.float32) / (TIME_FREQS - 1))
        self.register_buffer("freqs", freqs, persistent=False)
        self.fc1 = Dense(2 * TIME_FREQS, emb_dim, lora)
        self.fc2 = Dense(emb_dim, emb_dim, lora)

    def forward(self, t, hyper=False):
        arg = t[:, None] * self.freqs
        return self.fc2(F.silu(self.fc1(torch.cat([arg.sin(), arg.cos()], 1), hyper)), hyper)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv; FiLM (scale, shift) from the embedding; again; residual."""

    def __init__(self, cin, cout, emb_dim, groups, lora=None):
        super().__init__()
        self.norm1 = GroupNorm(groups, cin, eps=GROUP_NORM_EPS)
        self.conv1 = Conv(cin, cout, 3, lora=lora)
        self.film = Dense(emb_dim, 2 * cout, lora)
        self.norm2 = GroupNorm(groups, cout, eps=GROUP_NORM_EPS)
        self.conv2 = Conv(cout, cout, 3, lora=lora)
        self.skip = Conv(cin, cout, 1, lora=lora) if cin != cout else None

    def forward(self, x, emb, hyper=False):
        h = self.conv1(F.silu(self.norm1(x)), hyper)
        scale, shift = self.film(F.silu(emb), hyper)[:, :, None, None].chunk(2, 1)
        h = self.conv2(F.silu(self.norm2(h) * (scale + 1) + shift), hyper)
        return h + (x if self.skip is None else self.skip(x, hyper))


class UNet(nn.Module):
    """Levels at resolution / 2^l with `channels[l]` channels; skips concatenated on the way up."""

    def __init__(self, config, lora=None):
        super().__init__()
        ch, emb, groups = config["channels"], config["emb_dim"], config["groups"]
        levels = len(ch)
        self.stem = Conv(3, ch[0], 3, lora=lora)
        self.down = nn.ModuleList(ResBlock(k, k, emb, groups, lora) for k in ch)
        self.downsample = nn.ModuleList(Conv(ch[l], ch[l + 1], 3, 2, lora) for l in range(levels - 1))
        self.mid = ResBlock(ch[-1], ch[-1], emb, groups, lora)
        self.upsample = nn.ModuleList(Conv(ch[l], ch[l - 1], 3, lora=lora) for l in range(1, levels))
        self.up = nn.ModuleList(ResBlock(2 * k, k, emb, groups, lora) for k in ch)
        self.out_norm = GroupNorm(groups, ch[0], eps=GROUP_NORM_EPS)
        self.out = Conv(ch[0], 3, 3, lora=lora)

    def forward(self, x, emb, hyper=False):
        levels = len(self.down)
        h = self.stem(x, hyper)
        skips = []
        for l in range(levels):
            h = self.down[l](h, emb, hyper)
            skips.append(h)
            if l + 1 < levels:
                h = self.downsample[l](h, hyper)
        h = self.mid(h, emb, hyper)
        for l in reversed(range(levels)):
            h = self.up[l](torch.cat([h, skips[l]], 1), emb, hyper)
            if l > 0:
                h = self.upsample[l - 1](F.interpolate(h, scale_factor=2, mode="nearest"), hyper)
        return self.out.forward_output(F.silu(self.out_norm(h)), hyper)


class Generator(nn.Module):
    """The one-step generator g and, with adapters (`lora` = {"rank", "alpha"}), the noise
    hypernetwork f: the adapted network at t = 0 on the adapted prompt encoding, whose output
    layer gives only its LoRA branch (Rust's `Adapters::Hypernetwork`; `hyper=False` is
    `Adapters::Off`, the frozen generator)."""

    def __init__(self, config, vocab, lora=None):
        super().__init__()
        self.prompt = PromptEncoder(vocab, config["token_dim"], config["emb_dim"], lora)
        self.time = TimeEmbedding(config["emb_dim"], lora)
        self.unet = UNet(config, lora)

    def velocity(self, x, t, cond, hyper=False):
        return self.unet(x, cond + self.time(t, hyper), hyper)

    def one_step(self, z, tokens):
        """g(z, c) = z + v(z, 0, c): images in [-1, 1], unclamped."""
        return z + self.velocity(z, z.new_zeros(z.shape[0]), self.prompt(tokens))

    def noise_offset(self, z, tokens):
        """f(z, c)."""
        return self.velocity(z, z.new_zeros(z.shape[0]), self.prompt(tokens, True), True)


class RewardModel(nn.Module):
    """Strided CNN to a small grid of features, a prompt encoder, an MLP over
    [image, prompt, image * prompt]: one score per image."""

    def __init__(self, config, vocab):
        super().__init__()
        ch, emb = config["channels"], config["emb_dim"]
        grid = config["resolution"] >> len(ch)
        self.prompt = PromptEncoder(vocab, config["token_dim"], emb)
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, stride=2, padding=1) for i, o in zip([3] + ch, ch))
        self.norms = nn.ModuleList(GroupNorm(config["groups"], c, eps=GROUP_NORM_EPS) for c in ch)
        self.image = Dense(ch[-1] * grid * grid, emb)
        self.head1 = Dense(3 * emb, emb)
        self.head2 = Dense(emb, 1)

    def forward(self, x, tokens):
        for conv, norm in zip(self.convs, self.norms):
            x = F.silu(norm(conv(x)))
        i, t = self.image(x.flatten(1)), self.prompt(tokens)
        return self.head2(F.silu(self.head1(torch.cat([i, t, i * t], 1)))).squeeze(1)


def load_state(module, tensors):
    """Fills `module` from tensors named as in the Rust files; every parameter must be there
    and nothing else may be."""
    linear = {f"{p}.{n}" for p, m in module.named_modules() if isinstance(m, Dense) for n, w in m.named_parameters() if w.dim() == 2}
    state = {}
    for name, t in tensors.items():
        prefix, _, last = name.rpartition(".")
        name = f"{prefix}.{GROUP_NORM_NAMES.get(last, last)}"
        state[name] = t.T if name in linear else t
    module.load_state_dict(state, strict=True)
    return module


def load_generator(generator_path, adapters_path=None):
    """The generator, with the noise hypernetwork's adapters when `adapters_path` is given."""
    tensors, config = read_model(generator_path, "generator")
    lora = None
    if adapters_path is not None:
        adapters, adapter_config = read_model(adapters_path, "adapters")
        if adapter_config["role"] != "NoiseHypernetwork":
            raise ValueError(f"{adapters_path} holds {adapter_config['role']} adapters, not a noise hypernetwork")
        if adapter_config["generator"] != config:
            raise ValueError(f"{adapters_path} was trained on another generator architecture")
        lora = adapter_config["lora"]
        tensors = {**tensors, **adapters}
    vocab = tensors["prompt.tokens.weight"].shape[0]
    return load_state(Generator(config, vocab, lora), tensors)


def load_reward(path):
    tensors, config = read_model(path, "reward")
    return load_state(RewardModel(config, tensors["prompt.tokens.weight"].shape[0]), tensors)


def objective_terms(generator, reward, z, tokens):
    """Per image: 1/2 ||f(z, c)||^2 (summed over the noise elements) and r(g(z + f, c), c)."""
    f = generator.noise_offset(z, tokens)
    reg = f.flatten(1).square().sum(1) / 2
    return reg, reward(generator.one_step(z + f, tokens), tokens)


def batch_loss(reg, reward, reg_weight):
    """fit's loss: the batch mean of reg_weight * 1/2 ||f||^2 - r."""
    return (reg * reg_weight - reward).mean()

"""A small causal transformer language model in the style of nanoGPT (Karpathy), written for this toolkit.

Pre-LayerNorm blocks of causal self-attention (PyTorch's fused
``scaled_dot_product_attention``) and a GELU MLP, learned position
embeddings, the output layer tied to the token embedding. Initialised from
a ``torch.Generator`` (normal, std 0.02; residual projections scaled by
1/sqrt(2 * n_layer), as in GPT-2), never from the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Interval

KeyValue = tuple[torch.Tensor, torch.Tensor]


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def attend(self, x: torch.Tensor, past: KeyValue | None = None) -> tuple[torch.Tensor, KeyValue]:
        """Attention output and this input's keys/values; with ``past`` (keys/values of one shared prefix), attends to it too."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            past_k, past_v = past
            p = past_k.shape[2]
            keys = torch.cat([past_k.expand(b, -1, -1, -1), k], dim=2)
            values = torch.cat([past_v.expand(b, -1, -1, -1), v], dim=2)
            # every prefix position, then causal among the new positions
            mask = torch.cat([torch.ones(t, p, dtype=torch.bool), torch.ones(t, t, dtype=torch.bool).tril()], dim=1)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        out: torch.Tensor = self.proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return out, (k, v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x)[0]


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.proj = nn.Linear(4 * d_model, d_model)

    def step(self, x: torch.Tensor, past: KeyValue | None = None) -> tuple[torch.Tensor, KeyValue]:
        attended, key_value = self.attn.attend(self.ln1(x), past)
        x = x + attended
        out: torch.Tensor = x + self.proj(F.gelu(self.fc(self.ln2(x))))
        return out, key_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)[0]


class CausalLM(nn.Module):
    """``forward(ids (B, T)) -> logits (B, T, vocab)``; T at most ``context``."""

    def __init__(self, vocab_size: int, context: int, d_model: int, n_head: int, n_layer: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.context = context
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_head) for _ in range(n_layer))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.token.weight  # tied, as in GPT-2

    def layers(self) -> list[Block]:
        return [cast(Block, block) for block in self.blocks]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.context:
            raise InvalidParameterError(f"sequence length {t} exceeds the model's context {self.context}")
        x = self.token(ids) + self.position(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.head(self.ln(x))
        return logits

    def prefix_state(self, prefix: torch.Tensor) -> tuple[torch.Tensor, list[KeyValue]]:
        """For one prefix (P,): the logits at its last position (vocab,) and every layer's keys/values."""
        x = self.token(prefix[None]) + self.position(torch.arange(len(prefix)))
        cache = []
        for block in self.layers():
            x, key_value = block.step(x)
            cache.append(key_value)
        last: torch.Tensor = self.head(self.ln(x[0, -1]))
        return last, cache

    def continue_from(self, cache: list[KeyValue], ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) of ``ids`` (B, T) following the cached prefix; equals ``forward`` on prefix + ids at those positions.

        Scoring many continuations of one prefix this way computes the prefix once.
        """
        p, t = cache[0][0].shape[2], ids.shape[1]
        if p + t > self.context:
            raise InvalidParameterError(f"prefix ({p}) plus continuation ({t}) exceed the model's context {self.context}")
        x = self.token(ids) + self.position(torch.arange(p, p + t))
        for block, past in zip(self.layers(), cache, strict=True):
            x, _ = block.step(x, past)
        logits: torch.Tensor = self.head(self.ln(x))
        return logits


def init_gpt(model: CausalLM, generator: torch.Generator) -> None:
    """GPT-2 initialisation drawn from ``generator``."""
    residual_std = 0.02 / math.sqrt(2 * len(model.blocks))
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                std = residual_std if name.endswith(".proj") else 0.02
                if module is not model.head:  # tied to the token embedding, initialised there
                    nn.init.normal_(module.weight, 0.0, std, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02, generator=generator)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


class TinyGPT(Configurable):
    """Builds a :class:`CausalLM`: ``n_layer`` blocks of width ``d_model`` with ``n_head`` heads over ``context`` tokens.

    Defaults (2 layers, d_model 128, 4 heads, context 128; about 0.43 M
    parameters with a 256-byte vocabulary) train at tens of thousands of
    tokens per second on one CPU core, so a model fits in minutes.
    """

    description: ClassVar[str] = "small causal transformer language model (nanoGPT style)"
    parameter_constraints = {
        "n_layer": Interval(int, 1, 48),
        "d_model": Interval(int, 8, 4096),
        "n_head": Interval(int, 1, 64),
        "context": Interval(int, 2, 8192),
    }

    def __init__(self, *, n_layer: int = 2, d_model: int = 128, n_head: int = 4, context: int = 128) -> None:
        self.n_layer = n_layer
        self.d_model = d_model
        self.n_head = n_head
        self.context = context

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["d_model"] % params["n_head"]:
            return [f"d_model ({params['d_model']}) must be a multiple of n_head ({params['n_head']})"]
        return []

    def build(self, vocab_size: int, generator: torch.Generator) -> CausalLM:
        self.validate_params()
        model = CausalLM(vocab_size, self.context, self.d_model, self.n_head, self.n_layer)
        init_gpt(model, generator)
        return model

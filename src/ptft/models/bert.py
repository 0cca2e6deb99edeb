"""BERT: the post-LayerNorm transformer encoder of Devlin et al. 2019, laid out to take Hugging Face weights.

"BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding" (Devlin et al. 2019),
itself the encoder of Vaswani et al. 2017 with LayerNorm *after* each residual add. It exists so a
pre-trained BERT-family checkpoint (BERT, MiniLM, ...) imported by `ptft.models.hf.load_hf_folder` can be
fine-tuned; ptft's own text encoder (`transformer`) is pre-norm and does not fit those weights.

Inputs are right-padded (B, T) token ids; columns that are padding in every row are dropped first
(`trim_padding`), and `padding()` returns the matching mask. Every token has token type 0 (one segment).
q, k and v are separate linears, one per Hugging Face tensor, so import is a renaming, not a reshaping.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ptft.models.activations import ACTIVATIONS as PTFT_ACTIVATIONS
from ptft.models.attention import attention
from ptft.models.base import ENCODERS, Encoder, trim_padding

# ptft's activations plus the Hugging Face `hidden_act` names. HF's "gelu" is the exact erf form, as is
# ptft's; "gelu_new" and "gelu_pytorch_tanh" are the tanh approximation (Hendrycks & Gimpel 2016).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    **{name: PTFT_ACTIVATIONS.get(name) for name in PTFT_ACTIVATIONS.names()},
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
}


class BertLayer(nn.Module):
    """x -> LN(x + Attn(x)) -> LN(. + FFN(.)): one post-norm encoder layer."""

    def __init__(
        self, dim: int, heads: int, intermediate: int, activation: str, dropout: float, layer_norm_eps: float
    ) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attention_output = nn.Linear(dim, dim)
        self.attention_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.intermediate = nn.Linear(dim, intermediate)
        self.activation = ACTIVATIONS[activation]()
        self.output = nn.Linear(intermediate, dim)
        self.output_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        drop = self.dropout if self.training else 0.0

        def split(linear: nn.Linear) -> torch.Tensor:  # (B, T, D) -> (B, nh, T, hs)
            return linear(x).view(B, T, self.heads, D // self.heads).transpose(1, 2)

        y = attention(split(self.query), split(self.key), split(self.value), attn_mask, drop)  # (B, nh, T, hs)
        y = self.attention_output(y.transpose(1, 2).reshape(B, T, D))
        x = self.attention_norm(x + F.dropout(y, drop, self.training))
        y = self.output(self.activation(self.intermediate(x)))
        return self.output_norm(x + F.dropout(y, drop, self.training))


@ENCODERS.register("bert")
class BertEncoder(Encoder):
    """Word + position + token-type(0) embeddings -> LayerNorm -> dropout -> `depth` post-norm layers.

    `dropout` serves both BERT's hidden and attention-probability dropouts. `.blocks` are the layers
    (the embeddings are not a block); `.token_embedding` is the word embedding a masked-LM head may tie to.
    """

    modality = "text"

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        depth: int,
        heads: int,
        intermediate: int,
        max_positions: int,
        type_vocab_size: int,
        layer_norm_eps: float,
        pad_id: int,
        activation: str = "gelu",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not supported; use one of: {', '.join(ACTIVATIONS)}")
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if vocab_size < 2 or not 0 <= pad_id < vocab_size:
            raise ValueError(f"vocab_size {vocab_size} with pad_id {pad_id} is not a vocabulary")
        if type_vocab_size < 1 or max_positions < 1:
            raise ValueError(f"type_vocab_size {type_vocab_size} and max_positions {max_positions} must be >= 1")
        self.dim, self.pad_id, self.max_positions = dim, pad_id, max_positions
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(max_positions, dim)
        self.token_type_embedding = nn.Embedding(type_vocab_size, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            BertLayer(dim, heads, intermediate, activation, dropout, layer_norm_eps) for _ in range(depth)
        )
        for module in self.modules():  # BERT's initialisation (initializer_range 0.02), for training from scratch
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def _trimmed(self, x: torch.Tensor, pad_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The one place forward and padding derive and trim the mask, so the two always agree."""
        if x.dtype.is_floating_point or x.ndim != 2:
            raise ValueError(f"the bert encoder reads (B, T) integer token ids, got {x.dtype} {tuple(x.shape)}")
        return trim_padding(x, x == self.pad_id if pad_mask is None else pad_mask)

    def padding(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._trimmed(x, pad_mask)[1]

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        ids, pad_mask = self._trimmed(x, pad_mask)
        T = ids.shape[1]
        if T > self.max_positions:
            raise ValueError(
                f"sequence of {T} tokens is longer than the bert encoder's max_positions {self.max_positions}; "
                f"tokenize with max_length <= {self.max_positions}"
            )
        positions = torch.arange(T, device=ids.device)
        tokens = self.token_embedding(ids) + self.position_embedding(positions) + self.token_type_embedding.weight[0]
        h = self.dropout(self.embedding_norm(tokens))  # (B, T, D)
        # SDPA's boolean mask is True = attend. A row with nothing to attend to (all padding) would give NaN;
        # it attends to everything instead, and its output is padding that every consumer ignores.
        attend = ~pad_mask
        attend = attend | ~attend.any(dim=1, keepdim=True)
        attn_mask = attend[:, None, None, :]  # (B, 1, 1, T)
        for block in self.blocks:
            h = block(h, attn_mask)
        return h

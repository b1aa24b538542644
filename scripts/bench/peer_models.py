"""The graphs `npm run bench:peers` runs in every system, with the same seeded weights for all of them.

Run with Debian's Python (torch, numpy; no `onnx` package needed: torch's TorchScript exporter writes the
protobuf itself):

    /usr/bin/python3 scripts/bench/peer_models.py [--out bench/generated] [--models b32,l14] [--ops] [--location]

Writes under --out (gitignored, made on demand and kept: L/14 is 1.2 GB):
  vit-b32/  vit-l14/    CLIP ViT (B/32 or L/14 shapes, 224 px, quick_gelu) + GeoCLIP's image MLP (768 → 768 →
                        512, ReLU) + L2 normalize, one image:
      model.onnx            pixels [1, 3, 224, 224] → embedding [1, 512]
      model.safetensors     the same weights under HF CLIP names (vision_model.*, visual_projection.weight) and
                            GeoCLIP's MLP names (image_mlp.0.weight ... image_mlp.2.bias)
      config.json           the HF CLIPVisionConfig (projection_dim 768 in both, so the MLP fits)
      expected.safetensors  pixels and torch's embedding for them (float32 forward)
  ops/                  one-op graphs for the kernel suites:
      matmul-M-K-N.onnx     x [M, K] · w [K, N] (w an initializer) → [M, N]
      attention-H-S.onnx    com.microsoft MultiHeadAttention, q, k, v [1, S, 64·H] → [1, S, 64·H]
      search-D-K.onnx       queries [Q, D] · galleryᵀ, gallery [N, D] an input → TopK(K) values and indices
  location/             GeoCLIP's location encoder (seeded, released widths) + L2 normalize:
      model.onnx            gps [N, 2] degrees → [N, 512];  model.safetensors  LocEnc{i}.* state_dict names

A folder whose files all exist is left alone, so a second run costs nothing.
"""
import argparse
import json
import math
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from clip_common import encoder_layer, encoder_weights, head_weights, vision_embedding_weights  # noqa: E402
from geoclip_common import A1, A2, A3, A4, SF, LocationEncoder  # noqa: E402
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OPSET = 17

MODELS = {
    "b32": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
            "patch_size": 32},
    "l14": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
            "patch_size": 14},
}
COMMON = {"num_channels": 3, "image_size": 224, "projection_dim": 768, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}

# ViT GEMM shapes (M × K × N): qkv, fc1, fc2 of one layer, B/32 (50 tokens) and L/14 (257 tokens).
MATMULS = [(50, 768, 2304), (50, 768, 3072), (50, 3072, 768), (257, 1024, 3072), (257, 1024, 4096), (257, 4096, 1024)]
ATTENTIONS = [(12, 50), (16, 257)]  # (heads, seq), head dim 64
SEARCH_DIM, SEARCH_K = 512, 5


def seeded(seed):
    g = torch.Generator().manual_seed(seed)
    return lambda *shape, std: torch.randn(*shape, generator=g) * std


def vision_weights(config, seed):
    """f32 weights scaled by 1/sqrt(fan-in) (activations stay O(1) through 24 layers), drawn in a fixed order."""
    normal = seeded(seed)
    w = vision_embedding_weights(normal, config)
    w.update(encoder_weights(normal, "vision_model", config))
    w.update(head_weights(normal, "vision_model.post_layernorm", "visual_projection.weight", config))
    w["image_mlp.0.weight"] = normal(768, 768, std=1 / math.sqrt(768))
    w["image_mlp.0.bias"] = normal(768, std=0.1)
    w["image_mlp.2.weight"] = normal(512, 768, std=1 / math.sqrt(768))
    w["image_mlp.2.bias"] = normal(512, std=0.1)
    return w


class ImageEmbedding(nn.Module):
    """CLIPVisionModelWithProjection.get_image_features → GeoCLIP image MLP → L2 normalize (what geolens'
    ClipVisionModel.imageFeatures + GeoClip.imageEmbeddings compute)."""

    def __init__(self, weights, config):
        super().__init__()
        self.config = config
        self.names = list(weights)
        for i, name in enumerate(self.names):
            self.register_buffer(f"w{i}", weights[name])

    def forward(self, pixels):
        F = nn.functional
        w = {name: getattr(self, f"w{i}") for i, name in enumerate(self.names)}
        c = self.config
        d, p, eps = c["hidden_size"], c["patch_size"], c["layer_norm_eps"]
        patches = F.conv2d(pixels, w["vision_model.embeddings.patch_embedding.weight"], stride=p).flatten(2).transpose(1, 2)
        cls = w["vision_model.embeddings.class_embedding"].reshape(1, 1, d).expand(pixels.shape[0], 1, d)
        h = torch.cat([cls, patches], dim=1) + w["vision_model.embeddings.position_embedding.weight"]
        norm = lambda x, name: F.layer_norm(x, (d,), w[name + ".weight"], w[name + ".bias"], eps)  # noqa: E731
        h = norm(h, "vision_model.pre_layrnorm")
        for i in range(c["num_hidden_layers"]):
            h = encoder_layer(w, f"vision_model.encoder.layers.{i}.", h, c)
        features = F.linear(norm(h[:, 0, :], "vision_model.post_layernorm"), w["visual_projection.weight"])
        hidden = F.relu(F.linear(features, w["image_mlp.0.weight"], w["image_mlp.0.bias"]))
        return F.normalize(F.linear(hidden, w["image_mlp.2.weight"], w["image_mlp.2.bias"]), dim=-1)


def export(module, inputs, path, input_names, output_names, dynamic=None):
    with torch.no_grad():
        torch.onnx.export(module, inputs, path, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic, do_constant_folding=True)


def done(folder, names):
    return all(os.path.exists(os.path.join(folder, n)) for n in names)


def write_vit(out, key):
    folder = os.path.join(out, f"vit-{key}")
    files = ["model.onnx", "model.safetensors", "config.json", "expected.safetensors"]
    if done(folder, files):
        print(f"{os.path.relpath(folder, ROOT)}: present")
        return
    os.makedirs(folder, exist_ok=True)
    config = {**MODELS[key], **COMMON}
    weights = vision_weights(config, seed=11 if key == "b32" else 14)
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    model = ImageEmbedding(weights, config).eval()
    with torch.no_grad():
        embedding = model(pixels)
    save_file({"pixels": pixels, "embedding": embedding}, os.path.join(folder, "expected.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    save_file(weights, os.path.join(folder, "model.safetensors"))
    # Written last: a folder with model.onnx is complete.
    export(model, (pixels,), os.path.join(folder, "model.onnx"), ["pixels"], ["embedding"])
    print(f"{os.path.relpath(folder, ROOT)}: embedding[0] {embedding[0, 0].item():.6f}")


class MatMul(nn.Module):
    def __init__(self, k, n, seed):
        super().__init__()
        self.register_buffer("w", seeded(seed)(k, n, std=1 / math.sqrt(k)))

    def forward(self, x):
        return x @ self.w


class MultiHeadAttention(torch.autograd.Function):
    """Exports as one com.microsoft MultiHeadAttention node (the fused kernel ORT's EPs run)."""

    @staticmethod
    def forward(ctx, q, k, v, heads):
        b, s, d = q.shape
        split = lambda t: t.view(b, s, heads, d // heads).transpose(1, 2)  # noqa: E731
        p = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
        return (p @ split(v)).transpose(1, 2).reshape(b, s, d)

    @staticmethod
    def symbolic(g, q, k, v, heads):
        return g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads)


class Attention(nn.Module):
    def __init__(self, heads):
        super().__init__()
        self.heads = heads

    def forward(self, q, k, v):
        return MultiHeadAttention.apply(q, k, v, self.heads)


class Search(nn.Module):
    def forward(self, queries, gallery):
        return torch.topk(queries @ gallery.T, SEARCH_K, dim=-1)


def write_ops(out):
    folder = os.path.join(out, "ops")
    os.makedirs(folder, exist_ok=True)
    for i, (m, k, n) in enumerate(MATMULS):
        path = os.path.join(folder, f"matmul-{m}-{k}-{n}.onnx")
        if not os.path.exists(path):
            export(MatMul(k, n, 100 + i), (torch.zeros(m, k),), path, ["x"], ["y"])
    for heads, seq in ATTENTIONS:
        path = os.path.join(folder, f"attention-{heads}-{seq}.onnx")
        if not os.path.exists(path):
            q = torch.zeros(1, seq, 64 * heads)
            export(Attention(heads), (q, q, q), path, ["q", "k", "v"], ["out"])
    path = os.path.join(folder, f"search-{SEARCH_DIM}-{SEARCH_K}.onnx")
    if not os.path.exists(path):
        export(Search(), (torch.zeros(2, SEARCH_DIM), torch.zeros(16, SEARCH_DIM)), path, ["queries", "gallery"],
               ["scores", "indices"], {"queries": {0: "Q"}, "gallery": {0: "N"}})
    print(f"{os.path.relpath(folder, ROOT)}: {len(os.listdir(folder))} graphs")


class LocationEmbedding(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, gps):
        # geoclip_common's projection with deg2rad (no ONNX export) written as a product.
        radians = gps * (math.pi / 180)
        theta = torch.asin(math.sqrt(3) / 2 * torch.sin(radians[:, 0]))
        denominator = 3 * (9 * A4 * theta**8 + 7 * A3 * theta**6 + 3 * A2 * theta**2 + A1)
        x = 2 * math.sqrt(3) * radians[:, 1] * torch.cos(theta) / denominator
        y = A4 * theta**9 + A3 * theta**7 + A2 * theta**3 + A1 * theta
        projected = torch.stack((x, y), dim=1) * SF / 180
        total = sum(self.encoder._modules[f"LocEnc{i}"](projected) for i in range(self.encoder.n))
        return nn.functional.normalize(total, dim=-1)


def write_location(out):
    folder = os.path.join(out, "location")
    if done(folder, ["model.onnx", "model.safetensors"]):
        print(f"{os.path.relpath(folder, ROOT)}: present")
        return
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(21)
    encoder = LocationEncoder().eval()
    save_file(dict(encoder.state_dict()), os.path.join(folder, "model.safetensors"))
    export(LocationEmbedding(encoder), (torch.zeros(4, 2),), os.path.join(folder, "model.onnx"), ["gps"], ["embedding"],
           {"gps": {0: "N"}, "embedding": {0: "N"}})
    print(f"{os.path.relpath(folder, ROOT)}: written")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "generated"))
    parser.add_argument("--models", default="b32,l14")
    parser.add_argument("--ops", action="store_true")
    parser.add_argument("--location", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for key in [m for m in args.models.split(",") if m]:
        if key not in MODELS:
            sys.exit(f"peer_models.py: unknown model {key!r}; known: {', '.join(MODELS)}")
        write_vit(args.out, key)
    if args.ops:
        write_ops(args.out)
    if args.location:
        write_location(args.out)

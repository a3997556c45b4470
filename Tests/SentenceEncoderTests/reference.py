"""The reference the Swift sentence encoder is checked against, from the same files.

    python3 reference.py <model directory> <sentences.json> <output.json>

Token ids come from Hugging Face's `tokenizers` (its BertWordPieceTokenizer over vocab.txt:
the pipeline all-MiniLM-L6-v2's tokenizer.json names), without truncation. Vectors come from a
BERT forward pass written here in numpy from model.safetensors (float64, to be the exact side),
truncated at 256 tokens as sentence-transformers does, mean-pooled over the tokens and
normalized. Writes {"ids": [[...]], "vectors": [[...]]}."""
import json
import struct
import sys

import numpy as np
from tokenizers import BertWordPieceTokenizer


def load(path, dtype=np.float64):
    with open(path, "rb") as file:
        length = struct.unpack("<Q", file.read(8))[0]
        header = json.loads(file.read(length))
        data = file.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"]).astype(dtype)
        if name.endswith(".weight") and len(entry["shape"]) == 2:
            tensors[name + ".T"] = np.ascontiguousarray(tensors[name].T)
    return tensors


def layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * gamma + beta


def erf(x):
    # Abramowitz and Stegun 7.1.26: absolute error under 1.5e-7, below float32's resolution of
    # the activations it feeds.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1 / (1 + 0.3275911 * x)
    y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return sign * y


def gelu(x):
    # In blocks of rows, so the temporaries stay in the cache.
    out = np.empty_like(x)
    for begin in range(0, len(x), 512):
        block = x[begin:begin + 512]
        out[begin:begin + 512] = 0.5 * block * (1 + erf(block / np.sqrt(2)))
    return out


def encode(w, sequences):
    """Unit-length mean-pooled vectors of `sequences` (token id lists). The dense layers run on
    all tokens at once; attention within each sequence."""
    sequences = [sequence[:256] for sequence in sequences]
    bounds = np.cumsum([0] + [len(sequence) for sequence in sequences])
    positions = np.concatenate([np.arange(len(sequence)) for sequence in sequences])
    x = w["embeddings.word_embeddings.weight"][np.concatenate(sequences)] + w["embeddings.position_embeddings.weight"][positions] + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        def linear(name, value):
            return value @ w[p + name + ".weight.T"] + w[p + name + ".bias"]
        q, k, v = (linear(f"attention.self.{n}", x) for n in ("query", "key", "value"))
        context = np.empty_like(x)
        for begin, end in zip(bounds[:-1], bounds[1:]):
            heads = [m[begin:end].reshape(end - begin, 12, 32).transpose(1, 0, 2) for m in (q, k, v)]
            scores = heads[0] @ heads[1].transpose(0, 2, 1) / np.sqrt(32)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context[begin:end] = (scores @ heads[2]).transpose(1, 0, 2).reshape(end - begin, 384)
        x = layer_norm(x + linear("attention.output.dense", context), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        x = layer_norm(x + linear("output.dense", gelu(linear("intermediate.dense", x))), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    pooled = np.stack([x[begin:end].mean(0) for begin, end in zip(bounds[:-1], bounds[1:])])
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main():
    directory, sentences_path, output_path = sys.argv[1:]
    sentences = json.load(open(sentences_path, encoding="utf-8"))
    tokenizer = BertWordPieceTokenizer(f"{directory}/vocab.txt", clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(sentences)
    weights = load(f"{directory}/model.safetensors")
    ids = [encoding.ids for encoding in encodings]
    vectors = encode(weights, ids).tolist() if ids else []
    json.dump({"ids": ids, "vectors": vectors}, open(output_path, "w"))


if __name__ == "__main__":
    main()

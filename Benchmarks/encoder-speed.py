"""The built-in sentence encoder's speed and memory, side by side with the numpy reference
(Tests/SentenceEncoderTests/reference.py in float32, numpy's BLAS on every core) in one run.

    swift build -c release -Xswiftc -enable-testing --product EncoderBenchmark
    python3 Benchmarks/encoder-speed.py [--rounds 5]

Texts: 1,000 sentences of exactly 16 tokens and 200 queries of exactly 32 tokens (with [CLS]
and [SEP]), drawn with a fixed seed from the words of Tests/SentenceEncoderTests/sentences.txt.
Measured, as the median of the rounds: sentences per second in batches of 64 on 2 threads (and
on 1), milliseconds per query encoded alone on 1 thread, and the resident memory of the Swift
process after encoding. Prints a Markdown table with the ratios (ours / reference)."""
import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "SentenceEncoderTests"))
import numpy as np  # noqa: E402
import reference  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402


def texts_of(tokenizer, words, count, tokens, seed):
    """`count` texts of exactly `tokens` tokens, words drawn with `seed`."""
    rng = random.Random(seed)
    texts = []
    while len(texts) < count:
        chosen = []
        while True:
            chosen.append(rng.choice(words))
            length = len(tokenizer.encode(" ".join(chosen)).ids)
            if length == tokens:
                texts.append(" ".join(chosen))
                break
            if length > tokens:
                break
    return texts


def swift(binary, model, texts, threads, batch, rounds):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(texts, file)
    try:
        output = subprocess.run([binary, model, file.name, str(threads), str(batch), str(rounds)], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(file.name)
    return json.loads(output)


def numpy_seconds(weights, tokenizer, texts, batch, rounds):
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for index in range(0, len(texts), batch):
            ids = [encoding.ids for encoding in tokenizer.encode_batch(texts[index:index + batch])]
            reference.encode(weights, ids)
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=None, help="EncoderBenchmark (default: the release build's)")
    parser.add_argument("--model", default=os.path.join(ROOT, ".build/models/all-MiniLM-L6-v2"))
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    binary = options.binary or os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                                           capture_output=True, text=True).stdout.strip(), "EncoderBenchmark")
    tokenizer = BertWordPieceTokenizer(os.path.join(options.model, "vocab.txt"), lowercase=True)
    tokenizer.no_truncation()
    words = sorted({word for line in open(os.path.join(ROOT, "Tests/SentenceEncoderTests/sentences.txt"), encoding="utf-8")
                    for word in line.split() if word.isascii() and word.isalpha()})
    sentences = texts_of(tokenizer, words, 1000, 16, seed=16)
    queries = texts_of(tokenizer, words, 200, 32, seed=32)

    rows = []
    ours2 = swift(binary, options.model, sentences, 2, 64, options.rounds)
    ours1 = swift(binary, options.model, sentences, 1, 64, options.rounds)
    ours_query = swift(binary, options.model, queries, 1, 1, options.rounds)
    weights = reference.load(os.path.join(options.model, "model.safetensors"), dtype=np.float32)
    theirs_batch = numpy_seconds(weights, tokenizer, sentences, 64, options.rounds)
    theirs_query = numpy_seconds(weights, tokenizer, queries, 1, options.rounds)
    numpy_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def rate(seconds, count):
        return count / statistics.median(seconds)

    def per_query_ms(seconds, count):
        return statistics.median(seconds) / count * 1000

    rows.append(("16-token sentences per second, batches of 64, 2 threads (numpy: its BLAS threads)",
                 rate(ours2["seconds"], len(sentences)), rate(theirs_batch, len(sentences)), "/s"))
    rows.append(("16-token sentences per second, batches of 64, 1 thread", rate(ours1["seconds"], len(sentences)), None, "/s"))
    rows.append(("one 32-token query alone, 1 thread (numpy: its BLAS threads)",
                 per_query_ms(ours_query["seconds"], len(queries)), per_query_ms(theirs_query, len(queries)), "ms"))
    print(f"| measured ({options.rounds} rounds, medians) | ours (Swift) | numpy reference | ours / reference |")
    print("| --- | --: | --: | --: |")
    for name, ours, theirs, unit in rows:
        ratio = f"{ours / theirs:.2f}x" if theirs else "—"
        print(f"| {name} | {ours:.1f} {unit} | {theirs:.1f} {unit} | {ratio} |" if theirs else f"| {name} | {ours:.1f} {unit} | — | — |")
    print(f"| resident memory after encoding | {ours2['afterKB'] / 1024:.0f} MB | {numpy_kb / 1024:.0f} MB peak (float32 weights, Python) | — |")


if __name__ == "__main__":
    main()

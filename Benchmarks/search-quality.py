"""Search quality of the built-in embedders (hashing-v1 and all-MiniLM-L6-v2) on two retrieval
sets, side by side in one run:

    python3 Benchmarks/search-quality.py --portal .build/debug/portal [--foldoc-queries 1000]

1. FOLDOC (Debian's dict-foldoc, fetched with `apt-get download` into a scratch directory,
   never installed): each entry whose definition has at least two sentences gives a document,
   "term: the definition without its first sentence", and a query, the first sentence with
   the term's words taken out: find the entry from a plain-words description of it.
   `--foldoc-queries` entries are drawn with a fixed seed; every qualifying entry (up to
   `--foldoc-documents`) is a document.
2. Operations (`Benchmarks/retrieval/operations.json`, written for this project): questions
   people ask, against the host and OCI packs' tools (title and description) and conversation
   turns that answer them.

Runs `portal bench embedder-quality` on each and prints a Markdown table of hit@1, hit@10
and MRR per embedder."""
import argparse
import glob
import gzip
import json
import os
import random
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def foldoc_entries(scratch):
    subprocess.run(["apt-get", "download", "dict-foldoc"], cwd=scratch, check=True, capture_output=True)
    (package,) = glob.glob(os.path.join(scratch, "dict-foldoc_*.deb"))
    subprocess.run(["dpkg-deb", "-x", package, os.path.join(scratch, "x")], check=True)
    dictionary = gzip.open(os.path.join(scratch, "x/usr/share/dictd/foldoc.dict.dz")).read().decode("utf-8", "replace")
    entries = []
    for line in open(os.path.join(scratch, "x/usr/share/dictd/foldoc.index"), encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database"):
            continue
        entries.append((parts[0], base64_number(parts[1]), base64_number(parts[2])))
    seen = set()
    for term, offset, length in entries:
        if (offset, length) in seen:
            continue
        seen.add((offset, length))
        yield term, dictionary[offset:offset + length]


def base64_number(text):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for character in text:
        value = value * 64 + alphabet.index(character)
    return value


def plain(text):
    """A definition without FOLDOC's markup: {links} keep their words, <categories>,
    [references] and (dates) go."""
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", " ", text)
    text = re.sub(r"\{([^}(]*)(\([^)]*\))?\}", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def foldoc_set(scratch, queries, documents, seed):
    pairs = []
    for term, entry in foldoc_entries(scratch):
        lines = entry.split("\n")
        body = plain(" ".join(line for line in lines[1:] if line.startswith((" ", "\t"))))
        sentences = re.split(r"(?<=[a-z0-9)])\. (?=[A-Z])", body)
        if len(sentences) < 2:
            continue
        first, rest = sentences[0], ". ".join(sentences[1:])
        words = {word.lower() for word in re.findall(r"\w+", term)}
        query = " ".join(word for word in first.split() if re.sub(r"\W", "", word).lower() not in words)
        if len(query.split()) < 6 or len(rest.split()) < 8:
            continue
        pairs.append((term, query, f"{term}: {rest}"))
    random.Random(seed).shuffle(pairs)
    pairs = pairs[:documents]
    return {
        "documents": [{"id": term, "text": document} for term, _, document in pairs],
        "queries": [{"text": query, "relevant": [term]} for term, query, _ in pairs[:queries]],
    }


def operations_set():
    written = json.load(open(os.path.join(ROOT, "Benchmarks/retrieval/operations.json"), encoding="utf-8"))
    documents = list(written["documents"])
    for pack in ("host", "oci"):
        for tool in json.load(open(os.path.join(ROOT, f"Sources/Portal/Tools/Packs/{pack}.json")))["tools"]:
            documents.append({"id": tool["name"], "text": f"{tool['title']}. {tool['description']}"})
    return {"documents": documents, "queries": written["queries"]}


def run(portal, model, retrieval):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(retrieval, file)
    try:
        output = subprocess.run([portal, "bench", "embedder-quality", "--set", file.name, "--model-dir", model], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(file.name)
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--portal", required=True)
    parser.add_argument("--model", default=os.path.join(ROOT, ".build/models/all-MiniLM-L6-v2"))
    parser.add_argument("--foldoc-queries", type=int, default=1000)
    parser.add_argument("--foldoc-documents", type=int, default=5000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sets = [("FOLDOC", foldoc_set(scratch, options.foldoc_queries, options.foldoc_documents, seed=24)), ("operations", operations_set())]
    print("| set | documents | queries | embedder | hit@1 | hit@10 | MRR | embedding time |")
    print("| --- | --: | --: | --- | --: | --: | --: | --: |")
    for name, retrieval in sets:
        for row in run(options.portal, options.model, retrieval):
            print(f"| {name} | {row['documents']} | {row['queries']} | {row['embedder']} | {float(row['hit1']):.3f} | {float(row['hit10']):.3f} | "
                  f"{float(row['mrr']):.3f} | {float(row['seconds']):.1f} s |")


if __name__ == "__main__":
    main()

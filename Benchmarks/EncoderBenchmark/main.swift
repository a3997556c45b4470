// Times the built-in sentence encoder for Benchmarks/encoder-speed.py, which runs the numpy
// reference on the same texts in the same run and prints the ratios.
//
//     EncoderBenchmark <model directory> <texts.json> <threads> <batch size> <rounds>
//
// Encodes the texts in batches of <batch size> on <threads> threads, <rounds> times over, and
// prints one JSON line: the seconds of each round, and the resident memory after loading and
// after encoding (VmRSS, kB).
import FoundationEssentials
import SentenceEncoder
#if canImport(Glibc)
import Glibc
#endif

func residentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

let arguments = CommandLine.arguments
guard arguments.count == 6, let threads = Int(arguments[3]), let batch = Int(arguments[4]), let rounds = Int(arguments[5]) else {
    fatalError("usage: EncoderBenchmark <model directory> <texts.json> <threads> <batch size> <rounds>")
}
let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: arguments[2])))
let encoder = try SentenceEncoder(directory: arguments[1])
let loaded = residentKilobytes()
var seconds: [Double] = []
var checksum: Float = 0
for _ in 0..<rounds {
    let start = now()
    var index = 0
    while index < texts.count {
        let vectors = encoder.encode(Array(texts[index..<min(index + batch, texts.count)]), threads: threads)
        checksum += vectors[0][0]
        index += batch
    }
    seconds.append(now() - start)
}
let tokens = texts.reduce(0) { $0 + encoder.windows($1)[0].count }
let report: [String: Double] = ["texts": Double(texts.count), "tokens": Double(tokens), "loadedKB": Double(loaded), "afterKB": Double(residentKilobytes()), "checksum": Double(checksum)]
var line = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
line.removeLast()
print(line + ",\"seconds\":" + String(decoding: try JSONEncoder().encode(seconds), as: UTF8.self) + "}")

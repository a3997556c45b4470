import FoundationEssentials
import Foundation
@testable import SentenceEncoder
import Testing

/// The Swift encoder against the reference (`reference.py`: Hugging Face's tokenizer and a
/// numpy forward pass in float64 over the same weights), on 1,000 varied sentences built from
/// `sentences.txt`: equal token for token, and cosine ≥ 0.9999 vector for vector.
/// The model's files come from `scripts/fetch-model.sh` (`make test` runs it), in
/// `PORTAL_MODEL_DIR` or `.build/models/all-MiniLM-L6-v2`.
@Suite(.serialized) struct SentenceEncoderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let modelDirectory = ProcessInfo.processInfo.environment["PORTAL_MODEL_DIR"] ?? root + "/.build/models/all-MiniLM-L6-v2"
    static let encoder: SentenceEncoder = {
        do { return try SentenceEncoder(directory: modelDirectory) } catch { fatalError("\(error) (run scripts/fetch-model.sh)") }
    }()

    /// 1,000 sentences: each line of sentences.txt, then variants of them (upper and lower case,
    /// two joined, control characters and U+FFFD mixed in, cut mid-word, repeated) in a fixed
    /// order.
    static let sentences: [String] = {
        let text = try! String(contentsOfFile: root + "/Tests/SentenceEncoderTests/sentences.txt", encoding: .utf8)
        let base = text.split(separator: "\n").map(String.init)
        var all = base
        var round = 0
        while all.count < 1000 {
            for (index, line) in base.enumerated() where all.count < 1000 {
                let other = base[(index * 7 + round * 13 + 3) % base.count]
                switch (index + round) % 6 {
                case 0: all.append(line.uppercased() + " " + other.lowercased())
                case 1: all.append(other + "\n" + line)
                case 2: all.append(line.replacingOccurrences(of: " ", with: "\u{7} \u{0}") + "\u{FFFD}\u{200B}")
                case 3: all.append(String(line.prefix(max(1, line.count * (round + 1) / 7))))
                case 4: all.append(Array(repeating: line, count: 1 + round % 4).joined(separator: " | "))
                default: all.append("\t" + other.capitalized + ": " + line + "\r\n")
                }
            }
            round += 1
        }
        return all
    }()

    struct Reference: Decodable {
        let ids: [[Int32]]
        let vectors: [[Double]]
    }

    static let reference: Reference = {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-reference-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = scratch.appendingPathComponent("sentences.json"), output = scratch.appendingPathComponent("reference.json")
        try! JSONEncoder().encode(sentences).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root + "/Tests/SentenceEncoderTests/reference.py", modelDirectory, input.path, output.path]
        try! process.run()
        process.waitUntilExit()
        precondition(process.terminationStatus == 0, "reference.py failed (numpy and tokenizers come with make test-deps)")
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: output))
    }()

    @Test func theTokenizerMatchesTheReferenceTokenForToken() {
        var mismatches: [String] = []
        for (index, sentence) in Self.sentences.enumerated() {
            let ours = Self.encoder.windows(sentence)
            let theirs = Self.reference.ids[index]
            if ours.count != 1 || ours[0] != theirs {
                mismatches.append("\(index) \(sentence.debugDescription): ours \(ours.flatMap { $0 }) theirs \(theirs)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.sentences.count) differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }

    @Test func theEncoderMatchesTheReferenceToCosine0_9999() {
        let vectors = Self.encoder.encode(Self.sentences, threads: 2)
        var worst = (cosine: 1.0, index: -1)
        for (index, vector) in vectors.enumerated() {
            let reference = Self.reference.vectors[index]
            var dot = 0.0, norm = 0.0
            for d in 0..<SentenceEncoder.dimensions {
                dot += Double(vector[d]) * reference[d]
                norm += Double(vector[d]) * Double(vector[d])
            }
            #expect(abs(norm - 1) < 1e-5, "unit length")
            if dot < worst.cosine { worst = (dot, index) }
        }
        #expect(worst.cosine >= 0.9999, "worst cosine \(worst.cosine) for \(Self.sentences[max(worst.index, 0)].debugDescription)")
    }

    @Test func aTextEncodesTheSameAloneInABatchAndFromEightTasksAtOnce() async {
        let texts = Array(Self.sentences.prefix(24))
        let alone = texts.map { Self.encoder.encode([$0])[0] }
        // Packed with longer and shorter texts: nothing of another text reaches it (what a
        // padding mask guarantees in a padded batch).
        #expect(Self.encoder.encode(texts, threads: 2) == alone)
        let aloneByText = Dictionary(uniqueKeysWithValues: zip(texts, alone))
        // Eight tasks at once, each with the texts in its own order.
        let orders = (0..<8).map { task in
            var generator = Seeded(task)
            return texts.shuffled(using: &generator)
        }
        let concurrent = await withTaskGroup(of: (Int, [[Float]]).self) { group in
            for (task, order) in orders.enumerated() { group.addTask { (task, Self.encoder.encode(order)) } }
            return await group.reduce(into: [Int: [[Float]]]()) { $0[$1.0] = $1.1 }
        }
        for (task, order) in orders.enumerated() {
            #expect(concurrent[task] == order.map { aloneByText[$0]! }, "task \(task)")
        }
    }

    @Test func emptyControlAndHugeTextsEncodeWithoutTrappingAndWithinTheirWindows() {
        let huge = String(repeating: "the server refuses connections again ", count: 30_000)  // 1.1 MB
        let inputs = ["", "   ", "\u{0}\u{7}\u{1B}[31m", String(repeating: "🚀", count: 10_000), huge,
                      String(decoding: [0xFF, 0xFE, 0x41, 0xC3, 0x28] as [UInt8], as: UTF8.self)]
        let vectors = Self.encoder.encode(inputs)
        for vector in vectors {
            #expect(vector.count == SentenceEncoder.dimensions && vector.allSatisfy(\.isFinite))
        }
        #expect(Self.encoder.windows("").map(\.count) == [2], "[CLS] [SEP]")
        #expect(Self.encoder.windows(huge).count == SentenceEncoder.maxWindows)
        #expect(Self.encoder.windows(huge).allSatisfy { $0.count == SentenceEncoder.windowTokens + 2 })
        // A text of two windows and some: three windows, the last with what is left.
        let words = (0..<300).map { "w\($0 % 10)" }.joined(separator: " ")
        let pieces = Self.encoder.tokenizer.tokenIDs(words).count
        #expect(pieces > SentenceEncoder.windowTokens * 2 && pieces < SentenceEncoder.windowTokens * 3)
        #expect(Self.encoder.windows(words).map(\.count) == [SentenceEncoder.windowTokens + 2, SentenceEncoder.windowTokens + 2, pieces - 2 * SentenceEncoder.windowTokens + 2])
    }

    @Test(arguments: [(1, 24, 8), (3, 48, 8), (7, 24, 16), (100, 72, 384), (257, 48, 1536), (4, 384, 384)])
    func theLinearKernelEqualsTheSumsItReplaces(rows: Int, columns: Int, inner: Int) {
        var generator = Seeded(rows * 31 + columns)
        let input = (0..<rows * inner).map { _ in Float.random(in: -1...1, using: &generator) }
        let weight = (0..<columns * inner).map { _ in Float.random(in: -1...1, using: &generator) }
        let bias = (0..<columns).map { _ in Float.random(in: -1...1, using: &generator) }
        var output = [Float](repeating: .nan, count: rows * columns)
        MatrixKernels.linear(input, rows: rows, weight: PackedMatrix(weight, columns: columns, inner: inner), bias: bias, output: &output)
        for i in 0..<rows {
            for j in 0..<columns {
                var expected = Double(bias[j])
                for t in 0..<inner { expected += Double(input[i * inner + t]) * Double(weight[j * inner + t]) }
                #expect(abs(Double(output[i * columns + j]) - expected) < 1e-4 * Double(inner), "row \(i) column \(j)")
            }
        }
    }

    @Test func aMissingOrCorruptWeightsFileIsNamedWithHowToRestoreIt() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-broken-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.copyItem(atPath: Self.modelDirectory + "/vocab.txt", toPath: scratch + "/vocab.txt")
        func failure() -> String {
            do { _ = try SentenceEncoder(directory: scratch); return "loaded" } catch { return error.description }
        }
        #expect(failure().contains(scratch + "/model.safetensors cannot be opened"))
        #expect(failure().contains("scripts/fetch-model.sh"))
        // Truncated: the header promises more than the file holds.
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.modelDirectory + "/model.safetensors"))
        try whole.prefix(20_000_000).write(to: URL(fileURLWithPath: scratch + "/model.safetensors"))
        #expect(failure().contains("outside the file (truncated?)"))
        try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: scratch + "/model.safetensors"))
        #expect(failure().contains("not a safetensors file"))
    }
}

/// A small deterministic generator (SplitMix64) for shuffles a test can repeat.
struct Seeded: RandomNumberGenerator {
    private var state: UInt64
    init(_ seed: Int) { state = UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FoundationEssentials

/// all-MiniLM-L6-v2 (a 6-layer BERT, hidden size 384, 12 heads, mean pooling, unit length) in
/// Swift, from its safetensors weights (memory-mapped read-only; the linear layers' weights
/// repacked once for the kernel, 42 MB). Guarantees:
/// - the same text gives the same vector, whatever batch it is encoded in and from however many
///   tasks at once (each call has its own scratch memory; the weights are only read);
/// - any text is encoded in bounded time: a text is read up to `maxWindows` windows of
///   `windowTokens` pieces each; a text longer than one window is encoded window by window, and
///   its vector is the token-weighted mean of the windows' mean-pooled vectors, then normalized
///   (the reference model truncates at 256 tokens; the windows let a long text count beyond);
/// - an empty text (or one with no pieces) is the encoding of `[CLS] [SEP]`, never a trap.
///
/// A batch is packed, not padded: the dense layers run over every token of every text at once,
/// and attention runs within each text's own tokens, which is what an attention mask over
/// padding computes, without the padding's cost.
public final class SentenceEncoder: Sendable {
    public static let dimensions = 384
    static let layers = 6
    static let heads = 12
    static let headWidth = 32
    static let intermediate = 1536
    /// Pieces per window between `[CLS]` and `[SEP]`: the model's 256 positions less those two.
    public static let windowTokens = 254
    /// Windows read of one text: 8 × 254 = 2,032 pieces, about 1,500 words.
    public static let maxWindows = 8

    public let tokenizer: WordPieceTokenizer
    private let weights: Weights

    /// Loads `model.safetensors` and `vocab.txt` from `directory`, checking every tensor's
    /// name, type and shape.
    public init(directory: String) throws(EncoderError) {
        // The weights first: with neither file there, the message names the large one.
        let file = try SafetensorsFile(path: directory + "/model.safetensors")
        tokenizer = try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt")
        weights = try Weights(file: file, vocabularySize: tokenizer.vocabularySize)
    }

    /// Unit-length vectors of `dimensions` floats, one per text, in order. Up to `threads`
    /// threads share the batch (texts are split between them, never a text).
    public func encode(_ texts: [String], threads: Int = 1) -> [[Float]] {
        let windows = texts.map(self.windows)
        var flat: [(text: Int, ids: [Int32])] = []
        for (index, textWindows) in windows.enumerated() { for ids in textWindows { flat.append((index, ids)) } }
        let pooled = encodeSequences(flat.map(\.ids), threads: threads)
        var vectors = [[Float]](repeating: [Float](repeating: 0, count: Self.dimensions), count: texts.count)
        for (slot, entry) in flat.enumerated() {
            let weight = Float(entry.ids.count)
            for d in 0..<Self.dimensions { vectors[entry.text][d] += pooled[slot][d] * weight }
        }
        for index in vectors.indices {
            var norm: Float = 0
            for value in vectors[index] { norm += value * value }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 0
            for d in 0..<Self.dimensions { vectors[index][d] *= scale }
        }
        return vectors
    }

    /// `[CLS] pieces [SEP]` windows of `text`: at least one, at most `maxWindows`.
    public func windows(_ text: String) -> [[Int32]] {
        let ids = tokenizer.tokenIDs(text, limit: Self.windowTokens * Self.maxWindows)
        var windows: [[Int32]] = []
        var start = 0
        repeat {
            let end = min(start + Self.windowTokens, ids.count)
            windows.append([tokenizer.classifierID] + ids[start..<end] + [tokenizer.separatorID])
            start = end
        } while start < ids.count
        return windows
    }

    /// The mean-pooled (not normalized) last hidden state of each token sequence.
    func encodeSequences(_ sequences: [[Int32]], threads: Int) -> [[Float]] {
        let parts = max(1, min(threads, sequences.count))
        guard parts > 1 else { return run(sequences) }
        // Contiguous shares of about equal token counts.
        let total = sequences.reduce(0) { $0 + $1.count }
        var bounds = [0]
        var running = 0
        for (index, sequence) in sequences.enumerated() {
            running += sequence.count
            if bounds.count < parts && running * parts >= total * bounds.count { bounds.append(index + 1) }
        }
        if bounds.last != sequences.count { bounds.append(sequences.count) }
        let results = ResultSlots(count: bounds.count - 1)
        DispatchQueue.concurrentPerform(iterations: bounds.count - 1) { [bounds] part in
            results.set(part, run(Array(sequences[bounds[part]..<bounds[part + 1]])))
        }
        return results.joined()
    }

    /// The encoder over one packed batch on the calling thread.
    private func run(_ sequences: [[Int32]]) -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let width = Self.dimensions
        let tokens = sequences.reduce(0) { $0 + $1.count }
        var starts: [Int] = []
        var position = 0
        for sequence in sequences { starts.append(position); position += sequence.count }
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let query = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let key = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let value = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let projected = UnsafeMutablePointer<Float>.allocate(capacity: tokens * width)
        let expanded = UnsafeMutablePointer<Float>.allocate(capacity: tokens * Self.intermediate)
        let longest = sequences.map(\.count).max()!
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest)
        defer { for buffer in [hidden, query, key, value, context, projected, expanded, scores] { buffer.deallocate() } }

        // Embeddings: word + position + token type 0, then layer norm.
        for (s, sequence) in sequences.enumerated() {
            for (p, id) in sequence.enumerated() {
                let row = hidden + (starts[s] + p) * width
                let word = weights.words + Int(id) * width, place = weights.positions + p * width
                for d in 0..<width { row[d] = word[d] + place[d] + weights.tokenType[d] }
            }
        }
        MatrixKernels.layerNorm(hidden, rows: tokens, width: width, gamma: weights.embeddingNorm.gamma, beta: weights.embeddingNorm.beta, epsilon: Weights.epsilon)

        let scale = 1 / Float(Self.headWidth).squareRoot()
        for layer in weights.layers {
            MatrixKernels.linear(hidden, rows: tokens, weight: layer.query.weight, bias: layer.query.bias, output: query)
            MatrixKernels.linear(hidden, rows: tokens, weight: layer.key.weight, bias: layer.key.bias, output: key)
            MatrixKernels.linear(hidden, rows: tokens, weight: layer.value.weight, bias: layer.value.bias, output: value)
            // Attention within each sequence, head by head.
            for (s, sequence) in sequences.enumerated() {
                let first = starts[s], count = sequence.count
                for head in 0..<Self.heads {
                    let offset = head * Self.headWidth
                    for i in 0..<count {
                        let q = UnsafeRawPointer(query + (first + i) * width + offset)
                        var highest = -Float.infinity
                        for j in 0..<count {
                            let score = MatrixKernels.dot(q, UnsafeRawPointer(key + (first + j) * width + offset), k: Self.headWidth) * scale
                            scores[j] = score
                            highest = max(highest, score)
                        }
                        var total: Float = 0
                        for j in 0..<count {
                            scores[j] = expf(scores[j] - highest)
                            total += scores[j]
                        }
                        let out = context + (first + i) * width + offset
                        var accumulated = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                        for j in 0..<count {
                            let weight = SIMD8<Float>(repeating: scores[j] / total)
                            let v = UnsafeRawPointer(value + (first + j) * width + offset)
                            accumulated.0 = accumulated.0.addingProduct(weight, v.loadUnaligned(fromByteOffset: 0, as: SIMD8<Float>.self))
                            accumulated.1 = accumulated.1.addingProduct(weight, v.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                            accumulated.2 = accumulated.2.addingProduct(weight, v.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                            accumulated.3 = accumulated.3.addingProduct(weight, v.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                        }
                        let target = UnsafeMutableRawPointer(out)
                        target.storeBytes(of: accumulated.0, toByteOffset: 0, as: SIMD8<Float>.self)
                        target.storeBytes(of: accumulated.1, toByteOffset: 32, as: SIMD8<Float>.self)
                        target.storeBytes(of: accumulated.2, toByteOffset: 64, as: SIMD8<Float>.self)
                        target.storeBytes(of: accumulated.3, toByteOffset: 96, as: SIMD8<Float>.self)
                    }
                }
            }
            MatrixKernels.linear(context, rows: tokens, weight: layer.attentionOutput.weight, bias: layer.attentionOutput.bias, output: projected)
            MatrixKernels.add(projected, to: hidden, count: tokens * width)
            MatrixKernels.layerNorm(hidden, rows: tokens, width: width, gamma: layer.attentionNorm.gamma, beta: layer.attentionNorm.beta, epsilon: Weights.epsilon)
            MatrixKernels.linear(hidden, rows: tokens, weight: layer.intermediate.weight, bias: layer.intermediate.bias, output: expanded)
            MatrixKernels.gelu(expanded, count: tokens * Self.intermediate)
            MatrixKernels.linear(expanded, rows: tokens, weight: layer.output.weight, bias: layer.output.bias, output: projected)
            MatrixKernels.add(projected, to: hidden, count: tokens * width)
            MatrixKernels.layerNorm(hidden, rows: tokens, width: width, gamma: layer.outputNorm.gamma, beta: layer.outputNorm.beta, epsilon: Weights.epsilon)
        }

        // Mean pooling over each sequence's tokens.
        return sequences.indices.map { s in
            var pooled = [Float](repeating: 0, count: width)
            let count = sequences[s].count
            for p in 0..<count {
                let row = hidden + (starts[s] + p) * width
                for d in 0..<width { pooled[d] += row[d] }
            }
            for d in 0..<width { pooled[d] /= Float(count) }
            return pooled
        }
    }
}

/// One slot per thread of a split batch: each written by exactly one thread, all read after
/// every thread has finished (`concurrentPerform` returns only then).
private final class ResultSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<[[Float]]>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: [], count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    func set(_ part: Int, _ value: [[Float]]) { slots[part] = value }
    func joined() -> [[Float]] { (0..<count).flatMap { slots[$0] } }
}

/// The model's tensors, checked: the linear layers' weights packed for the kernel, the rest
/// as pointers into the mapped file.
struct Weights: @unchecked Sendable {
    struct Linear { let weight: PackedMatrix; let bias: UnsafePointer<Float> }
    struct Norm { let gamma: UnsafePointer<Float>; let beta: UnsafePointer<Float> }
    struct Layer { let query, key, value, attentionOutput, intermediate, output: Linear; let attentionNorm, outputNorm: Norm }

    static let epsilon: Float = 1e-12
    let file: SafetensorsFile
    let words, positions, tokenType: UnsafePointer<Float>
    let embeddingNorm: Norm
    let layers: [Layer]

    init(file: SafetensorsFile, vocabularySize: Int) throws(EncoderError) {
        let width = SentenceEncoder.dimensions
        func tensor(_ name: String, _ shape: [Int]) throws(EncoderError) -> UnsafePointer<Float> {
            try file.float32(name, shape: shape).baseAddress!
        }
        func linear(_ name: String, out: Int, in inner: Int) throws(EncoderError) -> Linear {
            Linear(weight: PackedMatrix(try tensor(name + ".weight", [out, inner]), columns: out, inner: inner), bias: try tensor(name + ".bias", [out]))
        }
        func norm(_ name: String) throws(EncoderError) -> Norm {
            Norm(gamma: try tensor(name + ".weight", [width]), beta: try tensor(name + ".bias", [width]))
        }
        self.file = file
        words = try tensor("embeddings.word_embeddings.weight", [vocabularySize, width])
        positions = try tensor("embeddings.position_embeddings.weight", [512, width])
        tokenType = try tensor("embeddings.token_type_embeddings.weight", [2, width])
        embeddingNorm = try norm("embeddings.LayerNorm")
        var layers: [Layer] = []
        for index in 0..<SentenceEncoder.layers {
            let prefix = "encoder.layer.\(index)."
            layers.append(Layer(
                query: try linear(prefix + "attention.self.query", out: width, in: width),
                key: try linear(prefix + "attention.self.key", out: width, in: width),
                value: try linear(prefix + "attention.self.value", out: width, in: width),
                attentionOutput: try linear(prefix + "attention.output.dense", out: width, in: width),
                intermediate: try linear(prefix + "intermediate.dense", out: SentenceEncoder.intermediate, in: width),
                output: try linear(prefix + "output.dense", out: width, in: SentenceEncoder.intermediate),
                attentionNorm: try norm(prefix + "attention.output.LayerNorm"),
                outputNorm: try norm(prefix + "output.LayerNorm")))
        }
        self.layers = layers
        // The linear weights now live packed; the pages read to pack them leave the process's
        // resident memory (they come back from the page cache if ever read again).
        file.releaseResidentPages()
    }
}

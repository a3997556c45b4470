import CVectorSupport

/// How a graph walk measures stored nodes against its query. Smaller is closer, as for
/// `Metric`. The walk is generic over it, so each kind is specialized into its own loop.
protocol QueryMeasure {
    func distance(_ id: UInt32) -> Float
    func distance4(_ id0: UInt32, _ id1: UInt32, _ id2: UInt32, _ id3: UInt32) -> SIMD4<Float>
    /// Starts loading what `distance` will read of `id`.
    func prefetch(_ id: UInt32)
}

/// Exact distances on the float32 vectors.
struct FloatMeasure: QueryMeasure {
    let query: UnsafePointer<Float>
    let store: NodeStore
    let metric: Metric
    let dimension: Int

    @inline(__always)
    func distance(_ id: UInt32) -> Float {
        metric.distance(UnsafeBufferPointer(start: query, count: dimension), UnsafeBufferPointer(start: store.vector(id), count: dimension))
    }

    @inline(__always)
    func distance4(_ id0: UInt32, _ id1: UInt32, _ id2: UInt32, _ id3: UInt32) -> SIMD4<Float> {
        metric.distance4(query, store.vector(id0), store.vector(id1), store.vector(id2), store.vector(id3), count: dimension)
    }

    /// The first 256 bytes: measured faster than 64 or 512–1024 (Benchmarks/README.md); the
    /// hardware prefetcher streams the rest.
    @inline(__always)
    func prefetch(_ id: UInt32) {
        portal_prefetch(store.vector(id), Int32(min(dimension * 4, 256)))
    }

    /// `entries` measured again exactly, closest first.
    func reranked(_ entries: [DistanceHeap.Entry]) -> [DistanceHeap.Entry] {
        var exact = entries
        for index in exact.indices { prefetch(exact[index].id) }
        var next = 0
        while next + 4 <= exact.count {
            let four = distance4(exact[next].id, exact[next + 1].id, exact[next + 2].id, exact[next + 3].id)
            for lane in 0..<4 { exact[next + lane].distance = four[lane] }
            next += 4
        }
        while next < exact.count {
            exact[next].distance = distance(exact[next].id)
            next += 1
        }
        exact.sort { $0.distance < $1.distance }
        return exact
    }
}

/// Int8 codes of a graph's vectors, one code vector per slot with its factors (`Int8Codes`).
protocol CodeTable {
    /// Codes per slot: the dimension rounded up to 16.
    var codeStride: Int { get }
    /// The codes of `id` (`codeStride` of them).
    func codes(_ id: UInt32) -> UnsafeMutablePointer<Int8>
    /// The scale of `id`'s codes and the squared norm of its vector.
    func codeFactors(_ id: UInt32) -> SIMD2<Float>
}

extension NodeStore: CodeTable {}

/// Estimated distances on the nodes' int8 codes (`Int8Codes`): the integer inner product
/// times both scales estimates `query · vector`; squared L2 adds the exact squared norms.
struct CodeMeasure<Table: CodeTable>: QueryMeasure {
    let query: UnsafePointer<Int16>
    let scale: Float
    /// The query's squared norm (used by squared L2 only).
    let squaredNorm: Float
    let table: Table
    let metric: Metric

    /// Calls `body` with the measure from `query` (a prepared vector, encoded on the int16
    /// grid) to the codes in `table`.
    static func measuring<Result>(_ query: UnsafeBufferPointer<Float>, against table: Table, metric: Metric, _ body: (CodeMeasure) -> Result) -> Result {
        let (codes, scale) = Int8Codes.encodeQuery(query, stride: table.codeStride)
        return codes.withUnsafeBufferPointer { codes in
            body(CodeMeasure(
                query: codes.baseAddress!, scale: scale, squaredNorm: metric == .squaredL2 ? Distance.dot(query, query) : 0,
                table: table, metric: metric))
        }
    }

    @inline(__always)
    private func distance(product: Int32, _ id: UInt32) -> Float {
        let factors = table.codeFactors(id)
        let dot = Float(product) * scale * factors[0]
        switch metric {
        case .cosine: return 1 - dot
        case .innerProduct: return -dot
        case .squaredL2: return squaredNorm + factors[1] - 2 * dot
        }
    }

    @inline(__always)
    func distance(_ id: UInt32) -> Float {
        distance(product: Int8Codes.dot(query, table.codes(id), stride: table.codeStride), id)
    }

    @inline(__always)
    func distance4(_ id0: UInt32, _ id1: UInt32, _ id2: UInt32, _ id3: UInt32) -> SIMD4<Float> {
        let products = Int8Codes.dot4(query, table.codes(id0), table.codes(id1), table.codes(id2), table.codes(id3), stride: table.codeStride)
        return SIMD4(distance(product: products[0], id0), distance(product: products[1], id1), distance(product: products[2], id2), distance(product: products[3], id3))
    }

    @inline(__always)
    func prefetch(_ id: UInt32) {
        portal_prefetch(table.codes(id), Int32(table.codeStride))
    }
}

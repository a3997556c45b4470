import Foundation
import Testing

/// `portal bench vector` reads TEXMEX files, reports recall against the ground truth, and
/// writes its result ids as ivecs for the peer scorer.
@Suite struct VectorBenchCommandTests {
    func write(_ rows: [[UInt32]], to path: String) throws {
        var data = Data()
        for row in rows {
            for word in [UInt32(row.count)] + row { withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) } }
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test func reportsRecallAndWritesResultIDs() throws {
        let directory = TemporaryDirectory.make()
        var generator = SystemRandomNumberGenerator()
        let base = (0..<500).map { _ in (0..<16).map { _ in Float.random(in: -1...1, using: &generator) } }
        let queries = Array(base.prefix(20))  // each query's nearest neighbour is itself
        try write(base.map { $0.map(\.bitPattern) }, to: directory + "/base.fvecs")
        try write(queries.map { $0.map(\.bitPattern) }, to: directory + "/query.fvecs")
        try write((0..<20).map { [UInt32($0)] }, to: directory + "/gt.ivecs")

        let result = try PortalProcess.run([
            "bench", "vector", "--base", directory + "/base.fvecs", "--query", directory + "/query.fvecs",
            "--gt", directory + "/gt.ivecs", "--k", "1", "--ef", "16,32", "--out", directory + "/out.ivecs",
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("build: 500 x 16"))
        #expect(result.output.contains(try Regex(#"resident \d+ MiB \(anonymous \d+, file-mapped \d+\)"#)), "\(result.output)")
        #expect(result.output.contains("ef=32:"))
        #expect(result.output.contains("recall@1 1.0"))
        let out = try Data(contentsOf: URL(fileURLWithPath: directory + "/out.ivecs"))
        #expect(out.count == 20 * 8)
        let ids = stride(from: 0, to: out.count, by: 8).map { offset in
            out[(offset + 4)..<(offset + 8)].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        }
        #expect(ids == (0..<20).map(UInt32.init))
    }

    /// Int8 traversal through the command: codes are reported, the neighbours still found; an
    /// unknown traversal is refused by name.
    @Test func int8TraversalIsChosenByFlag() throws {
        let directory = TemporaryDirectory.make()
        var generator = SystemRandomNumberGenerator()
        let base = (0..<400).map { _ in (0..<24).map { _ in Float.random(in: -1...1, using: &generator) } }
        try write(base.map { $0.map(\.bitPattern) }, to: directory + "/base.fvecs")
        try write(base.prefix(20).map { $0.map(\.bitPattern) }, to: directory + "/query.fvecs")
        try write((0..<20).map { [UInt32($0)] }, to: directory + "/gt.ivecs")
        let arguments = ["bench", "vector", "--base", directory + "/base.fvecs", "--query", directory + "/query.fvecs", "--gt", directory + "/gt.ivecs", "--k", "1", "--ef", "32"]
        let result = try PortalProcess.run(arguments + ["--traversal", "int8"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("+ int8 codes"), "\(result.output)")
        #expect(result.output.contains("recall@1 1.0"), "\(result.output)")
        let refused = try PortalProcess.run(arguments + ["--traversal", "int4"])
        #expect(refused.status != 0)
        #expect(refused.error.contains("--traversal is float32 or int8, not int4"), "\(refused.error)")
    }

    @Test func aTruncatedFileIsAClearError() throws {
        let directory = TemporaryDirectory.make()
        try write([[1, 2, 3, 4]], to: directory + "/query.fvecs")
        try Data([4, 0, 0, 0, 1, 2]).write(to: URL(fileURLWithPath: directory + "/base.fvecs"))
        let result = try PortalProcess.run(["bench", "vector", "--base", directory + "/base.fvecs", "--query", directory + "/query.fvecs"])
        #expect(result.status != 0)
        #expect(result.error.contains("base.fvecs"), "\(result.error)")
    }
}

import Testing
@testable import KV

@Suite struct GzipTests {
    @Test(arguments: [0, 1, 1_000, 200_000])
    func roundTrips(size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let input = (0..<size).map { index in index % 7 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(index % 13) }
        let compressed = try Gzip.compress(input)
        #expect(compressed.prefix(2) == [0x1F, 0x8B])
        #expect(try Gzip.decompress(compressed) == input)
    }

    @Test func refusesGarbageTruncationAndBombs() throws {
        let compressed = try Gzip.compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(throws: KVError.self) { try Gzip.decompress([1, 2, 3, 4]) }
        #expect(throws: KVError.self) { try Gzip.decompress(Array(compressed.dropLast(20))) }
        #expect(throws: KVError.self) { try Gzip.decompress(compressed, limit: 1 << 16) }
    }
}

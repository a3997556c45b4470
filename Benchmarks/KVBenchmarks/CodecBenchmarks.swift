import Benchmark
import Foundation
import KV

/// The value-codec choice, measured: the store's JSON codec against a binary property-list
/// encoding of the same `Codable` record (the binary format Foundation offers without new
/// dependencies). Each iteration encodes and decodes one record shaped like the portal's.
struct SampleRecord: Codable, Sendable, Equatable {
    var schemaVersion = 1
    var id = UUID()
    var username = "operator.on.call"
    var displayName = "Operator On Call"
    var passwordHash: String? = "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="
    var roles = ["viewer", "operator"]
    var mustChangePassword = false
    var createdAt = Date(timeIntervalSince1970: 1_790_000_000)
}

enum BinaryPropertyListValue<Value: Codable & Sendable>: Codec {
    static func encode(_ value: Value) throws(CodecError) -> [UInt8] {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        do { return [0x50] + Array(try encoder.encode(value)) } catch { throw CodecError("\(error)") }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> Value {
        do { return try PropertyListDecoder().decode(Value.self, from: Data(bytes[1...])) } catch { throw CodecError("\(error)") }
    }
}

func codecBenchmarks() {
    let record = SampleRecord()
    func roundTrip<C: Codec>(_ codec: C.Type) -> Benchmark.BenchmarkThrowingClosure where C.Value == SampleRecord {
        { benchmark in
            for _ in benchmark.scaledIterations {
                let bytes = try C.encode(record)
                blackHole(try bytes.withUnsafeBytes { try C.decode($0) })
            }
        }
    }
    Benchmark("codec round trip: JSON", configuration: .init(maxDuration: .seconds(2)), closure: roundTrip(JSONValue<SampleRecord>.self))
    Benchmark("codec round trip: binary plist", configuration: .init(maxDuration: .seconds(2)), closure: roundTrip(BinaryPropertyListValue<SampleRecord>.self))
    Benchmark("codec size: JSON \(try! JSONValue<SampleRecord>.encode(record).count) B, binary plist \(try! BinaryPropertyListValue<SampleRecord>.encode(record).count) B",
              configuration: .init(maxIterations: 1)) { _ in }
}

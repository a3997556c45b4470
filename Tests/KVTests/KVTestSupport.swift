import Foundation
@testable import KV

/// A fresh environment in a temporary directory.
func makeEnvironment(_ configure: (inout KV.Environment.Options) -> Void = { _ in }) throws -> KV.Environment {
    var options = KV.Environment.Options()
    options.syncOnCommit = false  // tests that prove durability use a child process instead
    configure(&options)
    return try KV.Environment(directory: temporaryDirectory(), options: options)
}

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("portal-kv-\(UUID().uuidString)").path
}

struct Note: Codable, Sendable, Equatable {
    var title: String
    var body: String
}

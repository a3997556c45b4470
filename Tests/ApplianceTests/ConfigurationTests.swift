import Foundation
import Testing
@testable import Appliance

/// `portal config` and the configuration layers: defaults < file < PORTAL_* < flags, with
/// unknown keys and bad values named.
@Suite struct ConfigurationTests {
    func write(_ text: String, to directory: String) -> String {
        let path = directory + "/portal.toml"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        return path
    }

    @Test func layersApplyInOrderAndNameTheirSource() throws {
        let directory = TemporaryDirectory.make()
        _ = write("[server]\nport = 9000\nhost = \"0.0.0.0\"\n[log]\nlevel = \"debug\"\n", to: directory)
        let result = try PortalProcess.run(
            ["config", "--port", "9100"],
            environment: ["PORTAL_SERVER_HOST": "127.0.0.2", "PORTAL_STORAGE_DATA_DIR": "/srv/portal"],
            directory: directory
        )
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("port = 9100  # command-line flag"))
        #expect(result.output.contains("host = \"127.0.0.2\"  # environment PORTAL_SERVER_HOST"))
        #expect(result.output.contains("level = \"debug\"  # portal.toml:5"))
        #expect(result.output.contains("data_dir = \"/srv/portal\"  # environment PORTAL_STORAGE_DATA_DIR"))
        #expect(result.output.contains("format = \"json\"  # default"))
    }

    @Test func secretsAreRedacted() throws {
        let result = try PortalProcess.run(["config"], environment: ["PORTAL_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery"])
        #expect(result.status == 0)
        #expect(result.output.contains("admin_password = \"<redacted>\""))
        #expect(!result.output.contains("correct horse"))
    }

    @Test(arguments: [
        ("[server]\nprot = 8080\n", "portal.toml:2: unknown key server.prot"),
        ("[server]\nport = 99999\n", "server.port: 99999 is out of range 0...65535"),
        ("[server]\nport = \"eighty\"\n", "server.port: expected an integer, got \"eighty\""),
        ("[log]\nlevel = \"loud\"\n", "log.level: expected one of trace, debug, info"),
        ("[server\n", "portal.toml:1: expected a table header"),
        ("port 8080\n", "portal.toml:1: expected key = value"),
        ("[storage]\nsync = yes\n", "portal.toml:2: unsupported value yes"),
    ])
    func badFilesAreRefusedByName(file: String, expected: String) throws {
        let directory = TemporaryDirectory.make()
        _ = write(file, to: directory)
        let result = try PortalProcess.run(["serve"], directory: directory)
        #expect(result.status == 78)
        #expect(result.error.contains(expected), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/data"), "nothing may start on a bad configuration")
    }

    @Test func badEnvironmentIsRefusedByName() throws {
        let result = try PortalProcess.run(["config"], environment: ["PORTAL_SERVR_PORT": "1", "PORTAL_STORAGE_SYNC": "maybe"])
        #expect(result.status == 78)
        #expect(result.error.contains("unknown environment variable PORTAL_SERVR_PORT"))
        #expect(result.error.contains("storage.sync: expected true or false, got \"maybe\" (from environment PORTAL_STORAGE_SYNC)"))
    }

    @Test func anExplicitConfigFileMustExist() throws {
        let result = try PortalProcess.run(["config", "--config", "/nonexistent/portal.toml"])
        #expect(result.status == 78)
        #expect(result.error.contains("cannot read configuration file /nonexistent/portal.toml"))
    }

    @Test func thePackagedSampleConfigurationIsValid() throws {
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("packaging/portal.toml").path
        let result = try PortalProcess.run(["config", "--config", sample])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("shutdown_grace_seconds = 10"))
        // It lists every key, as README says: set, or commented out where there is no default.
        let text = try String(contentsOfFile: sample, encoding: .utf8)
        var section = "", listed: Set<String> = []
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") { section = String(line.dropFirst().prefix { $0 != "]" }) }
            let entry = line.hasPrefix("# ") ? String(line.dropFirst(2)) : line
            if let equals = entry.firstIndex(of: "="), !entry.hasPrefix("[") {
                listed.insert(section + "." + entry[..<equals].trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(listed.count >= 40)
        for key in ConfigurationKey.all.map(\.name) { #expect(listed.contains(key), "packaging/portal.toml does not list \(key)") }
        #expect(listed.subtracting(ConfigurationKey.all.map(\.name)).isEmpty, "the sample lists keys the portal does not know")
    }
}

import Glibc

/// Every problem found in the configuration, reported together so one edit fixes them all.
struct ConfigurationError: Error, Equatable {
    let problems: [String]
}

/// Where a value came from, lowest precedence first.
enum ConfigurationSource: Equatable, CustomStringConvertible {
    case defaultValue
    case file(path: String, line: Int)
    case environment(variable: String)
    case flag

    var description: String {
        switch self {
        case .defaultValue: "default"
        case let .file(path, line): "\(path):\(line)"
        case let .environment(variable): "environment \(variable)"
        case .flag: "command-line flag"
        }
    }
}

/// Layers the configuration: defaults < file < `PORTAL_*` environment variables < flags.
/// Unknown keys and bad values in any layer are errors, named, never ignored.
enum ConfigurationLoader {
    static let packagedFile = "/etc/portal/portal.toml"
    static let localFile = "portal.toml"
    /// Environment variables with the prefix that are not configuration keys.
    static let nonKeyVariables: Set<String> = ["PORTAL_CONFIG"]

    static func load(file explicitFile: String?, environment: [String: String], flags: [String: String]) throws -> PortalConfiguration {
        var values: [String: (value: String, source: ConfigurationSource)] = [:]
        var problems: [String] = []
        for key in ConfigurationKey.all {
            if let value = key.defaultValue { values[key.name] = (value, .defaultValue) }
        }

        if let path = try chooseFile(explicit: explicitFile ?? environment["PORTAL_CONFIG"]) {
            do {
                let document = try TOMLDocument(parsing: try readFile(path))
                for (name, value) in document.values.sorted(by: { $0.key < $1.key }) {
                    let line = document.lines[name] ?? 0
                    guard ConfigurationKey.byName[name] != nil else {
                        problems.append("\(path):\(line): unknown key \(name)")
                        continue
                    }
                    values[name] = (value, .file(path: path, line: line))
                }
            } catch let error as TOMLDocument.ParseError {
                problems.append("\(path):\(error.line): \(error.message)")
            }
        }

        let keysByVariable = Dictionary(uniqueKeysWithValues: ConfigurationKey.all.map { ($0.environmentVariable, $0) })
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("PORTAL_") {
            guard !nonKeyVariables.contains(variable) else { continue }
            guard let key = keysByVariable[variable] else {
                problems.append("unknown environment variable \(variable)")
                continue
            }
            values[key.name] = (value, .environment(variable: variable))
        }

        for (name, value) in flags {
            values[name] = (value, .flag)
        }

        for key in ConfigurationKey.all {
            if let (value, source) = values[key.name], let problem = key.problem(with: value) {
                problems.append("\(problem) (from \(source))")
            }
        }
        if let minimum = values["storage.map_size_mb"].flatMap({ Int($0.value) }),
           let maximum = values["storage.max_map_size_mb"].flatMap({ Int($0.value) }), minimum > maximum {
            problems.append("storage.map_size_mb (\(minimum)) is larger than storage.max_map_size_mb (\(maximum))")
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return PortalConfiguration(values: values.mapValues { $0.value }, sources: values.mapValues { $0.source })
    }

    /// The file to read: the explicit one (which must exist), else `./portal.toml`, else the
    /// packaged `/etc/portal/portal.toml`, else none.
    private static func chooseFile(explicit: String?) throws -> String? {
        if let explicit {
            guard access(explicit, R_OK) == 0 else {
                throw ConfigurationError(problems: ["cannot read configuration file \(explicit): \(String(cString: strerror(errno)))"])
            }
            return explicit
        }
        for candidate in [localFile, packagedFile] where access(candidate, F_OK) == 0 {
            return candidate
        }
        return nil
    }

    private static func readFile(_ path: String) throws -> String {
        guard let handle = fopen(path, "r") else {
            throw ConfigurationError(problems: ["cannot read configuration file \(path): \(String(cString: strerror(errno)))"])
        }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, handle)
            if count == 0 { break }
            bytes.append(contentsOf: buffer[..<count])
            guard bytes.count <= 1 << 20 else {
                throw ConfigurationError(problems: ["configuration file \(path) is larger than 1 MiB"])
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(problems: ["configuration file \(path) is not valid UTF-8"])
        }
        return text
    }
}

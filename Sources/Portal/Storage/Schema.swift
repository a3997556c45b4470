import KV

/// The portal's numbered schema steps. Append only: a released step never changes.
enum Schema {
    /// The version the steps lead to.
    static let version = 3

    static func migrations(_ environment: Environment) throws -> [Migration] {
        [
            Migration(1, "initial tables") { _ in
                // Tables are created when first opened; version 1 marks the initial layout.
            },
            try Incidents.indexIncidents(environment),
            try Changes.indexByAsset(environment),
        ]
    }
}

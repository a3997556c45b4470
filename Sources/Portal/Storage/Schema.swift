import KV

/// The portal's numbered schema steps. Append only: a released step never changes.
enum Schema {
    static let migrations: [Migration] = [
        Migration(1, "initial tables") { _ in
            // Tables are created when first opened; version 1 marks the initial layout.
        },
    ]
}

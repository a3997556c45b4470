/// Text with `{{…}}` placeholders, rendered into one string (one argv element, one header,
/// one URL). Placeholders read only the validated input (`input.NAME`), the caller's
/// organization (`org.slug`, `org.cloudScope`, `org.cloudProfile`, `org.settings.KEY`) and,
/// in HTTP headers, the organization's sealed secrets (`secret.NAME`). Guarantees: nothing else is reachable, and a rendered
/// value is never re-parsed (no shell, no splitting, no second expansion).
public struct Template: Sendable, Equatable {
    public let text: String

    public enum Reference: Sendable, Equatable {
        case input(String)
        case organizationSlug
        case cloudScope
        /// The organization's own cloud identity (an OCI CLI profile), set by a system administrator.
        case cloudProfile
        case organizationSetting(String)
        case secret(String)
    }

    enum Piece: Equatable {
        case literal(String)
        case reference(Reference)
    }

    /// The template split into literal text and references; `nil` when a placeholder is
    /// malformed or names something templates cannot read.
    var pieces: [Piece]? {
        var pieces: [Piece] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { pieces.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { return nil }
            let name = String(rest[open.upperBound..<close.lowerBound].filter { $0 != " " })
            guard let reference = Self.reference(name) else { return nil }
            pieces.append(.reference(reference))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { pieces.append(.literal(String(rest))) }
        return pieces
    }

    private static func reference(_ name: String) -> Reference? {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("input", 2) where !parts[1].isEmpty: return .input(parts[1])
        case ("org", 2) where parts[1] == "slug": return .organizationSlug
        case ("org", 2) where parts[1] == "cloudScope": return .cloudScope
        case ("org", 2) where parts[1] == "cloudProfile": return .cloudProfile
        case ("org", 3) where parts[1] == "settings" && !parts[2].isEmpty: return .organizationSetting(parts[2])
        case ("secret", _) where parts.count >= 2 && !parts[1].isEmpty: return .secret(parts[1...].joined(separator: "."))
        default: return nil
        }
    }

    var references: [Reference] {
        (pieces ?? []).compactMap { if case let .reference(reference) = $0 { reference } else { nil } }
    }

    var isWellFormed: Bool { pieces != nil }

    /// Renders with `lookup`, which answers each reference or throws.
    func render(_ lookup: (Reference) throws -> String) throws -> String {
        guard let pieces else { throw ToolError.invalidTool("malformed template '\(text)'") }
        var result = ""
        for piece in pieces {
            switch piece {
            case let .literal(text): result += text
            case let .reference(reference): result += try lookup(reference)
            }
        }
        return result
    }
}

/// Why the sentence encoder cannot start or answer; each message names the file and what to do.
public enum EncoderError: Error, Equatable, CustomStringConvertible {
    /// The weights file `path` is missing, truncated or not the model's.
    case weights(String, String)
    /// The vocabulary file `path` is missing or malformed.
    case vocabulary(String, String)

    public var description: String {
        switch self {
        case let .weights(path, problem): "The sentence encoder's weights \(path) \(problem). \(Self.restore)"
        case let .vocabulary(path, problem): "The sentence encoder's vocabulary \(path) \(problem). \(Self.restore)"
        }
    }

    static let restore = "Install the model again (scripts/fetch-model.sh <directory>, or reinstall the package), or set search.embedder_fallback = \"hashing\" in the portal's configuration to search with the hashing embedder meanwhile."
}

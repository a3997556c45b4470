@_spi(_Unicode) import Swift
import FoundationEssentials

/// BERT's uncased WordPiece tokenizer, step for step as Hugging Face's `tokenizers` runs it for
/// all-MiniLM-L6-v2 (`BertNormalizer`, `BertPreTokenizer`, `WordPiece`), so both give the same
/// ids for the same text:
/// 0. the special tokens written in the text (`[CLS]`, `[SEP]`, `[UNK]`, `[PAD]`, `[MASK]`,
///    exactly so) are those tokens;
/// 1. drop NUL, U+FFFD and control characters (Unicode categories Cc, Cf, Co; tab, line
///    feed and carriage return are whitespace), turn whitespace into spaces, and put spaces
///    around CJK ideographs;
/// 2. strip accents (canonical decomposition, then drop the non-spacing marks) and lower-case
///    each character;
/// 3. split at whitespace, and around each punctuation character (ASCII punctuation or a
///    Unicode P* category), which is a word of its own;
/// 4. each word becomes the longest vocabulary pieces from its start (`##` marks a piece that
///    continues a word); a word with a part no piece matches, or longer than 100 characters,
///    becomes `[UNK]`.
/// Pieces are matched by their exact Unicode scalars (never by Swift's canonical equivalence).
public struct WordPieceTokenizer: Sendable {
    public static let maxCharactersPerWord = 100

    private let wordStarts: [[Unicode.Scalar]: Int32]
    private let continuations: [[Unicode.Scalar]: Int32]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let vocabularySize: Int

    /// Reads a vocabulary file: one token per line, its id the line's number from 0.
    public init(vocabularyFile path: String) throws(EncoderError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .vocabulary(path, "cannot be read") }
        guard let text = String(validating: data, as: UTF8.self) else { throw .vocabulary(path, "is not UTF-8") }
        var tokens = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        if tokens.last == "" { tokens.removeLast() }
        try self.init(tokens: tokens, source: path)
    }

    /// A vocabulary given in id order.
    public init(tokens: [String], source: String = "(in memory)") throws(EncoderError) {
        var starts: [[Unicode.Scalar]: Int32] = [:], continuations: [[Unicode.Scalar]: Int32] = [:]
        for (index, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            // The first id wins for a token listed twice, as in the reference's vocabulary map.
            // By scalars: `hasPrefix` compares characters, and "##ि" is "#" and "#ि" as characters.
            if scalars.count > 2 && scalars[0] == "#" && scalars[1] == "#" {
                if continuations[Array(scalars.dropFirst(2))] == nil { continuations[Array(scalars.dropFirst(2))] = Int32(index) }
            } else if starts[scalars] == nil {
                starts[scalars] = Int32(index)
            }
        }
        func id(_ token: String) throws(EncoderError) -> Int32 {
            guard let id = starts[Array(token.unicodeScalars)] else { throw .vocabulary(source, "has no \(token) token") }
            return id
        }
        wordStarts = starts
        self.continuations = continuations
        unknownID = try id("[UNK]")
        classifierID = try id("[CLS]")
        separatorID = try id("[SEP]")
        specialTokens = try Self.specialTokenNames.map { name throws(EncoderError) in (Array(name.utf8), try id(name)) }
        vocabularySize = tokens.count
    }

    /// Written in a text, these are the special tokens themselves, as in the reference (its
    /// added tokens, matched in the text before normalization, case and all).
    static let specialTokenNames = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    private let specialTokens: [(bytes: [UInt8], id: Int32)]

    /// `text` cut at the special tokens written in it: runs of plain text, and the tokens' ids.
    private func segments(_ text: String) -> [(text: Substring, special: Int32?)] {
        let bytes = Array(text.utf8)
        var segments: [(Substring, Int32?)] = []
        var plainStart = 0, index = 0
        func plain(upTo end: Int) {
            guard end > plainStart else { return }
            segments.append((Substring(String(decoding: bytes[plainStart..<end], as: UTF8.self)), nil))
        }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "["), let special = specialTokens.first(where: { bytes[index...].starts(with: $0.bytes) }) {
                plain(upTo: index)
                segments.append((Substring(""), special.id))
                index += special.bytes.count
                plainStart = index
            } else {
                index += 1
            }
        }
        plain(upTo: bytes.count)
        return segments
    }

    /// The ids of `text`'s pieces, without `[CLS]` and `[SEP]`, stopping once `limit` ids are
    /// found (so a megabyte of text costs only the part that is used).
    public func tokenIDs(_ text: String, limit: Int = .max) -> [Int32] {
        var ids: [Int32] = []
        var word: [Unicode.Scalar] = []
        func endWord() {
            guard !word.isEmpty else { return }
            appendPieces(of: word, to: &ids)
            word.removeAll(keepingCapacity: true)
        }
        for segment in segments(text) {
            if ids.count >= limit { break }
            if let special = segment.special {
                ids.append(special)
                continue
            }
            for scalar in Self.normalized(segment.text) {
                if ids.count >= limit { break }
                if scalar.properties.isWhitespace {
                    endWord()
                } else if Self.isPunctuation(scalar) {
                    endWord()
                    word.append(scalar)
                    endWord()
                } else {
                    word.append(scalar)
                }
            }
            endWord()
        }
        if ids.count > limit { ids.removeLast(ids.count - limit) }
        return ids
    }

    private func appendPieces(of word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= Self.maxCharactersPerWord else { return ids.append(unknownID) }
        let first = ids.count
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                let piece = Array(word[start..<end])
                if let id = start == 0 ? wordStarts[piece] : continuations[piece] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let found else {
                ids.removeLast(ids.count - first)
                return ids.append(unknownID)
            }
            ids.append(found)
            start = end
        }
    }

    /// Steps 1 and 2: cleaned, CJK spaced, accents stripped, lower-cased.
    static func normalized(_ text: Substring) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { continue }
            if isWhitespace(scalar) {
                cleaned.append(" ")
            } else if isCJK(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(cleaned.count)
        // `_nfd` is the standard library's canonical decomposition (what Foundation's
        // decomposedStringWithCanonicalMapping is built on; FoundationEssentials lacks it).
        for scalar in String(cleaned)._nfd where scalar.properties.generalCategory != .nonspacingMark {
            let lower = scalar.properties.lowercaseMapping
            if lower.unicodeScalars.count == 1 && lower.unicodeScalars.first == scalar {
                result.append(scalar)
            } else {
                result.append(contentsOf: lower.unicodeScalars)
            }
        }
        return result
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        // As the reference: not unassigned code points (they stay, and become [UNK]).
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 33...47, 58...64, 91...96, 123...126: return true
        default: break
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT spaces out (not Hangul, Hiragana or Katakana).
    static func isCJK(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

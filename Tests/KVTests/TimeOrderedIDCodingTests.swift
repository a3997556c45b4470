import Foundation
import KV
import Testing

/// Ids encode as the lowercase string the API shows; records written before that (the
/// `{"uuid": "…"}` object) still read.
@Suite struct TimeOrderedIDCodingTests {
    struct Record: Codable, Equatable { let id: TimeOrderedID }

    @Test func encodesAsItsStringAndReadsBothForms() throws {
        let id = TimeOrderedID.generate()
        let encoded = String(decoding: try JSONEncoder().encode(Record(id: id)), as: UTF8.self)
        #expect(encoded == #"{"id":"\#(id.description)"}"#)
        #expect(id.description == id.description.lowercased())
        #expect(try JSONDecoder().decode(Record.self, from: Data(encoded.utf8)) == Record(id: id))
        let stored = #"{"id":{"uuid":"\#(id.uuid.uuidString)"}}"#
        #expect(try JSONDecoder().decode(Record.self, from: Data(stored.utf8)) == Record(id: id), "the form written before")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Record.self, from: Data(#"{"id":"not-an-id"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Record.self, from: Data(#"{"id":42}"#.utf8)) }
    }
}

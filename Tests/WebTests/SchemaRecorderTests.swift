import FoundationEssentials
import Portal
import Testing
@testable import Web

/// Schemas recorded from `Decodable` types: leaves, required and optional keys, nesting,
/// recursion, and types whose `init(from:)` validates or reads a single value.
@Suite struct SchemaRecorderTests {
    enum Color: String, Decodable, CaseIterable { case red, green }
    enum Level: Int, Decodable, CaseIterable { case low = 1, high = 5 }
    /// Not `CaseIterable`: no placeholder can be made for it.
    enum Mode: String, Decodable { case fast, slow }

    struct Address: Decodable {
        let city: String
        let zip: String?
    }

    struct Profile: Decodable {
        let name: String
        let age: Int
        let admin: Bool
        let score: Double
        let born: Date
        let id: UUID
        let tags: [String]
        let address: Address
        let limits: [String: Int]
        let extra: JSONAny
        let color: Color
        let level: Level
        let nickname: String?
        let previous: Address?
        let note: JSONAny?
        let groups: Set<String>?
    }

    struct Tree: Decodable {
        let name: String
        let children: [Tree]
        let byName: [String: Tree]
        let size: Int
    }

    final class Link: Decodable {
        let value: Int
        let next: Link?
    }

    /// Cannot be decoded from any finite JSON: it always requires another of itself.
    final class Loop: Decodable {
        let label: String
        let next: Loop
    }

    struct Validated: Decodable {
        let name: String
        let limit: Int
        let after: String

        enum CodingKeys: String, CodingKey { case name, limit, after }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            limit = try container.decode(Int.self, forKey: .limit)
            guard limit > 100 else { throw DecodingError.dataCorruptedError(forKey: .limit, in: container, debugDescription: "too small") }
            after = try container.decode(String.self, forKey: .after)
        }
    }

    struct Settings: Decodable {
        let label: String
        let mode: Mode?
        let size: Int
    }

    struct Email: Decodable {
        let address: String

        init(from decoder: any Decoder) throws {
            address = try decoder.singleValueContainer().decode(String.self)
            guard address.contains("@") else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an email address"))
            }
        }
    }

    struct Contact: Decodable {
        let others: [Email]?
        let email: Email
    }

    private func json(_ text: String) throws -> JSONAny {
        try #require(JSONAny(json: text.utf8))
    }

    @Test func leavesNestingAndOptionalKeys() throws {
        // Optionals are nullable: `JSONDecoder` reads null for them.
        let properties = #""properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}}, "required": ["city"]"#
        let address = #"{"type": "object", \#(properties)}"#
        let expected = try json(#"""
        {
          "type": "object",
          "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "format": "int64"},
            "admin": {"type": "boolean"},
            "score": {"type": "number"},
            "born": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": \#(address),
            "limits": {"type": "object", "additionalProperties": {"type": "integer", "format": "int64"}},
            "extra": {},
            "color": {"type": "string", "enum": ["red", "green"]},
            "level": {"type": "integer", "enum": [1, 5]},
            "nickname": {"type": ["string", "null"]},
            "previous": {"type": ["object", "null"], \#(properties)},
            "note": {},
            "groups": {"type": ["array", "null"], "items": {"type": "string"}}
          },
          "required": ["address", "admin", "age", "born", "color", "extra", "id", "level", "limits", "name", "score", "tags"]
        }
        """#)
        #expect(SchemaRecorder.schema(for: Profile.self) == expected)
    }

    @Test func topLevelArraysDictionariesAndOptionals() throws {
        #expect(SchemaRecorder.schema(for: [Address].self) == (try json(#"""
        {"type": "array", "items": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}}, "required": ["city"]}}
        """#)))
        #expect(SchemaRecorder.schema(for: [[Int32]].self) == (try json(#"{"type": "array", "items": {"type": "array", "items": {"type": "integer", "format": "int32"}}}"#)))
        #expect(SchemaRecorder.schema(for: [String: [Bool]].self) == (try json(#"{"type": "object", "additionalProperties": {"type": "array", "items": {"type": "boolean"}}}"#)))
        #expect(SchemaRecorder.schema(for: Int?.self) == (try json(#"{"type": "integer", "format": "int64"}"#)))
        #expect(SchemaRecorder.schema(for: [Color?].self) == (try json(#"{"type": "array", "items": {"type": "string", "enum": ["red", "green"]}}"#)))
    }

    @Test func recursiveTypesTerminateAndKeepTheirOtherProperties() throws {
        #expect(SchemaRecorder.schema(for: Tree.self) == (try json(#"""
        {
          "type": "object",
          "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {}},
            "byName": {"type": "object", "additionalProperties": {}},
            "size": {"type": "integer", "format": "int64"}
          },
          "required": ["byName", "children", "name", "size"]
        }
        """#)))
        #expect(SchemaRecorder.schema(for: Link.self) == (try json(#"""
        {"type": "object", "properties": {"value": {"type": "integer", "format": "int64"}, "next": {}}, "required": ["value"]}
        """#)))
        #expect(SchemaRecorder.schema(for: Loop.self) == (try json(#"""
        {"type": "object", "properties": {"label": {"type": "string"}, "next": {}}, "required": ["label", "next"]}
        """#)))
    }

    @Test func aThrowingInitKeepsWhatItReadBeforeTheThrow() throws {
        #expect(SchemaRecorder.schema(for: Validated.self) == (try json(#"""
        {"type": "object", "properties": {"name": {"type": "string"}, "limit": {"type": "integer", "format": "int64"}}, "required": ["limit", "name"]}
        """#)))
        // An optional value that cannot be made is nil: the properties after it are still read.
        #expect(SchemaRecorder.schema(for: Settings.self) == (try json(#"""
        {
          "type": "object",
          "properties": {"label": {"type": "string"}, "mode": {"type": ["string", "null"]}, "size": {"type": "integer", "format": "int64"}},
          "required": ["label", "size"]
        }
        """#)))
    }

    @Test func singleValueTypesAreTheSchemaOfWhatTheyRead() throws {
        let string = try json(#"{"type": "string"}"#)
        #expect(SchemaRecorder.schema(for: Email.self) == string)
        #expect(SchemaRecorder.schema(for: Mode.self) == string)
        #expect(SchemaRecorder.schema(for: Contact.self) == (try json(#"""
        {"type": "object", "properties": {"others": {"type": ["array", "null"], "items": {"type": "string"}}, "email": {"type": "string"}}, "required": ["email"]}
        """#)))
    }

    @Test func enumsWithAssociatedValuesDegradeToAnything() {
        enum Shape: Decodable { case circle(radius: Double), square(side: Double) }
        #expect(SchemaRecorder.schema(for: Shape.self) == .object([:]))
    }
}

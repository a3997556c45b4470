import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// The conversation API: create, list, rename, delete (owner only, others 404), messages
/// answered by the no-model assistant, and search with highlighted snippets.
@Suite struct ChatRoutesTests {
    @Test func conversationsThroughTheAPI() async throws {
        let (harness, _) = try await ToolRoutesTests.world()
        try await harness.test { client in
            let olga = try await ToolRoutesTests.signIn(client, "olga"), ada = try await ToolRoutesTests.signIn(client, "ada")
            let id = try await client.execute(uri: "/api/sessions", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"title":"Disk on db-1"}"#)) { response throws in
                #expect(response.status == .created)
                return try #require(try ToolRoutesTests.json(response)["id"]?.string)
            }
            try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers,
                                     body: ByteBuffer(string: #"{"text":"the database server is running out of disk space"}"#)) { response throws in
                #expect(response.status == .created)
                let turns = try #require(try ToolRoutesTests.json(response)["turns"]?.array)
                #expect(turns.map { $0["role"] } == [.string("user"), .string("assistant")])
                #expect(turns[1]["suggestedTools"]?.strings?.contains("host.disk-usage") == true)
            }
            try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"text":"/host.tcp-check {\"port\":\"x\"}"}"#)) { response throws in
                #expect(response.status == .created, "a refused run is the assistant's answer, not an error")
                #expect(try ToolRoutesTests.json(response)["turns"]?.array?.last?["text"]?.string?.contains("port must be integer") == true)
            }
            try await client.execute(uri: "/api/sessions/\(id)/turns", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"text":"/host.memory {oops"}"#)) { response throws in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/api/sessions", method: .get, headers: olga.headers) { response throws in
                let sessions = try #require(try ToolRoutesTests.json(response)["sessions"]?.array)
                #expect(sessions.map { $0["id"] } == [.string(id)] && sessions[0]["turnCount"] == .number(4))
            }
            // Another person: 404 for reading, renaming, deleting and writing.
            for (method, uri, body) in [(HTTPRequest.Method.get, "/api/sessions/\(id)/turns", ""), (.patch, "/api/sessions/\(id)", #"{"title":"x"}"#),
                                        (.delete, "/api/sessions/\(id)", ""), (.post, "/api/sessions/\(id)/turns", #"{"text":"hi"}"#)] {
                try await client.execute(uri: uri, method: method, headers: ada.headers, body: ByteBuffer(string: body)) { response in
                    if method == .get {
                        #expect(response.status == .ok, "admins may read (sessions:read-all)")
                    } else {
                        #expect(response.status == .notFound, "\(method) \(uri)")
                    }
                }
            }
            // Search by a paraphrase, with the shared words marked.
            try await client.execute(uri: "/api/search?q=db%20host%20low%20on%20disk&kind=turns", method: .get, headers: olga.headers) { response throws in
                let results = try #require(try ToolRoutesTests.json(response)["results"]?.array)
                #expect(results.first?["sessionID"] == .string(id))
                #expect(results.first?["snippet"]?.string?.contains("[[disk]]") == true)
            }
            try await client.execute(uri: "/api/search?q=memory&kind=tools", method: .get, headers: olga.headers) { response throws in
                #expect(try ToolRoutesTests.json(response)["results"]?.array?.first?["tool"] == .string("host.memory"))
            }
            try await client.execute(uri: "/api/search?q=x&kind=bogus", method: .get, headers: olga.headers) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/search", method: .get, headers: olga.headers) { #expect($0.status == .badRequest) }

            try await client.execute(uri: "/api/sessions/\(id)", method: .patch, headers: olga.headers, body: ByteBuffer(string: #"{"title":"Disk on db-2"}"#)) { response throws in
                #expect(try ToolRoutesTests.json(response)["title"] == .string("Disk on db-2"))
            }
            try await client.execute(uri: "/api/sessions/\(id)", method: .delete, headers: olga.headers) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/sessions/\(id)", method: .get, headers: olga.headers) { #expect($0.status == .notFound) }
        }
    }
}

import Testing
@testable import Appliance

@Suite struct TOMLDocumentTests {
    @Test func parsesTheSubsetTheConfigurationUses() throws {
        let document = try TOMLDocument(parsing: """
            # comment
            top = 'literal # not a comment'
            [server]
            host = "a \\"quoted\\" \\u00e9 value" # trailing comment
            port = 8_080
            ratio = 0.5
            on = true
            """)
        #expect(document.values["top"] == "literal # not a comment")
        #expect(document.values["server.host"] == "a \"quoted\" é value")
        #expect(document.values["server.port"] == "8080")
        #expect(document.values["server.ratio"] == "0.5")
        #expect(document.values["server.on"] == "true")
        #expect(document.lines["server.port"] == 5)
    }

    @Test(arguments: [
        ("a = [1, 2]", 1),
        ("a = \"open", 1),
        ("x = 1\nx = 2", 2),
        ("[[array]]", 1),
        ("a = \"\"\"multi", 1),
        ("a = \"bad \\q escape\"", 1),
        ("= 3", 1),
    ])
    func refusesWhatItDoesNotUnderstand(text: String, line: Int) {
        #expect(throws: TOMLDocument.ParseError.self) { try TOMLDocument(parsing: text) }
        do {
            _ = try TOMLDocument(parsing: text)
        } catch {
            #expect(error.line == line)
        }
    }
}

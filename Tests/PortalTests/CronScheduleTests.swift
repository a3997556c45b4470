import FoundationEssentials
import Testing
@testable import Portal

@Suite struct CronScheduleTests {
    static func instant(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }

    /// The first `count` firings after `start`, in ISO 8601 (UTC).
    static func firings(_ schedule: CronSchedule, after start: String, count: Int) throws -> [String] {
        var result: [String] = []
        var current = try instant(start)
        for _ in 0..<count {
            current = try #require(schedule.next(after: current))
            result.append(current.formatted(.iso8601))
        }
        return result
    }

    static func berlin() throws -> ZoneInfo { try ZoneInfo.named("Europe/Berlin") }

    // MARK: Parsing

    @Test(arguments: [
        ("60 * * * *", "minute field: 60 is out of range 0-59"),
        ("-1 * * * *", "minute field"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * FOO *", "month field: \"FOO\" is not a number or a name like FEB"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("* * * * JAN", "day-of-week field"),
        ("* * * * MON-", "day-of-week field"),
        ("*/0 * * * *", "minute field: step \"0\""),
        ("* */x * * *", "hour field: step \"x\""),
        ("*/60 * * * *", "minute field: step \"60\""),
        ("1,,2 * * * *", "minute field: empty list item"),
        ("* * 20-10 * *", "day-of-month field: range \"20-10\" runs backwards"),
        ("* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, found 6"),
        ("* * * *", "found 4"),
        ("", "found 0"),
        ("@reboot", "unknown macro @reboot"),
    ])
    func malformedExpressionsAreRejectedNamingTheField(expression: String, message: String) {
        let error = #expect(throws: CronScheduleError.self) { try CronSchedule(expression) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
    }

    @Test func macrosNamesAndSundaySevenMeanTheirExpansions() throws {
        #expect(try CronSchedule("@monthly") == CronSchedule("0 0 1 * *"))
        #expect(try CronSchedule("@daily") == CronSchedule("@midnight"))
        #expect(try CronSchedule("@annually") == CronSchedule("0 0 1 1 *"))
        #expect(try CronSchedule("  0 0 * jan-Mar sun ") == CronSchedule("0 0 * 1-3 7"))
        #expect(try CronSchedule("0 0 * * 5-7") == CronSchedule("0 0 * * 0,5,6"))
        #expect(try CronSchedule("10/20 * * * *") == CronSchedule("10,30,50 * * * *"), "a/n runs to the field's end")
    }

    // MARK: Next firing

    @Test func everyQuarterHourFiresStrictlyAfterTheInstant() throws {
        let schedule = try CronSchedule("*/15 * * * *")
        #expect(try Self.firings(schedule, after: "2026-01-01T00:50:00Z", count: 5) == [
            "2026-01-01T01:00:00Z", "2026-01-01T01:15:00Z", "2026-01-01T01:30:00Z", "2026-01-01T01:45:00Z", "2026-01-01T02:00:00Z",
        ])
        #expect(schedule.next(after: try Self.instant("2026-01-01T01:00:00Z")) == (try Self.instant("2026-01-01T01:15:00Z")))
        let justBefore = try Self.instant("2026-01-01T01:00:00Z").addingTimeInterval(-0.5)
        #expect(schedule.next(after: justBefore) == (try Self.instant("2026-01-01T01:00:00Z")))
    }

    @Test func weekdayJobsSkipTheWeekend() throws {
        let schedule = try CronSchedule("0 9 * * MON-FRI")
        #expect(try Self.firings(schedule, after: "2026-01-09T10:00:00Z", count: 3) == [
            "2026-01-12T09:00:00Z", "2026-01-13T09:00:00Z", "2026-01-14T09:00:00Z",
        ])
    }

    @Test func restrictedDayOfMonthAndDayOfWeekMatchEither() throws {
        // 2 and 9 January 2026 are Fridays, the 13th a Tuesday.
        let either = try CronSchedule("0 0 13 * FRI")
        #expect(try Self.firings(either, after: "2026-01-01T00:00:00Z", count: 4) == [
            "2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z",
        ])
        // A day-of-month field starting with `*` is not "restricted": odd days that are Mondays.
        let both = try CronSchedule("0 0 */2 * MON")
        #expect(try Self.firings(both, after: "2026-01-01T00:00:00Z", count: 3) == [
            "2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z",
        ])
    }

    @Test func monthlyFiresOnTheFirst() throws {
        #expect(try Self.firings(CronSchedule("@monthly"), after: "2026-01-15T12:00:00Z", count: 3) == [
            "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z",
        ])
    }

    @Test func impossibleDatesNeverFireAndLeapDaysDo() throws {
        #expect(try CronSchedule("0 0 30 2 *").next(after: Self.instant("2026-01-01T00:00:00Z")) == nil)
        #expect(try CronSchedule("0 0 31 4,6,9,11 *").next(after: Self.instant("2026-01-01T00:00:00Z")) == nil)
        // 2100 is no leap year: the next 29 February after 2096 is eight years away.
        #expect(try Self.firings(CronSchedule("0 0 29 2 *"), after: "2096-03-01T00:00:00Z", count: 1) == ["2104-02-29T00:00:00Z"])
    }

    // MARK: Time zones and daylight saving time

    @Test func springForwardFiresOnceWhenTheClockJumps() throws {
        // Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 does not exist.
        let schedule = try CronSchedule("30 2 * * *", timeZone: Self.berlin())
        #expect(try Self.firings(schedule, after: "2026-03-28T12:00:00Z", count: 2) == [
            "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z",
        ])
        // Two skipped times collapse into one firing.
        let twice = try CronSchedule("0,30 2 * * *", timeZone: Self.berlin())
        #expect(try Self.firings(twice, after: "2026-03-28T12:00:00Z", count: 2) == [
            "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z",
        ])
    }

    @Test func fallBackFiresOnlyAtTheFirstOccurrence() throws {
        // Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens twice.
        let schedule = try CronSchedule("30 2 * * *", timeZone: Self.berlin())
        #expect(try Self.firings(schedule, after: "2026-10-24T12:00:00Z", count: 2) == [
            "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z",
        ])
        // From inside the repeated hour (02:15 CET), the second 02:30 is skipped too.
        #expect(try Self.firings(schedule, after: "2026-10-25T01:15:00Z", count: 1) == ["2026-10-26T01:30:00Z"])
    }

    @Test func wildcardHourJobsFollowRealTime() throws {
        let schedule = try CronSchedule("*/30 * * * *", timeZone: Self.berlin())
        // Spring: 01:30 CET, then 03:00 CEST (the clock jumps), every half hour of real time.
        #expect(try Self.firings(schedule, after: "2026-03-29T00:00:00Z", count: 3) == [
            "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z",
        ])
        // Autumn: 02:00 and 02:30 fire in both CEST and CET.
        #expect(try Self.firings(schedule, after: "2026-10-24T23:45:00Z", count: 4) == [
            "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z",
        ])
    }

    @Test func newYorkNineOClockFollowsDaylightTime() throws {
        let schedule = try CronSchedule("0 9 * * *", timeZone: ZoneInfo.named("America/New_York"))
        #expect(try Self.firings(schedule, after: "2026-01-15T00:00:00Z", count: 1) == ["2026-01-15T14:00:00Z"])
        #expect(try Self.firings(schedule, after: "2026-07-15T00:00:00Z", count: 1) == ["2026-07-15T13:00:00Z"])
    }

    @Test func berlinOffsetsIncludingYearsAfterTheLastTransition() throws {
        let zone = try Self.berlin()
        #expect(zone.offset(at: try Self.instant("2026-01-15T12:00:00Z")) == 3600)
        #expect(zone.offset(at: try Self.instant("2026-07-15T12:00:00Z")) == 7200)
        let lastTransition = try #require(zone.transitions.last)
        #expect(lastTransition < Int(try Self.instant("2100-01-01T00:00:00Z").timeIntervalSince1970), "2100 needs the footer rule")
        #expect(zone.offset(at: try Self.instant("2100-01-15T12:00:00Z")) == 3600)
        #expect(zone.offset(at: try Self.instant("2100-07-15T12:00:00Z")) == 7200)
        // The footer's transitions to the second: 28 March 2100 and 31 October 2100, 01:00 UTC.
        #expect(zone.offset(at: try Self.instant("2100-03-28T00:59:59Z")) == 3600)
        #expect(zone.offset(at: try Self.instant("2100-03-28T01:00:00Z")) == 7200)
        #expect(zone.offset(at: try Self.instant("2100-10-31T00:59:59Z")) == 7200)
        #expect(zone.offset(at: try Self.instant("2100-10-31T01:00:00Z")) == 3600)
    }

    @Test(arguments: ["../etc/passwd", "/etc/passwd", "Europe/../../etc/passwd", "Europe/Berlin;id", "Europe\\Berlin", "Europa/Zürich", ""])
    func zoneNamesCannotLeaveTheZoneDirectory(name: String) {
        let error = #expect(throws: CronScheduleError.self) { try ZoneInfo.named(name) }
        #expect(error?.description.contains("is not a valid zone name") == true)
    }

    @Test func utcNeedsNoFileAndMissingZonesAreReported() throws {
        #expect(try ZoneInfo.named("UTC", root: "/nonexistent") == .utc)
        #expect(try ZoneInfo.named("Etc/UTC", root: "/nonexistent") == .utc)
        let error = #expect(throws: CronScheduleError.self) { try ZoneInfo.named("Europe/Nowhere") }
        #expect(error?.description == "time zone \"Europe/Nowhere\": cannot read /usr/share/zoneinfo/Europe/Nowhere")
    }

    @Test func posixRulesAloneGiveOffsets() throws {
        let newYork = try ZoneInfo(posixTZ: "EST5EDT,M3.2.0,M11.1.0")
        #expect(newYork.offset(at: try Self.instant("2026-03-08T06:59:59Z")) == -18_000)
        #expect(newYork.offset(at: try Self.instant("2026-03-08T07:00:00Z")) == -14_400)
        #expect(newYork.offset(at: try Self.instant("2026-11-01T05:59:59Z")) == -14_400)
        #expect(newYork.offset(at: try Self.instant("2026-11-01T06:00:00Z")) == -18_000)
        #expect(try ZoneInfo(posixTZ: "<+03>-3").offset(at: Self.instant("2026-07-01T00:00:00Z")) == 10_800)
        // Southern hemisphere: daylight time spans the new year.
        let sydney = try ZoneInfo(posixTZ: "AEST-10AEDT,M10.1.0,M4.1.0/3")
        #expect(sydney.offset(at: try Self.instant("2026-01-15T00:00:00Z")) == 39_600)
        #expect(sydney.offset(at: try Self.instant("2026-07-15T00:00:00Z")) == 36_000)
        // Times past 24 hours and negative times (Israel, Greenland).
        let israel = try ZoneInfo(posixTZ: "IST-2IDT,M3.4.4/26,M10.5.0")
        #expect(israel.offset(at: try Self.instant("2026-03-26T23:59:59Z")) == 7200)
        #expect(israel.offset(at: try Self.instant("2026-03-27T00:00:00Z")) == 10_800)
        let nuuk = try ZoneInfo(posixTZ: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
        #expect(nuuk.offset(at: try Self.instant("2026-03-29T00:59:59Z")) == -7200)
        #expect(nuuk.offset(at: try Self.instant("2026-03-29T01:00:00Z")) == -3600)
        // Daylight time all year.
        #expect(try ZoneInfo(posixTZ: "EST5EDT,0/0,J365/25").offset(at: Self.instant("2026-12-31T12:00:00Z")) == -14_400)
        for bad in ["CET", "CET-1CEST", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0", "<+03-3", "CE-1"] {
            #expect(throws: CronScheduleError.self, "\(bad)") { try ZoneInfo(posixTZ: bad) }
        }
    }

    /// A "slim" TZif file written by `zic -b slim` from
    ///
    ///     Rule EU 1981 max - Mar lastSun 1:00u 1:00 S
    ///     Rule EU 1996 max - Oct lastSun 1:00u 0 -
    ///     Zone Test/Slim 1:00 - CET 2025 Mar 30 1:00u
    ///       1:00 EU CE%sT
    ///
    /// Its empty version 1 block, one transition (30 March 2025) and the footer rule after it.
    static let slimFile = "VFppZjIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAEAAAAAAAAAVFppZjIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAAAgAAAAkAAAAAZ+iXkAEAAA4QAAAAABwgAQRDRVQAQ0VTVAAKQ0VULTFDRVNULE0zLjUuMCxNMTAuNS4wLzMK"

    @Test func slimFilesAreReadFromTheGivenRoot() throws {
        let bytes = try #require(Data(base64Encoded: Self.slimFile))
        let root = FileManager.default.temporaryDirectory.appending(path: "portal-zoneinfo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appending(path: "Test"), withIntermediateDirectories: true)
        try bytes.write(to: root.appending(path: "Test/Slim"))

        let zone = try ZoneInfo.named("Test/Slim", root: root.path)
        #expect(zone.identifier == "Test/Slim")
        #expect(zone.transitions.count == 1)
        #expect(zone.offset(at: try Self.instant("2024-07-01T00:00:00Z")) == 3600, "no daylight time before the transition")
        #expect(zone.offset(at: try Self.instant("2025-07-01T00:00:00Z")) == 7200)
        #expect(zone.offset(at: try Self.instant("2025-12-01T00:00:00Z")) == 3600, "the footer rule")
        #expect(zone.offset(at: try Self.instant("2031-03-30T01:00:00Z")) == 7200)
    }

    @Test func damagedFilesAreRejected() throws {
        let bytes = try #require(Data(base64Encoded: Self.slimFile))
        let truncated = #expect(throws: CronScheduleError.self) { try ZoneInfo(tzif: Array(bytes.prefix(100)), identifier: "Test/Slim") }
        #expect(truncated?.description == "time zone \"Test/Slim\": the TZif file is truncated")
        let notTZif = #expect(throws: CronScheduleError.self) { try ZoneInfo(tzif: Array("# comment\n".utf8), identifier: "zone.tab") }
        #expect(notTZif?.description == "time zone \"zone.tab\": not a TZif file")
    }
}

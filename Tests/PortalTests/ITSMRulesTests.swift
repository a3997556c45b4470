import Foundation
import Testing
@testable import Portal

/// The rules under incidents and SLAs: the priority matrix, the incident state machine,
/// business calendars (working hours, holidays, daylight saving), holiday files, and SLA
/// clocks that pause — all on given instants, never on the machine's clock.
@Suite struct ITSMRulesTests {
    static func at(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    // MARK: Priority

    @Test(arguments: [
        (Level.high, Level.high, 1), (.high, .medium, 2), (.high, .low, 3),
        (.medium, .high, 2), (.medium, .medium, 3), (.medium, .low, 4),
        (.low, .high, 3), (.low, .medium, 4), (.low, .low, 5),
    ])
    func theStandardMatrix(_ impact: Level, _ urgency: Level, _ priority: Int) throws {
        #expect(PriorityMatrix.standard.priority(impact: impact, urgency: urgency) == priority)
        try PriorityMatrix.standard.check()
    }

    @Test func anOrganizationsMatrixKeepsTheOrder() throws {
        var strict = PriorityMatrix.standard
        strict.priorities["medium/high"] = 1
        try strict.check()
        #expect(strict.priority(impact: .medium, urgency: .high) == 1)

        var inverted = PriorityMatrix.standard
        inverted.priorities["high/high"] = 4
        #expect(throws: PortalError.invalid("priorities: high/high is 4, lower than high/medium (2); more impact or urgency may not lower the priority")) {
            try inverted.check()
        }
        var missing = PriorityMatrix.standard
        missing.priorities["low/low"] = nil
        #expect(throws: PortalError.self) { try missing.check() }
        var outOfRange = PriorityMatrix.standard
        outOfRange.priorities["low/low"] = 6
        #expect(throws: PortalError.self) { try outOfRange.check() }
    }

    // MARK: States

    static let allowedMoves: Set<String> = [
        "new>in-progress", "new>pending", "new>resolved",
        "in-progress>pending", "in-progress>resolved",
        "pending>in-progress", "pending>resolved",
        "resolved>in-progress", "resolved>closed",
    ]

    @Test(arguments: IncidentState.allCases)
    func everyMoveIsAllowedOrRefusedNamingTheAllowedOnes(_ from: IncidentState) {
        for to in IncidentState.allCases {
            let allowed = Self.allowedMoves.contains("\(from.rawValue)>\(to.rawValue)")
            do {
                try from.check(moveTo: to)
                #expect(allowed, "\(from) → \(to) should be refused")
            } catch let PortalError.conflict(message) {
                #expect(!allowed, "\(from) → \(to) should be allowed")
                for next in from.next { #expect(message.contains(next.rawValue)) }
                if from == .closed { #expect(message.contains("final")) }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(from.clocksRun == (from == .new || from == .inProgress))
    }

    // MARK: Business time

    /// Monday 2026-11-30 is a working day; 9:00–17:00 in UTC.
    @Test(arguments: [
        // The issue's example: 16:00 with 2 h to answer, the day ends at 17:00, so 10:00 the next day.
        ("2026-11-30T16:00:00Z", 2 * 3600, "2026-12-01T10:00:00Z"),
        // Before opening: counting starts at 09:00.
        ("2026-11-30T07:00:00Z", 3600, "2026-11-30T10:00:00Z"),
        // Friday afternoon to Monday morning over the weekend.
        ("2026-12-04T16:30:00Z", 3600, "2026-12-07T09:30:00Z"),
        // Saturday: the next working time is Monday.
        ("2026-12-05T12:00:00Z", 1800, "2026-12-07T09:30:00Z"),
        // Exactly a working day.
        ("2026-11-30T09:00:00Z", 8 * 3600, "2026-11-30T17:00:00Z"),
        // Zero: now, within working hours.
        ("2026-11-30T11:11:00Z", 0, "2026-11-30T11:11:00Z"),
        // Zero after hours: the next opening.
        ("2026-11-30T18:00:00Z", 0, "2026-12-01T09:00:00Z"),
        // Five working days from Monday 09:00 is the next Monday 09:00... less a second.
        ("2026-11-30T09:00:00Z", 40 * 3600 - 1, "2026-12-04T16:59:59Z"),
    ])
    func deadlinesCountOnlyWorkingHours(_ start: String, _ seconds: Int, _ expected: String) throws {
        let clock = try BusinessCalendar.weekdays().check()
        #expect(clock.adding(seconds, to: Self.at(start)) == Self.at(expected))
    }

    @Test func holidaysAndSplitDaysAreSkipped() throws {
        // Tuesday 1 December is a holiday: Monday 16:00 + 2 h is Wednesday 10:00.
        var calendar = BusinessCalendar.weekdays()
        calendar.holidays = ["2026-12-01"]
        let clock = try calendar.check()
        #expect(clock.adding(7200, to: Self.at("2026-11-30T16:00:00Z")) == Self.at("2026-12-02T10:00:00Z"))
        #expect(clock.seconds(from: Self.at("2026-11-30T16:00:00Z"), to: Self.at("2026-12-02T10:00:00Z")) == 7200)
        #expect(!clock.isWorking(Self.at("2026-12-01T11:00:00Z")) && clock.isWorking(Self.at("2026-12-02T11:00:00Z")))
        // Lunch from 12:00 to 13:00.
        let split = try BusinessCalendar(name: "Split", hours: (1...5).flatMap { [BusinessCalendar.Hours(weekday: $0, from: "09:00", to: "12:00"),
                                                                               BusinessCalendar.Hours(weekday: $0, from: "13:00", to: "17:00")] }).check()
        #expect(split.adding(3600, to: Self.at("2026-11-30T11:30:00Z")) == Self.at("2026-11-30T13:30:00Z"))
        #expect(split.seconds(from: Self.at("2026-11-30T08:00:00Z"), to: Self.at("2026-11-30T20:00:00Z")) == 7 * 3600)
        // A 24×7 service counts every second.
        let always = try BusinessCalendar.always.check()
        #expect(always.adding(86_400 * 3, to: Self.at("2026-12-05T12:00:00Z")) == Self.at("2026-12-08T12:00:00Z"))
    }

    /// Berlin moves its clocks forward on 2026-03-29 at 02:00 (to 03:00) and back on
    /// 2026-10-25 at 03:00 (to 02:00). Business time is wall-clock time in the zone.
    @Test func daylightSavingChangesFollowTheWallClock() throws {
        let office = try BusinessCalendar.weekdays(timeZone: "Europe/Berlin").check()
        // Friday 27 March, 16:00 CET (15:00Z) + 2 h: Monday 30 March 10:00 CEST (08:00Z).
        #expect(office.adding(7200, to: Self.at("2026-03-27T15:00:00Z")) == Self.at("2026-03-30T08:00:00Z"))
        // Friday 23 October, 16:00 CEST (14:00Z) + 2 h: Monday 26 October 10:00 CET (09:00Z).
        #expect(office.adding(7200, to: Self.at("2026-10-23T14:00:00Z")) == Self.at("2026-10-26T09:00:00Z"))
        let always = try BusinessCalendar(name: "24×7 Berlin", timeZone: "Europe/Berlin", hours: BusinessCalendar.always.hours).check()
        // Saturday 22:00 CET + 6 wall-clock hours is Sunday 04:00 CEST: 5 real hours.
        #expect(always.adding(6 * 3600, to: Self.at("2026-03-28T21:00:00Z")) == Self.at("2026-03-29T02:00:00Z"))
        // A deadline at 02:15, a time Berlin skips that night, is the jump itself (03:00 CEST).
        #expect(always.adding(105 * 60, to: Self.at("2026-03-28T23:30:00Z")) == Self.at("2026-03-29T01:00:00Z"))
    }

    @Test(arguments: [
        (BusinessCalendar(name: "x", hours: []), "at least one day"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "10:00", to: "10:00")]), "is empty"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "17:00", to: "09:00")]), "is empty"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "09:00", to: "12:00"), .init(weekday: 1, from: "11:00", to: "13:00")]),
         "hours[1]: 11:00–13:00 overlaps 09:00–12:00 on Monday"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 7, from: "09:00", to: "12:00")]), "weekday"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "9:00", to: "12:00")]), "HH:MM"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "09:00", to: "24:30")]), "HH:MM"),
        (BusinessCalendar(name: "x", timeZone: "Mars/Olympus", hours: [.init(weekday: 1, from: "09:00", to: "12:00")]), "timeZone"),
        (BusinessCalendar(name: "x", hours: [.init(weekday: 1, from: "09:00", to: "12:00")], holidays: ["2026-02-30"]), "holidays[0]"),
    ])
    func badCalendarsAreRefusedWithTheReason(_ calendar: BusinessCalendar, _ reason: String) {
        do {
            _ = try calendar.check()
            Issue.record("accepted: \(calendar)")
        } catch let PortalError.invalid(message) {
            #expect(message.contains(reason), "\(message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    // MARK: Holiday files

    @Test func holidaysComeFromAnICalendarFile() throws {
        let file = """
        BEGIN:VCALENDAR\r
        VERSION:2.0\r
        PRODID:-//Example//Holidays//EN\r
        BEGIN:VEVENT\r
        UID:1\r
        DTSTART;VALUE=DATE:20261225\r
        DTEND;VALUE=DATE:20261227\r
        SUMMARY:Christmas\r
         holidays\r
        END:VEVENT\r
        BEGIN:VEVENT\r
        DTSTART;VALUE=DATE:20270101\r
        RRULE:FREQ=YEARLY\r
        SUMMARY:New Year\r
        END:VEVENT\r
        BEGIN:VEVENT\r
        DTSTART:20260501T000000Z\r
        SUMMARY:Labour day\r
        END:VEVENT\r
        END:VCALENDAR\r

        """
        let days = try HolidayFile.holidays(file, years: 3)
        #expect(days == ["2026-05-01", "2026-12-25", "2026-12-26", "2027-01-01", "2028-01-01", "2029-01-01"])
        var calendar = BusinessCalendar.weekdays()
        calendar.holidays = days
        _ = try calendar.check()
    }

    @Test(arguments: [
        ("BEGIN:VEVENT\nEND:VEVENT\n", 1, "starts with BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261332\nEND:VEVENT\nEND:VCALENDAR\n", 3, "is not a date"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n", 2, "no DTSTART"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nEND:VEVENT\n", 5, "without END:VCALENDAR"),
        ("BEGIN:VCALENDAR\nthis line is broken\nEND:VCALENDAR\n", 2, "has no ':'"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=WEEKLY\nEND:VEVENT\nEND:VCALENDAR\n", 4, "yearly"),
    ])
    func aFileThatDoesNotParseNamesTheLine(_ text: String, _ line: Int, _ reason: String) {
        do {
            _ = try HolidayFile.holidays(text)
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.line == line && error.message.contains(reason), "\(error)")
        }
    }

    // MARK: SLA clocks

    @Test func aClockPausesAndItsDeadlineMovesByThePausedBusinessTime() throws {
        let calendar = BusinessCalendar.weekdays()
        var clock = try SLAClock(sla: "P2", version: 3, target: .firstResponse, calendar: calendar, targetSeconds: 7200, warnAtPercent: 75,
                                 start: Self.at("2026-11-30T16:00:00Z"))
        #expect(clock.dueAt == Self.at("2026-12-01T10:00:00Z") && clock.warnAt == Self.at("2026-12-01T09:30:00Z"))
        // Pending from 16:30 to the next day 11:00 (30 minutes counted).
        try clock.pause(at: Self.at("2026-11-30T16:30:00Z"))
        #expect(clock.state == .paused && clock.elapsedSeconds == 1800 && clock.dueAt == nil)
        #expect(try clock.elapsed(at: Self.at("2026-12-01T10:59:00Z")) == 1800, "paused time does not count")
        try clock.resume(at: Self.at("2026-12-01T11:00:00Z"))
        #expect(clock.dueAt == Self.at("2026-12-01T12:30:00Z"), "90 minutes left from 11:00")
        #expect(clock.warnAt == Self.at("2026-12-01T12:00:00Z"), "the warning at 75% (90 minutes counted) moved too")
        #expect(try clock.percent(at: Self.at("2026-12-01T11:45:00Z")) == 62.5)
        try clock.stop(at: Self.at("2026-12-01T12:15:00Z"))
        #expect(clock.state == .met && clock.elapsedSeconds == 6300 && clock.stoppedAt == Self.at("2026-12-01T12:15:00Z"))
        // Stopping again changes nothing.
        try clock.stop(at: Self.at("2026-12-05T12:15:00Z"))
        #expect(clock.state == .met && clock.elapsedSeconds == 6300)

        var late = try SLAClock(sla: "P2", version: 3, target: .resolution, calendar: calendar, targetSeconds: 3600, warnAtPercent: nil, start: Self.at("2026-11-30T09:00:00Z"))
        #expect(late.warnAt == nil)
        try late.stop(at: Self.at("2026-11-30T10:00:01Z"))
        #expect(late.state == .breached)
    }

    /// A definition changed while a clock runs does not move it: the clock keeps the calendar
    /// and target it started with.
    @Test func aRunningClockKeepsItsDefinition() throws {
        var calendar = BusinessCalendar.weekdays()
        var clock = try SLAClock(sla: "P3", version: 1, target: .resolution, calendar: calendar, targetSeconds: 4 * 3600, warnAtPercent: 50,
                                 start: Self.at("2026-11-30T15:00:00Z"))
        let due = clock.dueAt
        calendar.hours = BusinessCalendar.always.hours
        try clock.pause(at: Self.at("2026-11-30T16:00:00Z"))
        try clock.resume(at: Self.at("2026-11-30T16:00:00Z"))
        #expect(clock.dueAt == due && clock.dueAt == Self.at("2026-12-01T11:00:00Z") && clock.slaVersion == 1)
        let encoded = try JSONEncoder().encode(clock)
        #expect(try JSONDecoder().decode(SLAClock.self, from: encoded) == clock)
    }
}

public import FoundationEssentials

/// When a team works: a time zone, working hours per weekday (several intervals a day are
/// allowed, e.g. 09:00–12:00 and 13:00–17:00) and holidays. SLA clocks count only this time.
///
/// Guarantees: `check()` refuses a calendar with an unknown zone, no working hours at all, an
/// empty or reversed interval, or intervals that overlap on one day, naming which. Business
/// time is counted on the wall clock of the calendar's zone: an interval is its length in
/// local hours on every day, daylight-saving changes included, and a deadline that falls on a
/// wall time the clock skips is the first instant after the jump.
public struct BusinessCalendar: Codable, Sendable, Equatable {
    /// One working interval on a weekday (0 is Sunday … 6 Saturday), local `HH:MM` to `HH:MM`
    /// (`24:00` ends the day).
    public struct Hours: Codable, Sendable, Equatable {
        public var weekday: Int
        public var from: String
        public var to: String

        public init(weekday: Int, from: String, to: String) {
            self.weekday = weekday
            self.from = from
            self.to = to
        }
    }

    public var name: String
    /// An IANA zone (`Europe/Berlin`); `UTC` when absent.
    public var timeZone: String
    public var hours: [Hours]
    /// Days off, `YYYY-MM-DD` in the calendar's zone.
    public var holidays: [String]

    public init(name: String, timeZone: String = "UTC", hours: [Hours], holidays: [String] = []) {
        self.name = name
        self.timeZone = timeZone
        self.hours = hours
        self.holidays = holidays
    }

    /// Monday to Friday, 09:00–17:00.
    public static func weekdays(_ name: String = "Office hours", timeZone: String = "UTC", from: String = "09:00", to: String = "17:00") -> BusinessCalendar {
        BusinessCalendar(name: name, timeZone: timeZone, hours: (1...5).map { Hours(weekday: $0, from: from, to: to) })
    }

    /// Every day, all day (a 24×7 service).
    public static let always = BusinessCalendar(name: "24×7", hours: (0...6).map { Hours(weekday: $0, from: "00:00", to: "24:00") })

    /// The calendar ready to count with, or `PortalError.invalid` naming what is wrong.
    public func check() throws -> BusinessClock {
        guard (1...100).contains(name.count) else { throw PortalError.invalid("a calendar's name is 1 to 100 characters") }
        let zone: ZoneInfo
        do { zone = try ZoneInfo.named(timeZone) } catch { throw PortalError.invalid("timeZone: \(error.description)") }
        guard !hours.isEmpty else { throw PortalError.invalid("hours: a calendar needs working hours on at least one day") }
        guard hours.count <= 70 else { throw PortalError.invalid("hours: at most 70 intervals") }
        var intervals = [[(Int, Int)]](repeating: [], count: 7)
        for (index, interval) in hours.enumerated() {
            let field = "hours[\(index)]"
            guard (0...6).contains(interval.weekday) else { throw PortalError.invalid("\(field).weekday must be 0 (Sunday) to 6 (Saturday)") }
            guard let start = Self.minutes(interval.from), let end = Self.minutes(interval.to) else {
                throw PortalError.invalid("\(field): times are HH:MM, from 00:00 to 24:00")
            }
            guard start < end else { throw PortalError.invalid("\(field): \(interval.from)–\(interval.to) is empty; it must end after it starts") }
            if let clash = intervals[interval.weekday].first(where: { $0.0 < end && start < $0.1 }) {
                throw PortalError.invalid("\(field): \(interval.from)–\(interval.to) overlaps \(Self.clock(clash.0))–\(Self.clock(clash.1)) on \(Self.weekdayNames[interval.weekday])")
            }
            intervals[interval.weekday].append((start, end))
        }
        guard holidays.count <= 2000 else { throw PortalError.invalid("holidays: at most 2000 days") }
        var days = Set<Int>()
        for (index, holiday) in holidays.enumerated() {
            guard let day = Self.day(holiday) else { throw PortalError.invalid("holidays[\(index)]: '\(holiday.prefix(20))' is not a date (YYYY-MM-DD)") }
            days.insert(day)
        }
        return BusinessClock(zone: zone, intervals: intervals.map { $0.sorted { $0.0 < $1.0 } }, holidays: days)
    }

    static let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// `HH:MM` as minutes of the day (24:00 is 1440).
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...24).contains(hour), (0...59).contains(minute), hour < 24 || minute == 0 else { return nil }
        return hour * 60 + minute
    }

    static func clock(_ minutes: Int) -> String {
        let hour = minutes / 60, minute = minutes % 60
        return (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }

    /// `YYYY-MM-DD` as days since 1970-01-01.
    static func day(_ text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month), (1...31).contains(day) else { return nil }
        let days = Civil.days(year: year, month: month, day: day)
        let back = Civil.date(days: days)
        return back.year == year && back.month == month && back.day == day ? days : nil
    }

    static func dateText(days: Int) -> String {
        let date = Civil.date(days: days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(date.year)-\(two(date.month))-\(two(date.day))"
    }
}

/// A checked calendar that counts business time. Every instant is read as local wall time
/// (seconds since 1970 on the zone's clock) and every answer turned back into an instant.
public struct BusinessClock: Sendable {
    let zone: ZoneInfo
    /// Per weekday, sorted working intervals in minutes of the day.
    let intervals: [[(Int, Int)]]
    let holidays: Set<Int>
    /// How far a count looks before it gives up (a calendar with all its days off).
    static let horizonDays = 3 * 366

    /// The working intervals of a local day (days since 1970), in local seconds.
    private func working(day: Int) -> [(Int, Int)] {
        guard !holidays.contains(day) else { return [] }
        return intervals[Civil.weekday(days: day)].map { (day * 86_400 + $0.0 * 60, day * 86_400 + $0.1 * 60) }
    }

    private func local(_ instant: Date) -> Int {
        let second = unixSeconds(instant)
        return second + zone.offset(atSecond: second)
    }

    private func instant(_ local: Int) -> Date { Date(timeIntervalSince1970: TimeInterval(zone.firstInstant(reaching: local))) }

    /// The instant at which `seconds` of business time have passed since `start` (`start`
    /// itself for 0 within working hours, else the next start of work); `nil` when the
    /// calendar has no working time within three years.
    public func adding(_ seconds: Int, to start: Date) -> Date? {
        var remaining = max(seconds, 0)
        let from = local(start)
        var day = floorDivide(from, 86_400)
        for _ in 0..<Self.horizonDays {
            for (begin, end) in working(day: day) where end > from {
                let counted = max(begin, from)
                if remaining <= end - counted { return instant(counted + remaining) }
                remaining -= end - counted
            }
            day += 1
        }
        return nil
    }

    /// Business seconds between two instants (0 when `end` is not after `start`).
    public func seconds(from start: Date, to end: Date) -> Int {
        let from = local(start), to = local(end)
        guard to > from else { return 0 }
        var total = 0
        for day in floorDivide(from, 86_400)...floorDivide(to, 86_400) {
            for (begin, finish) in working(day: day) {
                total += max(0, min(finish, to) - max(begin, from))
            }
        }
        return total
    }

    /// Whether `instant` is within working hours.
    public func isWorking(_ instant: Date) -> Bool {
        let at = local(instant)
        return working(day: floorDivide(at, 86_400)).contains { $0.0 <= at && at < $0.1 }
    }
}

/// Holidays from an iCalendar file (RFC 5545): every `VEVENT`'s `DTSTART` day (all-day
/// `VALUE=DATE` or a date-time, read as its date), through the day before `DTEND` for a
/// multi-day event, and yearly repetitions (`RRULE:FREQ=YEARLY`) for `years` years.
public enum HolidayFile {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func holidays(_ text: String, years: Int = 10) throws(ParseError) -> [String] {
        // Unfold: a line starting with a space or a tab continues the one before.
        var lines: [(number: Int, text: String)] = []
        // "\r\n" is one Character in Swift: both it and "\n" end a line.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1].text += line.dropFirst()
            } else if !line.isEmpty {
                lines.append((index + 1, line))
            }
        }
        guard lines.first?.text.uppercased() == "BEGIN:VCALENDAR" else { throw ParseError(line: lines.first?.number ?? 1, message: "an iCalendar file starts with BEGIN:VCALENDAR") }
        var days = Set<Int>()
        var event: (line: Int, start: Int?, end: Int?, yearly: Bool)?
        var ended = false
        for (number, line) in lines.dropFirst() {
            guard !ended else { throw ParseError(line: number, message: "text after END:VCALENDAR") }
            guard let colon = line.firstIndex(of: ":") else { throw ParseError(line: number, message: "'\(line.prefix(40))' has no ':' between its name and value") }
            let head = line[..<colon].uppercased(), value = String(line[line.index(after: colon)...])
            let name = head.split(separator: ";").first.map(String.init) ?? ""
            switch name {
            case "BEGIN" where value.uppercased() == "VEVENT":
                guard event == nil else { throw ParseError(line: number, message: "BEGIN:VEVENT inside another VEVENT") }
                event = (number, nil, nil, false)
            case "END" where value.uppercased() == "VEVENT":
                guard let open = event else { throw ParseError(line: number, message: "END:VEVENT without BEGIN:VEVENT") }
                guard let start = open.start else { throw ParseError(line: open.line, message: "this VEVENT has no DTSTART") }
                let last = max(start, (open.end ?? start + 1) - 1)
                guard last - start < 366 else { throw ParseError(line: open.line, message: "an event of more than a year is not a holiday") }
                let date = Civil.date(days: start)
                for year in 0..<(open.yearly ? years : 1) {
                    guard let shifted = BusinessCalendar.day(BusinessCalendar.dateText(days: Civil.days(year: date.year + year, month: date.month, day: date.day))) else { continue }
                    if date.month == 2 && date.day == 29 && Civil.date(days: shifted).day != 29 { continue }
                    for day in shifted...(shifted + last - start) { days.insert(day) }
                }
                event = nil
            case "DTSTART", "DTEND":
                guard event != nil else { continue }
                guard value.count >= 8, let day = BusinessCalendar.day("\(value.prefix(4))-\(value.dropFirst(4).prefix(2))-\(value.dropFirst(6).prefix(2))"),
                      value.count == 8 || value.dropFirst(8).first == "T" else {
                    throw ParseError(line: number, message: "\(name) value '\(value.prefix(40))' is not a date (YYYYMMDD) or date-time")
                }
                if name == "DTSTART" { event?.start = day } else { event?.end = day }
            case "RRULE":
                guard event != nil else { continue }
                let parts = value.uppercased().split(separator: ";")
                guard parts.contains("FREQ=YEARLY") else { throw ParseError(line: number, message: "only yearly repetition (FREQ=YEARLY) is understood for holidays") }
                event?.yearly = true
            case "END" where value.uppercased() == "VCALENDAR":
                guard event == nil else { throw ParseError(line: number, message: "END:VCALENDAR inside a VEVENT") }
                ended = true
            default:
                continue
            }
        }
        guard ended else { throw ParseError(line: (lines.last?.number ?? 0) + 1, message: "the file ends without END:VCALENDAR") }
        return days.sorted().map(BusinessCalendar.dateText(days:))
    }
}

public import FoundationEssentials

/// Why a cron expression or a time zone could not be read: `description` names the field (or
/// the zone) and what is wrong with it.
public struct CronScheduleError: Error, CustomStringConvertible, Equatable {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// A five-field cron schedule (`minute hour day-of-month month day-of-week`) evaluated in a
/// time zone.
///
/// Guarantees: fields accept `*`, lists, ranges, steps (`a/n` runs from `a` to the field's end),
/// month and weekday names in any case, and 0 or 7 for Sunday; `@hourly`, `@daily`, `@midnight`,
/// `@weekly`, `@monthly`, `@yearly` and `@annually` stand for their usual expansions. When both
/// day fields are restricted (neither starts with `*`) a day matches if either matches,
/// otherwise it must match both, as in Vixie cron and cronie.
///
/// Daylight saving time, as cronie handles it: a job whose hour field starts with `*` follows
/// real time, firing at every instant whose local wall time matches, so it fires in both copies
/// of a repeated hour and not at all in skipped wall times. A job that names its hours fires
/// once per matching wall time: at the first occurrence of a repeated time, and at the instant
/// the clock jumps (the first instant after the gap) for a time that does not exist that day.
/// Several skipped times collapse into that one firing.
public struct CronSchedule: Sendable, Equatable {
    private let minutes: ValueSet
    private let hours: ValueSet
    private let daysOfMonth: ValueSet
    private let months: ValueSet
    /// Sunday is 0.
    private let daysOfWeek: ValueSet
    private let hoursAreWildcard: Bool
    private let daysOfMonthAreWildcard: Bool
    private let daysOfWeekAreWildcard: Bool
    public let timeZone: ZoneInfo

    /// How far `next(after:)` looks: every satisfiable schedule, even 29 February, matches within
    /// 8 years.
    private static let horizon = 8 * 366 * 86_400

    private static let macros = [
        "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
    ]

    public init(_ expression: String, timeZone: ZoneInfo = .utc) throws(CronScheduleError) {
        let trimmed = expression.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let expanded: String
        if trimmed.hasPrefix("@") {
            guard let macro = Self.macros[trimmed.lowercased()] else {
                throw CronScheduleError("invalid cron expression \"\(expression)\": unknown macro \(trimmed)")
            }
            expanded = macro
        } else {
            expanded = trimmed
        }
        let fields = expanded.split(separator: " ")
        guard fields.count == 5 else {
            throw CronScheduleError(
                "invalid cron expression \"\(expression)\": expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, found \(fields.count)"
            )
        }
        func parse(_ field: Field) throws(CronScheduleError) -> ValueSet {
            do throws(CronScheduleError) {
                return try field.parse(fields[field.rawValue])
            } catch {
                throw CronScheduleError("invalid cron expression \"\(expression)\": \(field.name) field: \(error.description)")
            }
        }
        minutes = try parse(.minute)
        hours = try parse(.hour)
        daysOfMonth = try parse(.dayOfMonth)
        months = try parse(.month)
        daysOfWeek = try parse(.dayOfWeek)
        hoursAreWildcard = fields[Field.hour.rawValue].hasPrefix("*")
        daysOfMonthAreWildcard = fields[Field.dayOfMonth.rawValue].hasPrefix("*")
        daysOfWeekAreWildcard = fields[Field.dayOfWeek.rawValue].hasPrefix("*")
        self.timeZone = timeZone
    }

    /// The first instant strictly after `instant` at which the schedule fires (at second 0 of a
    /// local minute), or `nil` when there is none within 8 years (`0 0 30 2 *`).
    public func next(after instant: Date) -> Date? {
        let after = unixSeconds(instant)
        let found = hoursAreWildcard ? nextFollowingRealTime(after: after) : nextByWallClock(after: after)
        return found.map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Walks the zone's periods of constant offset; in each, the first matching wall time that
    /// the period reaches is the answer.
    private func nextFollowingRealTime(after: Int) -> Int? {
        let limit = after + Self.horizon
        var start = after + 1
        while start < limit {
            let period = timeZone.period(containing: start)
            let end = min(period.end ?? limit, limit)
            if let local = firstMatch(atOrAfterLocal: start + period.offset, before: end + period.offset) {
                return local - period.offset
            }
            start = end
        }
        return nil
    }

    /// Each matching wall time fires when the local clock first reaches it. That instant grows
    /// with the wall time, so the first one past `after` is the answer; wall times reached
    /// before (during a repeated hour) are skipped.
    private func nextByWallClock(after: Int) -> Int? {
        var from = after + timeZone.offset(atSecond: after) + 1
        let limit = from + Self.horizon
        while let local = firstMatch(atOrAfterLocal: from, before: limit) {
            let instant = timeZone.firstInstant(reaching: local)
            if instant > after { return instant }
            from = local + 60
        }
        return nil
    }

    /// The first matching local minute (in seconds of local time since 1970) at or after `from`
    /// and before `limit`. Skips whole months and days that do not match.
    private func firstMatch(atOrAfterLocal from: Int, before limit: Int) -> Int? {
        let firstMinute = -floorDivide(-from, 60)
        var day = floorDivide(firstMinute, 1440)
        var minuteOfDay = firstMinute - day * 1440
        while day * 86_400 < limit {
            let date = Civil.date(days: day)
            if !months.contains(date.month) {
                day = Civil.days(year: date.month == 12 ? date.year + 1 : date.year, month: date.month % 12 + 1, day: 1)
            } else if dayMatches(date.day, weekday: Civil.weekday(days: day)), let minute = firstTime(atOrAfter: minuteOfDay) {
                let local = day * 86_400 + minute * 60
                return local < limit ? local : nil
            } else {
                day += 1
            }
            minuteOfDay = 0
        }
        return nil
    }

    private func dayMatches(_ dayOfMonth: Int, weekday: Int) -> Bool {
        let byMonth = daysOfMonth.contains(dayOfMonth)
        let byWeek = daysOfWeek.contains(weekday)
        return daysOfMonthAreWildcard || daysOfWeekAreWildcard ? byMonth && byWeek : byMonth || byWeek
    }

    /// The first matching minute of a day at or after `minuteOfDay`.
    private func firstTime(atOrAfter minuteOfDay: Int) -> Int? {
        let hour = minuteOfDay / 60
        if hours.contains(hour), let minute = minutes.first(atOrAfter: minuteOfDay % 60) {
            return hour * 60 + minute
        }
        guard let nextHour = hours.first(atOrAfter: hour + 1), let minute = minutes.first(atOrAfter: 0) else { return nil }
        return nextHour * 60 + minute
    }
}

/// The values a field allows, as bits.
private struct ValueSet: Sendable, Equatable {
    var bits: UInt64 = 0

    func contains(_ value: Int) -> Bool { bits >> value & 1 == 1 }

    func first(atOrAfter value: Int) -> Int? {
        let rest = bits & ~0 << value
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }
}

/// One of the five fields, with its range and names.
private enum Field: Int {
    case minute, hour, dayOfMonth, month, dayOfWeek

    var name: String { ["minute", "hour", "day-of-month", "month", "day-of-week"][rawValue] }

    /// What a number may be; 7 is Sunday too.
    var bounds: ClosedRange<Int> { [0...59, 0...23, 1...31, 1...12, 0...7][rawValue] }

    /// What `*` and an open-ended `a/n` cover.
    var fullRange: ClosedRange<Int> { self == .dayOfWeek ? 0...6 : bounds }

    var names: [String] {
        switch self {
        case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        default: []
        }
    }

    func parse(_ text: Substring) throws(CronScheduleError) -> ValueSet {
        var set = ValueSet()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw CronScheduleError("empty list item in \"\(text)\"") }
            let parts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let range: ClosedRange<Int>
            if parts[0] == "*" {
                range = fullRange
            } else {
                let ends = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                let low = try value(ends[0])
                let high = try ends.count == 2 ? value(ends[1]) : parts.count == 2 ? fullRange.upperBound : low
                guard low <= high else { throw CronScheduleError("range \"\(parts[0])\" runs backwards") }
                range = low...high
            }
            var step = 1
            if parts.count == 2 {
                let maximum = fullRange.count - 1
                guard let parsed = Self.number(parts[1]), (1...maximum).contains(parsed) else {
                    throw CronScheduleError("step \"\(parts[1])\" in \"\(item)\" is not a number from 1 to \(maximum)")
                }
                step = parsed
            }
            for value in stride(from: range.lowerBound, through: range.upperBound, by: step) {
                set.bits |= 1 << (self == .dayOfWeek ? value % 7 : value)
            }
        }
        return set
    }

    private func value(_ text: Substring) throws(CronScheduleError) -> Int {
        if let index = names.firstIndex(of: text.uppercased()) {
            return self == .month ? index + 1 : index
        }
        guard let number = Self.number(text) else {
            throw CronScheduleError("\"\(text)\" is not a number\(names.isEmpty ? "" : " or a name like \(names[1])")")
        }
        guard bounds.contains(number) else {
            throw CronScheduleError("\(number) is out of range \(bounds.lowerBound)-\(bounds.upperBound)")
        }
        return number
    }

    /// Plain decimal digits, no sign.
    private static func number(_ text: Substring) -> Int? {
        text.isEmpty || !text.allSatisfy({ $0.isASCII && $0.isNumber }) ? nil : Int(text)
    }
}

/// A time zone read from a TZif file (RFC 8536, versions 1 to 4), such as the system's
/// `/usr/share/zoneinfo/Europe/Berlin`.
///
/// Guarantees: the 64-bit data of version 2+ files is used (the 32-bit block is skipped), and
/// the footer's POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`) gives the offset after the last
/// transition, so "slim" files that stop early stay right for any year. Identifiers cannot
/// leave the zone directory. Files with leap seconds (`right/…`) are refused.
public struct ZoneInfo: Sendable, Equatable {
    public let identifier: String
    /// Transition instants (seconds since 1970, ascending) and the offset from each on.
    let transitions: [Int]
    private let offsets: [Int]
    /// The offset before the first transition (time type 0).
    private let initialOffset: Int
    /// The footer: the offset after the last transition, or always when there is none.
    private let rule: PosixTZ?

    public static let utc = ZoneInfo(identifier: "UTC", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    private init(identifier: String, transitions: [Int], offsets: [Int], initialOffset: Int, rule: PosixTZ?) {
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// The zone `identifier` read from `root`; "UTC" and "Etc/UTC" need no file.
    public static func named(_ identifier: String, root: String = "/usr/share/zoneinfo") throws(CronScheduleError) -> ZoneInfo {
        if identifier == "UTC" || identifier == "Etc/UTC" { return .utc }
        let allowed = identifier.utf8.allSatisfy { isLetter($0) || isDigit($0) || "_+-/".utf8.contains($0) }
        guard !identifier.isEmpty, allowed, !identifier.hasPrefix("/"), !identifier.contains("..") else {
            throw CronScheduleError("time zone \"\(identifier)\" is not a valid zone name")
        }
        let path = root + "/" + identifier
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CronScheduleError("time zone \"\(identifier)\": cannot read \(path)")
        }
        return try ZoneInfo(tzif: Array(data), identifier: identifier)
    }

    /// Parses the contents of a TZif file.
    init(tzif bytes: [UInt8], identifier: String) throws(CronScheduleError) {
        do throws(CronScheduleError) {
            var reader = ByteReader(bytes: bytes)
            var header = try reader.header()
            var timeSize = 4
            if header.version >= 2 {
                try reader.skip(header.dataSize(timeSize: 4))
                header = try reader.header()
                timeSize = 8
            }
            guard header.leapCount == 0 else { throw CronScheduleError("leap-second time zones are not supported") }
            guard header.typeCount > 0 else { throw CronScheduleError("there are no local time types") }
            var times: [Int] = []
            for _ in 0..<header.timeCount { times.append(try reader.integer(size: timeSize)) }
            var indices: [Int] = []
            for _ in 0..<header.timeCount { indices.append(try reader.integer(size: 1, signed: false)) }
            var typeOffsets: [Int] = []
            for _ in 0..<header.typeCount {
                typeOffsets.append(try reader.integer(size: 4))
                try reader.skip(2)  // isdst and the abbreviation: only the offset matters here
            }
            try reader.skip(header.characterCount + header.standardCount + header.universalCount)
            guard zip(times, times.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw CronScheduleError("the transitions are not in order")
            }
            guard indices.allSatisfy({ $0 < typeOffsets.count }) else {
                throw CronScheduleError("a transition names a missing time type")
            }
            guard typeOffsets.allSatisfy({ (-89_999...93_599).contains($0) }) else {
                throw CronScheduleError("an offset is out of range")
            }
            let footer = header.version >= 2 ? try reader.footer() : ""
            self.init(identifier: identifier, transitions: times, offsets: indices.map { typeOffsets[$0] },
                      initialOffset: typeOffsets[0], rule: footer.isEmpty ? nil : try PosixTZ(footer))
        } catch {
            throw CronScheduleError("time zone \"\(identifier)\": \(error.description)")
        }
    }

    /// A zone given only by a POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0` or `<+03>-3`.
    init(posixTZ: String) throws(CronScheduleError) {
        self.init(identifier: posixTZ, transitions: [], offsets: [], initialOffset: 0, rule: try PosixTZ(posixTZ))
    }

    /// Seconds east of UTC at `instant`.
    public func offset(at instant: Date) -> Int { offset(atSecond: unixSeconds(instant)) }

    func offset(atSecond second: Int) -> Int { period(containing: second).offset }

    /// The offset at `second` and when it next changes (`nil`: never).
    fileprivate func period(containing second: Int) -> (offset: Int, end: Int?) {
        guard let first = transitions.first else { return rule?.period(containing: second) ?? (initialOffset, nil) }
        guard second >= first else { return (initialOffset, first) }
        // The last transition at or before `second`.
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= second { low = middle } else { high = middle - 1 }
        }
        if low + 1 < transitions.count { return (offsets[low], transitions[low + 1]) }
        return rule?.period(containing: second) ?? (offsets[low], nil)
    }

    /// The first instant at which the local clock shows `local` (seconds of wall time since
    /// 1970) or later: the time itself if it exists, its first occurrence if it repeats, the
    /// moment the clock jumps past it if it is skipped.
    func firstInstant(reaching local: Int) -> Int {
        // Two days earlier the clock showed less than `local` (offsets are under two days).
        var start = local - 2 * 86_400
        while true {
            let period = period(containing: start)
            let candidate = max(start, local - period.offset)
            guard let end = period.end, candidate >= end else { return candidate }
            start = end
        }
    }
}

/// The rule of a POSIX TZ string: a standard offset and, optionally, daylight time between two
/// yearly transitions. Offsets are seconds east of UTC (the string itself counts west).
private struct PosixTZ: Sendable, Equatable {
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        let offset: Int
        let start: Transition
        let end: Transition
    }

    /// A yearly transition: a day and a local time of day (-167 to 167 hours).
    struct Transition: Sendable, Equatable {
        enum Day: Sendable, Equatable {
            /// `Jn`: 1...365, never counting 29 February.
            case julian(Int)
            /// `n`: 0...365, counting 29 February.
            case zeroBased(Int)
            /// `Mm.w.d`: weekday `d` (0 is Sunday) of week `w` (5 is the last) of month `m`.
            case monthWeekDay(month: Int, week: Int, weekday: Int)
        }
        let day: Day
        let time: Int

        /// The transition in `year`, in UTC, when the clock showed `offset` before it.
        func instant(in year: Int, offset: Int) -> Int {
            let days: Int
            switch day {
            case .julian(let number):
                let leapDay = Civil.isLeap(year) && number >= 60 ? 1 : 0
                days = Civil.days(year: year, month: 1, day: 1) + number - 1 + leapDay
            case .zeroBased(let number):
                days = Civil.days(year: year, month: 1, day: 1) + number
            case .monthWeekDay(let month, let week, let weekday):
                let first = Civil.days(year: year, month: month, day: 1)
                let nextMonth = Civil.days(year: month == 12 ? year + 1 : year, month: month % 12 + 1, day: 1)
                var candidate = first + (weekday - Civil.weekday(days: first) + 7) % 7 + (week - 1) * 7
                while candidate >= nextMonth { candidate -= 7 }
                days = candidate
            }
            return days * 86_400 + time - offset
        }
    }

    init(_ text: String) throws(CronScheduleError) {
        var scanner = TZScanner(bytes: Array(text.utf8))
        do throws(CronScheduleError) {
            try scanner.name()
            standardOffset = -(try scanner.time(maximumHours: 24))
            if scanner.isAtEnd {
                daylight = nil
                return
            }
            try scanner.name()
            let offset = scanner.peek == UInt8(ascii: ",") ? standardOffset + 3600 : -(try scanner.time(maximumHours: 24))
            guard scanner.take(",") else { throw CronScheduleError("daylight time has no rule") }
            let start = try scanner.transition()
            guard scanner.take(",") else { throw CronScheduleError("daylight time has no end") }
            let end = try scanner.transition()
            guard scanner.isAtEnd else { throw CronScheduleError("unexpected text") }
            daylight = Daylight(offset: offset, start: start, end: end)
        } catch {
            throw CronScheduleError("POSIX TZ string \"\(text)\": \(error.description) at offset \(scanner.position)")
        }
    }

    /// The offset at `second` and when it next changes.
    func period(containing second: Int) -> (offset: Int, end: Int?) {
        guard let daylight else { return (standardOffset, nil) }
        let year = Civil.date(days: floorDivide(second, 86_400)).year
        // Transition times reach a week past the day, so two years either side bracket `second`.
        // At equal instants daylight time sorts last and wins (all-year daylight time).
        let changes = ((year - 2)...(year + 2)).flatMap { year in
            [(at: daylight.start.instant(in: year, offset: standardOffset), offset: daylight.offset, isDaylight: 1),
             (at: daylight.end.instant(in: year, offset: daylight.offset), offset: standardOffset, isDaylight: 0)]
        }.sorted { ($0.at, $0.isDaylight) < ($1.at, $1.isDaylight) }
        var offset = standardOffset
        for change in changes {
            if change.at > second { return (offset, change.at) }
            offset = change.offset
        }
        return (offset, nil)
    }
}

/// Reads the pieces of a POSIX TZ string.
private struct TZScanner {
    let bytes: [UInt8]
    var position = 0

    var isAtEnd: Bool { position == bytes.count }
    var peek: UInt8? { isAtEnd ? nil : bytes[position] }

    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard peek == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    /// A zone abbreviation: three or more letters, or `<…>` with letters, digits, `+` and `-`.
    mutating func name() throws(CronScheduleError) {
        let quoted = take("<")
        let start = position
        while let byte = peek, isLetter(byte) || quoted && (isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")) {
            position += 1
        }
        guard position - start >= 3, !quoted || take(">") else {
            throw CronScheduleError("expected a zone abbreviation")
        }
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    mutating func time(maximumHours: Int) throws(CronScheduleError) -> Int {
        var sign = 1
        if take("-") { sign = -1 } else { _ = take("+") }
        let hours = try number(upTo: maximumHours)
        let minutes = take(":") ? try number(upTo: 59) : 0
        let seconds = take(":") ? try number(upTo: 59) : 0
        return sign * (hours * 3600 + minutes * 60 + seconds)
    }

    /// `Mm.w.d`, `Jn` or `n`, then an optional `/time` (default 02:00).
    mutating func transition() throws(CronScheduleError) -> PosixTZ.Transition {
        let day: PosixTZ.Transition.Day
        if take("M") {
            let month = try number(upTo: 12, from: 1)
            guard take(".") else { throw CronScheduleError("expected \".\" after the month") }
            let week = try number(upTo: 5, from: 1)
            guard take(".") else { throw CronScheduleError("expected \".\" after the week") }
            day = .monthWeekDay(month: month, week: week, weekday: try number(upTo: 6))
        } else if take("J") {
            day = .julian(try number(upTo: 365, from: 1))
        } else {
            day = .zeroBased(try number(upTo: 365))
        }
        let time = take("/") ? try time(maximumHours: 167) : 7200
        return PosixTZ.Transition(day: day, time: time)
    }

    private mutating func number(upTo maximum: Int, from minimum: Int = 0) throws(CronScheduleError) -> Int {
        let start = position
        var value = 0
        while let byte = peek, isDigit(byte), position - start < 3 {
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            position += 1
        }
        guard position > start, (minimum...maximum).contains(value) else {
            throw CronScheduleError("expected a number from \(minimum) to \(maximum)")
        }
        return value
    }
}

/// Reads the big-endian parts of a TZif file.
private struct ByteReader {
    struct Header {
        let version: Int
        let universalCount, standardCount, leapCount, timeCount, typeCount, characterCount: Int

        func dataSize(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + characterCount + leapCount * (timeSize + 4)
                + standardCount + universalCount
        }
    }

    let bytes: [UInt8]
    var position = 0

    mutating func header() throws(CronScheduleError) -> Header {
        guard try take(4).elementsEqual("TZif".utf8) else { throw CronScheduleError("not a TZif file") }
        let versionByte = try integer(size: 1, signed: false)
        try skip(15)
        let version = versionByte == 0 ? 1 : versionByte - Int(UInt8(ascii: "0"))
        guard (1...4).contains(version) else { throw CronScheduleError("unsupported TZif version byte \(versionByte)") }
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(try integer(size: 4, signed: false)) }
        return Header(version: version, universalCount: counts[0], standardCount: counts[1], leapCount: counts[2],
                      timeCount: counts[3], typeCount: counts[4], characterCount: counts[5])
    }

    /// The text between the two newlines after the version 2+ data.
    mutating func footer() throws(CronScheduleError) -> String {
        guard try take(1).first == UInt8(ascii: "\n"),
              let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n"))
        else { throw CronScheduleError("the TZif footer is malformed") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func integer(size: Int, signed: Bool = true) throws(CronScheduleError) -> Int {
        let raw = try take(size).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard signed, size < 8 else { return Int(truncatingIfNeeded: raw) }
        let shift = UInt64(64 - size * 8)
        return Int(Int64(bitPattern: raw << shift) >> Int64(shift))
    }

    mutating func skip(_ count: Int) throws(CronScheduleError) { _ = try take(count) }

    private mutating func take(_ count: Int) throws(CronScheduleError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw CronScheduleError("the TZif file is truncated") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
}

/// Proleptic Gregorian dates as days since 1970-01-01 (Howard Hinnant's algorithms); also the
/// business calendars' day arithmetic.
enum Civil {
    static func days(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (era * 400 + yearOfEra + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 is Sunday; 1970-01-01 was a Thursday.
    static func weekday(days: Int) -> Int { (days % 7 + 11) % 7 }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }
}

private func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
private func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

func floorDivide(_ value: Int, _ divisor: Int) -> Int {
    value >= 0 ? value / divisor : (value - divisor + 1) / divisor
}

/// Whole seconds since 1970, rounded down; absurd dates are clamped to about ±3 million years.
func unixSeconds(_ date: Date) -> Int {
    Int(max(-1e14, min(1e14, date.timeIntervalSince1970.rounded(.down))))
}

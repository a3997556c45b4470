public import FoundationEssentials

/// Times as RFC 3339 (and JSON Schema's `date-time`) writes them: `2026-11-26T09:00:00Z`,
/// with optional fractions, `t`/`z` in either case, any offset up to ±23:59, and a leap second
/// (read as :59) — all of which the document promises query parameters accept.
public enum RFC3339 {
    private static var form: Regex<(Substring, Substring, Substring, Substring, Substring, Substring, Substring, Substring?, Substring?, Substring?, Substring?, Substring?)> {
        /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/
    }

    public static func date(_ text: String) -> Date? {
        // ASCII digits only (`\d` would take any script's), so every group is a number.
        guard let match = text.wholeMatch(of: form),
              let year = Int(match.1), let month = Int(match.2), let day = Int(match.3),
              let hour = Int(match.4), let minute = Int(match.5), let second = Int(match.6) else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour <= 23, minute <= 59, second <= 60 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: min(second, 59))
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == day else { return nil }
        var offset = 0
        if let sign = match.9, let hours = Int(match.10 ?? ""), let minutes = Int(match.11 ?? "") {
            guard hours <= 23, minutes <= 59 else { return nil }
            offset = (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
        }
        let fraction = match.7.flatMap { Double("0" + $0) } ?? 0
        return date.addingTimeInterval(fraction - Double(offset))
    }
}

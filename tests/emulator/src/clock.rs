//! Server time and generated identifiers: timestamps that strictly increase with every write, whatever the wall
//! clock's resolution, and deterministic GUIDs and eTags.
//!
//! Time is counted in ticks of 100 ns, the resolution of the 7 fractional digits the services write
//! (`2024-03-01T10:15:42.0000000Z`). Each stamp is the wall clock or one tick past the previous stamp, whichever is
//! later, so two writes in the same microsecond still get ordered, distinct `updatedDateTime`s.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Ticks of 100 ns per second.
const TICKS_PER_SECOND: i128 = 10_000_000;

/// A clock whose stamps strictly increase.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// The last stamp handed out or observed, in ticks since the Unix epoch.
    last: i64,
}

impl Clock {
    /// The next stamp: now, or one tick past the last stamp if that is later.
    pub(crate) fn next(&mut self) -> i64 {
        let wall = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 100)
            .unwrap_or(i64::MAX - 1);
        self.last = wall.max(self.last.saturating_add(1));
        self.last
    }

    /// Makes later stamps come after `ticks` (a timestamp found in seeded data).
    pub(crate) fn observe(&mut self, ticks: i64) {
        self.last = self.last.max(ticks);
    }
}

/// Formats ticks as UTC with 7 fractional digits: `2024-03-01T10:15:42.0000000Z`.
pub(crate) fn format_ticks(ticks: i64) -> String {
    let nanos = i128::from(ticks) * 100;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fraction = (i128::from(ticks)).rem_euclid(TICKS_PER_SECOND);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{fraction:07}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
    )
}

/// Parses an RFC 3339 timestamp (any number of fractional digits, any offset) into ticks, or `None`.
pub(crate) fn parse_ticks(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(100)).ok()
}

/// Generates the identifiers a server hands out: deterministic for a given sequence of calls.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    /// How many identifiers were generated.
    counter: u64,
    /// Distinguishes generators of one server, so their sequences differ.
    stream: u64,
}

impl Ids {
    /// A generator whose sequence differs from that of the generator of another `stream`.
    pub(crate) fn with_stream(stream: u64) -> Ids {
        Ids { counter: 0, stream }
    }

    /// The next pseudo-random 64 bits (splitmix64 over the counter and stream).
    fn next_bits(&mut self) -> u64 {
        self.counter += 1;
        let mut z = (self.counter ^ (self.stream << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A new version-4-shaped GUID in lower-case hex, e.g. `5b0e6c1d-3f2a-4c1b-9d8e-0123456789ab`.
    pub(crate) fn guid(&mut self) -> String {
        let high = self.next_bits();
        let low = self.next_bits();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0x0FFF,
            0x8000 | ((low >> 48) & 0x3FFF),
            low & 0xFFFF_FFFF_FFFF,
        )
    }

    /// A new quoted opaque eTag shaped like the service's: `"84001c9d-0000-0100-0000-6225a63e0001"`.
    pub(crate) fn etag(&mut self) -> String {
        let bits = self.next_bits();
        format!(
            "\"{:08x}-0000-0100-0000-{:012x}\"",
            bits >> 32,
            self.counter
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_strictly_increase_and_format_with_seven_digits() {
        let mut clock = Clock::default();
        let stamps: Vec<i64> = (0..1000).map(|_| clock.next()).collect();
        assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
        let text = format_ticks(stamps[0]);
        assert_eq!(text.len(), "2024-03-01T10:15:42.0000000Z".len(), "{text}");
        assert_eq!(parse_ticks(&text), Some(stamps[0]));
    }

    #[test]
    fn observed_future_times_push_the_clock() {
        let mut clock = Clock::default();
        let future = parse_ticks("2999-01-01T00:00:00Z").expect("a valid timestamp");
        clock.observe(future);
        assert_eq!(clock.next(), future + 1);
        assert_eq!(format_ticks(future + 1), "2999-01-01T00:00:00.0000001Z");
    }

    #[test]
    fn format_and_parse_round_trip() {
        assert_eq!(
            parse_ticks("2024-03-01T10:15:42.0000000Z")
                .map(format_ticks)
                .as_deref(),
            Some("2024-03-01T10:15:42.0000000Z")
        );
        assert_eq!(
            parse_ticks("2024-03-01T11:15:42.5+01:00")
                .map(format_ticks)
                .as_deref(),
            Some("2024-03-01T10:15:42.5000000Z")
        );
        assert_eq!(parse_ticks("yesterday"), None);
    }

    #[test]
    fn ids_are_distinct_and_shaped() {
        let mut ids = Ids::default();
        let a = ids.guid();
        let b = ids.guid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        let etag = ids.etag();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(etag.len(), 38);
        assert_ne!(Ids::default().guid(), Ids::with_stream(1).guid());
    }
}

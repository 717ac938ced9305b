//! Fault injection: throttling, outages, dropped connections, slow answers and lost create answers.
//!
//! A test sets a [`Faults`] on a running emulator; each counter is consumed one request at a time, in a fixed order
//! (throttle, then unavailable, then drop), before the request is handled. The answers themselves (status, error
//! body, headers) are each service's own wire format.

/// Faults to inject, set with `set_faults` on a running emulator. The default injects nothing.
///
/// Counters count down as requests consume them; `delay_ms` and the `Retry-After` values stay until replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The next N requests are answered 429 (Partner Center: error code `tooManyRequests`) with `Retry-After`.
    pub throttle: u32,
    /// The `Retry-After` value, in whole seconds, of the 429 and 503 answers (0 is allowed: retry at once).
    pub retry_after_secs: u32,
    /// Test-scaled `Retry-After` in milliseconds; when set it replaces `retry_after_secs` and the header is written
    /// as decimal seconds (`0.250`). Real services send whole seconds (or an HTTP date): a client that accepts this
    /// must also accept those.
    pub retry_after_ms: Option<u64>,
    /// After the throttled ones, the next N requests are answered 503 (Partner Center: `serviceNotAvailable`) with
    /// `Retry-After`.
    pub unavailable: u32,
    /// After those, the next N requests get no answer at all: the connection is closed without a byte written, so
    /// the client sees a connection error, not a status.
    pub drop_connection: u32,
    /// Every answer (including injected faults) waits this many milliseconds before it is written.
    pub delay_ms: u64,
    /// The next N successful creates (`POST`) are applied, then the connection is closed without an answer: a
    /// create whose answer was lost.
    pub lose_create_response: u32,
}

/// A fault that replaces the normal handling of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Answer 429 with this `Retry-After` value.
    Throttle {
        /// The `Retry-After` header value.
        retry_after: String,
    },
    /// Answer 503 with this `Retry-After` value.
    Unavailable {
        /// The `Retry-After` header value.
        retry_after: String,
    },
    /// Close the connection without an answer.
    Drop,
}

impl Faults {
    /// Consumes the fault due for the next request, if any.
    pub(crate) fn take(&mut self) -> Option<Injected> {
        if self.throttle > 0 {
            self.throttle -= 1;
            return Some(Injected::Throttle {
                retry_after: self.retry_after(),
            });
        }
        if self.unavailable > 0 {
            self.unavailable -= 1;
            return Some(Injected::Unavailable {
                retry_after: self.retry_after(),
            });
        }
        if self.drop_connection > 0 {
            self.drop_connection -= 1;
            return Some(Injected::Drop);
        }
        None
    }

    /// Consumes one lost create answer: `true` when the create just applied must not be answered.
    pub(crate) fn take_lost_create(&mut self) -> bool {
        if self.lose_create_response > 0 {
            self.lose_create_response -= 1;
            return true;
        }
        false
    }

    /// The `Retry-After` header value.
    fn retry_after(&self) -> String {
        match self.retry_after_ms {
            Some(ms) => format!("{}.{:03}", ms / 1000, ms % 1000),
            None => self.retry_after_secs.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order() {
        let mut faults = Faults {
            throttle: 1,
            unavailable: 1,
            drop_connection: 1,
            retry_after_secs: 2,
            ..Faults::default()
        };
        assert_eq!(
            faults.take(),
            Some(Injected::Throttle {
                retry_after: "2".into()
            })
        );
        assert_eq!(
            faults.take(),
            Some(Injected::Unavailable {
                retry_after: "2".into()
            })
        );
        assert_eq!(faults.take(), Some(Injected::Drop));
        assert_eq!(faults.take(), None);
        assert_eq!(
            faults,
            Faults {
                retry_after_secs: 2,
                ..Faults::default()
            }
        );
    }

    #[test]
    fn retry_after_in_milliseconds() {
        let mut faults = Faults {
            throttle: 1,
            retry_after_ms: Some(250),
            ..Faults::default()
        };
        assert_eq!(
            faults.take(),
            Some(Injected::Throttle {
                retry_after: "0.250".into()
            })
        );
    }

    #[test]
    fn lost_creates_count_down() {
        let mut faults = Faults {
            lose_create_response: 1,
            ..Faults::default()
        };
        assert!(faults.take_lost_create());
        assert!(!faults.take_lost_create());
    }
}
